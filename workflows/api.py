"""The dashboard's figures as JSON (``workflows.dashboard``): what the home page draws and
its CSV downloads write, read by the same selector."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import REFUSALS
from common.errors import Code, Forbidden
from common.replica import replica_reads
from workflows.dashboard import dashboard_read, has_dashboard


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string", "format": "decimal"}]})
class IntOrDecimal(serializers.Field):  # type: ignore[type-arg]
    """A figure's value: a count, or an amount in yuan as a decimal string."""

    def to_representation(self, value: Any) -> Any:
        return value


class FigureRowSerializer(serializers.Serializer[Any]):
    label = serializers.CharField()  # type: ignore[assignment]
    code = serializers.CharField()
    values = serializers.ListField(
        child=IntOrDecimal(),
        help_text="one per series: a count (a whole number) or an amount (yuan, a string)",
    )
    note = serializers.CharField(required=False)


class FigureSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    title = serializers.CharField()
    row_title = serializers.CharField()
    unit = serializers.CharField()
    series = serializers.ListField(child=serializers.CharField())
    rows = FigureRowSerializer(many=True)


class DashboardSerializer(serializers.Serializer[Any]):
    as_of = serializers.DateTimeField(allow_null=True)
    figures = FigureSerializer(many=True)


class DashboardView(APIView):
    """Where the reader's township or county stands: households by type and status,
    applications by stage per area, the share of households that applied per program, the
    budget's execution, the microloans outstanding and overdue, and (for an inspector) the
    leads by village. Counts are whole numbers, amounts yuan as decimal strings. The counts
    of households and applications are the tallies of ``as_of`` (counted again every
    minute by the timers)."""

    @extend_schema(responses={200: DashboardSerializer, **REFUSALS})
    def get(self, request: Request) -> Response:
        if not has_dashboard(request.user):
            raise Forbidden(
                _("Only township and county officials and inspectors have a dashboard."),
                code=Code.ROLE,
            )
        with replica_reads():
            dashboard = dashboard_read(request.user)
        return Response(
            {
                "as_of": dashboard.as_of,
                "figures": [f.as_dict() for f in dashboard.figures],
            }
        )
