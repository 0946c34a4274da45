"""The loan calculator (``GET /api/v1/loan-calculator/``): a repayment schedule without a
loan, for the cadre explaining repayments to a household. The same arithmetic as the loans'
own schedules (``loans.schedules``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common import clock
from common.api import REFUSALS
from common.errors import InvalidInput
from loans.schedules import DayCount, Method, schedule

MAX_PRINCIPAL = Decimal("1000000.00")
MAX_MONTHS = 360


class CalculatorInputSerializer(serializers.Serializer[Any]):
    principal = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.01"), max_value=MAX_PRINCIPAL
    )
    annual_rate = serializers.DecimalField(
        max_digits=6, decimal_places=4, min_value=Decimal("0"), max_value=Decimal("36")
    )
    months = serializers.IntegerField(min_value=1, max_value=MAX_MONTHS)
    method = serializers.ChoiceField(choices=[m.value for m in Method])
    start = serializers.DateField(required=False)
    day_count = serializers.ChoiceField(
        choices=[d.value for d in DayCount], required=False, default=DayCount.ACT_360.value
    )


class InstalmentSerializer(serializers.Serializer[Any]):
    seq = serializers.IntegerField()
    start = serializers.DateField()
    due_date = serializers.DateField()
    days = serializers.IntegerField()
    principal = serializers.DecimalField(max_digits=12, decimal_places=2)
    interest = serializers.DecimalField(max_digits=12, decimal_places=2)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    balance_after = serializers.DecimalField(max_digits=12, decimal_places=2)


class CalculatorSerializer(serializers.Serializer[Any]):
    principal = serializers.DecimalField(max_digits=12, decimal_places=2)
    total_interest = serializers.DecimalField(max_digits=12, decimal_places=2)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    schedule = InstalmentSerializer(many=True)


def calculate(values: dict[str, Any]) -> dict[str, Any]:
    """The schedule and its totals for validated calculator input."""
    rows = schedule(
        principal=values["principal"],
        annual_rate=values["annual_rate"],
        months=values["months"],
        method=values["method"],
        start=values.get("start") or clock.today(),
        day_count=values.get("day_count") or DayCount.ACT_360,
    )
    interest = sum((r.interest for r in rows), Decimal("0.00"))
    return {
        "principal": values["principal"],
        "total_interest": interest,
        "total": values["principal"] + interest,
        "schedule": rows,
    }


class LoanCalculatorView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[
            OpenApiParameter("principal", Decimal, required=True),
            OpenApiParameter("annual_rate", Decimal, required=True, description="percent"),
            OpenApiParameter("months", int, required=True),
            OpenApiParameter("method", str, required=True, enum=[m.value for m in Method]),
            OpenApiParameter("start", date, description="the drawdown date (today if left out)"),
            OpenApiParameter("day_count", str, enum=[d.value for d in DayCount]),
        ],
        responses={200: CalculatorSerializer, **REFUSALS},
    )
    def get(self, request: Request) -> Response:
        """A repayment schedule without a loan: the same schedule a loan of these terms
        drawn on ``start`` would have."""
        data = CalculatorInputSerializer(data=request.query_params)
        if not data.is_valid():
            raise InvalidInput({k: [str(m) for m in v] for k, v in data.errors.items()})
        return Response(CalculatorSerializer(calculate(dict(data.validated_data))).data)
