"""The loans API: loans with their schedules and repayments (``/api/v1/loans/``), the loan
calculator (``GET /api/v1/loan-calculator/``: a repayment
schedule without a loan, for the cadre explaining repayments to a household, by the same
arithmetic as the loans' own schedules, ``loans.schedules``) and the reference rates
(``/api/v1/reference-rates/``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from applications.exports import XLSX, export_format
from common import clock
from common.api import REFUSALS
from common.errors import InvalidInput, NotFound
from common.sheets import sheet_response
from loans.exports import loans_export
from loans.models import FundMovement, Instalment, Loan, ReferenceRate, Repayment, RiskFund
from loans.schedules import DayCount, Method, schedule
from loans.selectors import (
    fund_capacity,
    fund_covered,
    fund_leverage,
    fund_readable,
    loans_visible_to,
    reference_rates,
)
from loans.services.fund import fund_deposit
from loans.services.lending import loan_drawdown
from loans.services.rates import reference_rate_add
from loans.services.servicing import MAX_FILE as MAX_REPAYMENT_FILE
from loans.services.servicing import (
    loan_compensate,
    loan_recover,
    loan_repay,
    loan_write_off,
    repayments_import,
)

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
    """The fund's balance, leverage, covered principal (``fund_covered``) and capacity
    today."""
    balance = fund.balance if fund else Decimal("0.00")
    leverage = fund_leverage(county, clock.today())
    covered = fund_covered(county)
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


# --- loans, their schedules and repayments ------------------------------------------------


class LoanInstalmentSerializer(serializers.ModelSerializer[Instalment]):
    total = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)
    status = serializers.SerializerMethodField()

    class Meta:
        model = Instalment
        fields = [
            "seq",
            "start_date",
            "due_date",
            "days",
            "principal",
            "interest",
            "total",
            "principal_paid",
            "interest_paid",
            "interest_paid_on",
            "paid_on",
            "status",
        ]

    def get_status(self, obj: Instalment) -> str:
        """``paid``, ``overdue`` (due and not paid in full) or ``due`` (not yet)."""
        if obj.paid_on is not None:
            return "paid"
        return "overdue" if obj.due_date < clock.today() else "due"


class LoanSerializer(serializers.ModelSerializer[Loan]):
    bank = serializers.CharField(source="bank.code")
    bank_name = serializers.CharField(source="bank.name")
    head_name = serializers.CharField(source="household.head_name")
    status_display = serializers.CharField(source="get_status_display")

    class Meta:
        model = Loan
        fields = [
            "application",
            "reference",
            "bank",
            "bank_name",
            "household",
            "head_name",
            "area_code",
            "principal",
            "annual_rate",
            "reference_rate",
            "months",
            "method",
            "day_count",
            "drawdown_date",
            "maturity_date",
            "outstanding_principal",
            "days_past_due",
            "status",
            "status_display",
            "covered",
        ]


class LoanDetailSerializer(LoanSerializer):
    schedule = LoanInstalmentSerializer(source="instalments", many=True)

    class Meta(LoanSerializer.Meta):
        fields = [*LoanSerializer.Meta.fields, "schedule"]


class DrawdownSerializer(serializers.Serializer[Any]):
    date = serializers.DateField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)


class RepaymentInputSerializer(serializers.Serializer[Any]):
    date = serializers.DateField()
    principal = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0))
    interest = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0))
    penalty = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal(0), required=False, default=Decimal(0)
    )


class RepaymentSerializer(serializers.ModelSerializer[Repayment]):
    class Meta:
        model = Repayment
        fields = [
            "id",
            "date",
            "principal",
            "interest",
            "penalty",
            "applied_interest",
            "applied_principal",
        ]


class RepaymentImportInputSerializer(serializers.Serializer[Any]):
    file = serializers.FileField()


class RepaymentImportSerializer(serializers.Serializer[Any]):
    rows = serializers.IntegerField()
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    already_imported = serializers.BooleanField()
    sha256 = serializers.CharField()


LOAN_STATUSES = [s.value for s in Loan.Status]


class CompensationInputSerializer(serializers.Serializer[Any]):
    date = serializers.DateField()


class RecoveryInputSerializer(serializers.Serializer[Any]):
    date = serializers.DateField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)


class WriteOffInputSerializer(serializers.Serializer[Any]):
    date = serializers.DateField()
    reason = serializers.CharField(min_length=1, max_length=500)


def _fund_movement_response(movement: FundMovement) -> Response:
    return Response(MovementSerializer(movement).data, status=201)


class LoanFundActions:
    """The risk fund's part in a bad loan: compensation once it is far enough past due, and
    recoveries after it (by the lending bank's officer)."""

    @extend_schema(
        request=CompensationInputSerializer, responses={201: MovementSerializer, **REFUSALS}
    )
    @action(detail=True, methods=["post"])
    def compensation(self, request: Request, pk: str | None = None) -> Response:
        data = CompensationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        movement = loan_compensate(
            actor=request.user, loan_id=int(pk or 0), on=data.validated_data["date"]
        )
        return _fund_movement_response(movement)

    @extend_schema(request=RecoveryInputSerializer, responses={201: MovementSerializer, **REFUSALS})
    @action(detail=True, methods=["post"])
    def recoveries(self, request: Request, pk: str | None = None) -> Response:
        data = RecoveryInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        movement = loan_recover(
            actor=request.user, loan_id=int(pk or 0), amount=v["amount"], on=v["date"]
        )
        return _fund_movement_response(movement)

    @extend_schema(
        request=WriteOffInputSerializer, responses={200: LoanDetailSerializer, **REFUSALS}
    )
    @action(detail=True, methods=["post"], url_path="write-off")
    def write_off(self, request: Request, pk: str | None = None) -> Response:
        """The bank writes off a loan the fund compensated (核销), with the reason."""
        data = WriteOffInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        loan = loan_write_off(
            actor=request.user, loan_id=int(pk or 0), on=v["date"], reason=v["reason"]
        )
        fresh = Loan.objects.select_related("bank", "household").get(pk=loan.pk)
        return Response(LoanDetailSerializer(fresh).data)


class LoanViewSet(
    LoanFundActions, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Loan]
):
    """Loans in the user's scope: the county's officials and inspectors, the village's cadre
    and the township's reviewer read them; a bank officer reads and services their bank's
    loans (the drawdown, repayments, the bank's repayment file)."""

    serializer_class = LoanSerializer
    lookup_value_regex = "[0-9]+"

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return LoanDetailSerializer if self.action == "retrieve" else LoanSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=LOAN_STATUSES),
            OpenApiParameter("bank", str, description="the bank's code"),
            OpenApiParameter("area", str, description="area code prefix"),
            OpenApiParameter("overdue", bool),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Loan]:
        qs = loans_visible_to(self.request.user).select_related("bank", "household")
        if self.action == "retrieve":
            return qs.prefetch_related("instalments")
        params = self.request.query_params
        errors: dict[str, list[str]] = {}
        status = params.get("status", "")
        if status:
            if status not in LOAN_STATUSES:
                errors["status"] = [_("Unknown status.")]
            qs = qs.filter(status=status)
        if params.get("bank"):
            qs = qs.filter(bank__code=params["bank"][:32])
        area = params.get("area", "")
        if area:
            if not area.isdigit() or len(area) > 12:
                errors["area"] = [_("An area code has digits only.")]
            qs = qs.filter(area_code__startswith=area)
        overdue = params.get("overdue", "")
        if overdue:
            if overdue not in ("true", "false"):
                errors["overdue"] = [_("true or false.")]
            qs = qs.filter(days_past_due__gt=0) if overdue == "true" else qs.filter(days_past_due=0)
        if errors:
            raise InvalidInput(errors)
        return qs.order_by("-drawdown_date", "-pk")

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The export's ``?format=xlsx|csv`` is the file's format, not DRF's renderer.
        return super().perform_content_negotiation(request, force=force or self.action == "export")

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["xlsx", "csv"]),
            OpenApiParameter("status", str, enum=LOAN_STATUSES),
            OpenApiParameter("bank", str, description="the bank's code"),
            OpenApiParameter("area", str, description="area code prefix"),
            OpenApiParameter("overdue", bool),
        ],
        responses={(200, XLSX): bytes, (200, "text/csv"): str},
    )
    @action(detail=False, methods=["get"])
    def export(self, request: Request) -> HttpResponseBase:
        """The list's loans (the same filters) as a sheet, one row each; audited."""
        fmt = export_format(request.query_params.get("format"))
        filters = {
            k: str(v)
            for k, v in request.query_params.items()
            if k in ("status", "bank", "area", "overdue")
        }
        out = loans_export(actor=request.user, loans=self.get_queryset(), filters=filters, fmt=fmt)
        return sheet_response(
            out.header,
            out.rows,
            fmt=fmt,
            filename=out.filename,
            title=out.title,
            text_columns=out.text_columns,
            widths=out.widths,
        )

    def get_object(self) -> Loan:
        loan = self.get_queryset().filter(pk=int(self.kwargs["pk"])).first()
        if loan is None:
            raise NotFound(_("No such loan in your area."))
        return loan

    @extend_schema(request=DrawdownSerializer, responses={201: LoanDetailSerializer, **REFUSALS})
    @action(detail=True, methods=["post"])
    def drawdown(self, request: Request, pk: str | None = None) -> Response:
        """The drawdown of a loan application the bank approved (its id), against the
        signed contract: the loan becomes active with its schedule."""
        data = DrawdownSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        loan = loan_drawdown(
            actor=request.user, application_id=int(pk or 0), on=v["date"], amount=v["amount"]
        )
        fresh = Loan.objects.select_related("bank", "household").get(pk=loan.pk)
        return Response(LoanDetailSerializer(fresh).data, status=201)

    @extend_schema(
        request=RepaymentInputSerializer, responses={201: RepaymentSerializer, **REFUSALS}
    )
    @action(detail=True, methods=["post"])
    def repayments(self, request: Request, pk: str | None = None) -> Response:
        """A repayment received by the lending bank, applied penalty first, then overdue
        interest, interest due, then principal."""
        data = RepaymentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        repayment = loan_repay(
            actor=request.user,
            loan_id=int(pk or 0),
            on=v["date"],
            principal=v["principal"],
            interest=v["interest"],
            penalty=v["penalty"],
        )
        return Response(RepaymentSerializer(repayment).data, status=201)

    @extend_schema(
        request={"multipart/form-data": RepaymentImportInputSerializer},
        responses={200: RepaymentImportSerializer, **REFUSALS},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="repayments/import",
        parser_classes=[MultiPartParser],
    )
    def repayments_import(self, request: Request) -> Response:
        """The bank's repayment file (CSV: loan reference, date, principal, interest,
        penalty). Checked whole: any bad row refuses it all, with every problem by row. The
        same file twice is applied once."""
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidInput({"file": [_("Choose a file to upload.")]})
        outcome = repayments_import(
            actor=request.user, data=upload.read(MAX_REPAYMENT_FILE + 1), name=upload.name or ""
        )
        return Response(
            RepaymentImportSerializer(
                {
                    "rows": outcome.rows,
                    "total": outcome.total,
                    "already_imported": outcome.already_imported,
                    "sha256": outcome.file.sha256,
                }
            ).data
        )
