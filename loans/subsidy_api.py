"""The interest subsidy API (``/api/v1/interest-subsidies/``): the county settles a
settlement day (``settle/``), a second official approves the claims (one by one or a
settlement's at once), the household claims are paid through the loan program's payment
rounds and the bank claims by the county's transfer (``bank-transfers/``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from common.api import REFUSALS
from common.errors import InvalidInput, NotFound
from loans.models import LoanParameters, SubsidyClaim
from loans.selectors import subsidy_claims_visible_to
from loans.services.subsidies import (
    subsidy_bank_transfer,
    subsidy_claim_approve,
    subsidy_claims_approve,
    subsidy_settle,
)

S = SubsidyClaim.Status
P = LoanParameters.Payee


class SubsidyClaimSerializer(serializers.ModelSerializer[SubsidyClaim]):
    loan_reference = serializers.CharField(source="loan.reference", read_only=True)
    bank = serializers.CharField(source="bank.code", read_only=True)
    seq = serializers.IntegerField(source="instalment.seq", read_only=True)
    settled_by = serializers.CharField(source="settled_by.username", read_only=True)
    approved_by = serializers.CharField(
        source="approved_by.username", allow_null=True, default=None, read_only=True
    )
    reason = serializers.ChoiceField(
        choices=[("", ""), *SubsidyClaim.Reason.choices],
        read_only=True,
        help_text="Why the claim is 0 (empty when it is not).",
    )

    class Meta:
        model = SubsidyClaim
        fields = [
            "id",
            "loan",
            "loan_reference",
            "bank",
            "area_code",
            "period_end",
            "payee",
            "seq",
            "start_date",
            "due_date",
            "days",
            "base",
            "rate",
            "share",
            "interest",
            "interest_paid",
            "interest_paid_on",
            "amount",
            "reason",
            "status",
            "settled_by",
            "settled_at",
            "approved_by",
            "approved_at",
            "paid_at",
            "paid_reference",
        ]
        read_only_fields = fields


class SettleInputSerializer(serializers.Serializer[Any]):
    county = serializers.RegexField(r"^\d{12}$", max_length=12)
    period_end = serializers.DateField()


class SettleOutcomeSerializer(serializers.Serializer[Any]):
    county = serializers.CharField()
    period_end = serializers.DateField()
    claims = serializers.IntegerField(help_text="claims made by this run (0: nothing new)")
    eligible = serializers.IntegerField()
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    ineligible = serializers.DictField(child=serializers.IntegerField(), help_text="by reason")
    waiting = serializers.IntegerField(help_text="periods still within their grace days")
    digest = serializers.CharField(help_text="SHA-256 of this run's claims")


class ApproveInputSerializer(serializers.Serializer[Any]):
    county = serializers.RegexField(r"^\d{12}$", max_length=12)
    period_end = serializers.DateField()
    bank = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    payee = serializers.ChoiceField(choices=P.choices, required=False)


class ApproveOutcomeSerializer(serializers.Serializer[Any]):
    approved = serializers.IntegerField()
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    skipped = serializers.DictField(child=serializers.IntegerField(), help_text="by code")


class TransferInputSerializer(serializers.Serializer[Any]):
    county = serializers.RegexField(r"^\d{12}$", max_length=12)
    period_end = serializers.DateField()
    bank = serializers.CharField(max_length=32)
    document_number = serializers.CharField(max_length=100)
    date = serializers.DateField()
    total = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text="the total of the signed 贴息清单",
    )


class TransferOutcomeSerializer(serializers.Serializer[Any]):
    bank = serializers.CharField()
    claims = serializers.IntegerField()
    total = serializers.DecimalField(max_digits=14, decimal_places=2)


def _valid(serializer: serializers.Serializer[Any]) -> dict[str, Any]:
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class SubsidyClaimViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[SubsidyClaim]
):
    """Interest subsidy claims in the user's scope (county officials and inspectors, the
    village's cadre and the township's reviewer; a bank officer their bank's), by
    settlement day, bank, status and payee."""

    serializer_class = SubsidyClaimSerializer
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[SubsidyClaim]:
        qs = subsidy_claims_visible_to(self.request.user).select_related(
            "loan", "bank", "instalment", "settled_by", "approved_by"
        )
        if self.action == "retrieve":
            return qs
        params = self.request.query_params
        errors: dict[str, list[str]] = {}
        period_end = params.get("period_end", "")
        if period_end:
            field = serializers.DateField()
            try:
                qs = qs.filter(period_end=field.to_internal_value(period_end))
            except serializers.ValidationError:
                errors["period_end"] = [_("Give a date as YYYY-MM-DD.")]
        if params.get("bank"):
            qs = qs.filter(bank__code=params["bank"][:32])
        for name, allowed in (("status", S.values), ("payee", P.values)):
            value = params.get(name, "")
            if value and value not in allowed:
                errors[name] = [_("Choose one of: %(values)s.") % {"values": ", ".join(allowed)}]
            elif value:
                qs = qs.filter(**{name: value})
        if errors:
            raise InvalidInput(errors)
        return qs.order_by("-period_end", "loan_id", "due_date")

    @extend_schema(
        parameters=[
            OpenApiParameter("period_end", str, description="settlement day, YYYY-MM-DD"),
            OpenApiParameter("bank", str, description="the bank's code"),
            OpenApiParameter("status", str, enum=list(S.values)),
            OpenApiParameter("payee", str, enum=list(P.values)),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def get_object(self) -> SubsidyClaim:
        claim = self.get_queryset().filter(pk=int(self.kwargs["pk"])).first()
        if claim is None:
            raise NotFound(_("No such claim in your area."))
        return claim

    @extend_schema(
        request=SettleInputSerializer, responses={200: SettleOutcomeSerializer, **REFUSALS}
    )
    @action(detail=False, methods=["post"])
    def settle(self, request: Request) -> Response:
        """Settle a settlement day for a county: a claim for each interest period due by
        then and decided (settling again makes nothing new)."""
        v = _valid(SettleInputSerializer(data=request.data))
        outcome = subsidy_settle(
            actor=request.user, county_code=v["county"], period_end=v["period_end"]
        )
        return Response(SettleOutcomeSerializer(outcome).data)

    @extend_schema(request=None, responses={200: SubsidyClaimSerializer, **REFUSALS})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """Approve a claim (a county official other than whoever settled it)."""
        claim = subsidy_claim_approve(actor=request.user, claim_id=int(pk or 0))
        return Response(SubsidyClaimSerializer(self._fresh(claim.pk)).data)

    @extend_schema(
        operation_id="interest_subsidies_approve_settlement",
        request=ApproveInputSerializer,
        responses={200: ApproveOutcomeSerializer, **REFUSALS},
    )
    @action(detail=False, methods=["post"], url_path="approve")
    def approve_all(self, request: Request) -> Response:
        """Approve every claim of a settlement awaiting approval (of one bank, when given)."""
        v = _valid(ApproveInputSerializer(data=request.data))
        outcome = subsidy_claims_approve(
            actor=request.user,
            county_code=v["county"],
            period_end=v["period_end"],
            bank_code=v["bank"],
            payee=v.get("payee", ""),
        )
        return Response(ApproveOutcomeSerializer(outcome).data)

    @extend_schema(
        request=TransferInputSerializer, responses={200: TransferOutcomeSerializer, **REFUSALS}
    )
    @action(detail=False, methods=["post"], url_path="bank-transfers")
    def bank_transfers(self, request: Request) -> Response:
        """The county paid a bank its approved claims of a settlement (by a finance
        officer, with the transfer's document number)."""
        v = _valid(TransferInputSerializer(data=request.data))
        outcome = subsidy_bank_transfer(
            actor=request.user,
            county_code=v["county"],
            period_end=v["period_end"],
            bank_code=v["bank"],
            document_number=v["document_number"],
            on=v["date"],
            total=v["total"],
        )
        return Response(TransferOutcomeSerializer(outcome).data)

    def _fresh(self, pk: int) -> SubsidyClaim:
        return SubsidyClaim.objects.select_related(
            "loan", "bank", "instalment", "settled_by", "approved_by"
        ).get(pk=pk)
