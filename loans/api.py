"""The loans API so far: the loan calculator (``GET /api/v1/loan-calculator/``: a repayment
schedule without a loan, for the cadre explaining repayments to a household, by the same
arithmetic as the loans' own schedules, ``loans.schedules``) and the reference rates
(``/api/v1/reference-rates/``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common import clock
from common.api import REFUSALS
from common.errors import InvalidInput, NotFound
from loans.models import FundMovement, ReferenceRate, RiskFund
from loans.schedules import DayCount, Method, schedule
from loans.selectors import fund_capacity, fund_leverage, fund_readable, reference_rates
from loans.services.fund import fund_deposit
from loans.services.rates import reference_rate_add

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


# --- reference rates ---------------------------------------------------------------------------


class ReferenceRateSerializer(serializers.ModelSerializer[ReferenceRate]):
    created_by = serializers.CharField(
        source="created_by.username", allow_null=True, default=None, read_only=True
    )

    class Meta:
        model = ReferenceRate
        fields = ["id", "kind", "effective_from", "rate", "source", "created_by", "created_at"]
        read_only_fields = ["id", "created_by", "created_at"]
        # The (kind, day) rule is the service's, answered with its own code.
        validators: list[Any] = []


class ReferenceRateViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet[ReferenceRate]
):
    """The published reference rates (benchmark and LPR), newest first; ``?kind=`` filters.
    An administrator or a county approver records a new one (audited)."""

    permission_classes = [IsAuthenticated]
    serializer_class = ReferenceRateSerializer

    def get_queryset(self) -> QuerySet[ReferenceRate]:
        kind = self.request.query_params.get("kind", "")
        if kind and kind not in ReferenceRate.Kind.values:
            raise InvalidInput({"kind": [_("Choose a kind of reference rate.")]})
        return reference_rates(kind or None).order_by("-effective_from", "kind")

    @extend_schema(parameters=[OpenApiParameter("kind", str, enum=list(ReferenceRate.Kind.values))])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=ReferenceRateSerializer, responses={201: ReferenceRateSerializer, **REFUSALS}
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ReferenceRateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = reference_rate_add(actor=request.user, **data.validated_data)
        return Response(ReferenceRateSerializer(row).data, status=201)


# --- the county's risk-compensation fund -------------------------------------------------------


class MovementSerializer(serializers.ModelSerializer[FundMovement]):
    created_by = serializers.CharField(
        source="created_by.username", allow_null=True, default=None, read_only=True
    )

    class Meta:
        model = FundMovement
        fields = [
            "id",
            "kind",
            "amount",
            "balance_after",
            "source",
            "document_number",
            "date",
            "created_by",
            "created_at",
        ]


class FundSerializer(serializers.Serializer[Any]):
    county = serializers.CharField()
    balance = serializers.DecimalField(max_digits=14, decimal_places=2)
    leverage = serializers.DecimalField(max_digits=5, decimal_places=2, allow_null=True)
    covered = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        help_text="Outstanding principal of the loans the fund covers.",
    )
    capacity = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        allow_null=True,
        help_text="What banks may still lend: leverage × balance − covered.",
    )
    movements = MovementSerializer(many=True)


class DepositSerializer(serializers.Serializer[Any]):
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    document_number = serializers.CharField(max_length=100)
    date = serializers.DateField()

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # "source" is also the name of a serializer's own attribute: declared here.
        return {**super().get_fields(), "source": serializers.CharField(max_length=200)}


def fund_figures(county: str, fund: RiskFund | None) -> dict[str, Any]:
    """The fund's balance, leverage, covered principal and capacity today (no loan is drawn
    yet: the covered principal is nought until loans come)."""
    balance = fund.balance if fund else Decimal("0.00")
    leverage = fund_leverage(county, clock.today())
    covered = Decimal("0.00")
    return {
        "balance": balance,
        "leverage": leverage,
        "covered": covered,
        "capacity": fund_capacity(balance, leverage, covered),
    }


class RiskFundView(APIView):
    """``GET /api/v1/risk-funds/{county}/``: the county's fund, its balance and its
    movements (newest first), for the county's officials, inspectors and bank officers."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: FundSerializer, **REFUSALS})
    def get(self, request: Request, county: str) -> Response:
        if not fund_readable(request.user, county):
            raise NotFound(_("No such fund in your area."))
        fund = RiskFund.objects.filter(county_id=county).first()
        movements = (
            list(fund.movements.select_related("created_by").order_by("-pk")[:200]) if fund else []
        )
        return Response(
            FundSerializer(
                {
                    "county": county,
                    **fund_figures(county, fund),
                    "movements": movements,
                }
            ).data
        )


class FundDepositView(APIView):
    """``POST /api/v1/risk-funds/{county}/deposits/``: money put into the fund (the county
    approver or finance; a document number; audited)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=DepositSerializer, responses={201: MovementSerializer, **REFUSALS})
    def post(self, request: Request, county: str) -> Response:
        if not fund_readable(request.user, county):
            raise NotFound(_("No such fund in your area."))
        data = DepositSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        movement = fund_deposit(
            actor=request.user,
            county_code=county,
            amount=data.validated_data["amount"],
            source=data.validated_data["source"],
            document_number=data.validated_data["document_number"],
            on=data.validated_data["date"],
        )
        return Response(MovementSerializer(movement).data, status=201)
