"""The payment rounds API: draw up, read, approve, cancel, download the bank file, upload the
bank's return file. Writes go through ``payments.services``; reads are scoped."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from applications.exports import XLSX, export_format
from applications.selectors import applications_visible_to, programs_visible_to
from common.api import REFUSALS
from common.errors import InvalidInput, NotFound
from common.sheets import sheet_response
from payments.exports import payments_export
from payments.formats import MAX_RETURN_FILE
from payments.models import Acceptance, AcceptanceSample, PaymentLine, PaymentRound, RoundExclusion
from payments.policy import AcceptanceState
from payments.selectors import (
    acceptance_row_of,
    acceptance_samples_visible_to,
    payment_round_get,
    payment_rounds_visible_to,
    program_budget,
)
from payments.services.acceptance import (
    acceptance_recheck,
    acceptance_record,
    acceptance_rectification_allow,
    acceptance_reject,
    acceptance_sample_draw,
    sample_redraw,
)
from payments.services.bank_files import bank_file_export, bank_return_import
from payments.services.rounds import (
    payment_round_approve,
    payment_round_cancel,
    payment_round_create,
)


class PaymentLineSerializer(serializers.ModelSerializer[PaymentLine]):
    application = serializers.IntegerField(source="application_id")

    class Meta:
        model = PaymentLine
        fields = [
            "reference",
            "application",
            "payee_name",
            "card_masked",
            "amount",
            "status",
            "paid_amount",
            "result_code",
            "failure_reason",
            "bank_txn_id",
            "answered_at",
        ]


class RoundExclusionSerializer(serializers.ModelSerializer[RoundExclusion]):
    application = serializers.IntegerField(source="application_id")

    class Meta:
        model = RoundExclusion
        fields = ["application", "code", "reason"]


class PaymentRoundSerializer(serializers.ModelSerializer[PaymentRound]):
    program = serializers.CharField(source="program.code")
    made_by = serializers.CharField(source="made_by.username")
    approved_by = serializers.CharField(
        source="approved_by.username", allow_null=True, default=None
    )

    class Meta:
        model = PaymentRound
        fields = [
            "id",
            "reference",
            "program",
            "area_code",
            "status",
            "count",
            "total",
            "list_sha256",
            "made_by",
            "approved_by",
            "created_at",
            "approved_at",
            "sent_at",
            "reconciled_at",
        ]


class PaymentRoundDetailSerializer(PaymentRoundSerializer):
    lines = PaymentLineSerializer(many=True)
    exclusions = RoundExclusionSerializer(many=True)

    class Meta(PaymentRoundSerializer.Meta):
        fields = [*PaymentRoundSerializer.Meta.fields, "lines", "exclusions"]


class PaymentRoundCreateSerializer(serializers.Serializer[Any]):
    program = serializers.IntegerField(min_value=1)
    area = serializers.RegexField(r"^\d{12}$")
    applications = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        min_length=1,
        max_length=10_000,
        help_text="Only these applications (ids); without it, every approved one of the area.",
    )


class CancelSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(min_length=1, max_length=2000)


class ReturnUploadSerializer(serializers.Serializer[Any]):
    file = serializers.FileField()


class ReturnOutcomeSerializer(serializers.Serializer[Any]):
    round = PaymentRoundSerializer()
    sha256 = serializers.CharField()
    paid = serializers.IntegerField()
    failed = serializers.IntegerField()
    discrepancies = serializers.IntegerField()
    repeated = serializers.BooleanField()
    detail = serializers.CharField()


class BudgetSerializer(serializers.Serializer[Any]):
    program = serializers.CharField()
    budget = serializers.DecimalField(max_digits=14, decimal_places=2)
    committed = serializers.DecimalField(max_digits=14, decimal_places=2)
    in_rounds = serializers.DecimalField(max_digits=14, decimal_places=2)
    paid = serializers.DecimalField(max_digits=14, decimal_places=2)
    failed = serializers.DecimalField(max_digits=14, decimal_places=2)
    left = serializers.DecimalField(max_digits=14, decimal_places=2)


class PaymentRoundViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[PaymentRound]
):
    permission_classes = [IsAuthenticated]
    lookup_value_regex = "[0-9]+"

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return PaymentRoundDetailSerializer if self.action == "retrieve" else PaymentRoundSerializer

    def get_queryset(self) -> QuerySet[PaymentRound]:
        qs = payment_rounds_visible_to(self.request.user).select_related(
            "program", "made_by", "approved_by"
        )
        if self.action == "retrieve":
            qs = qs.prefetch_related("lines", "exclusions")
        return qs.order_by("-created_at", "-id")

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The bank file's and the export's ``?format=`` is the file's format, not DRF's
        # renderer override: that answer is a file whatever renderer the negotiation picks.
        return super().perform_content_negotiation(
            request, force=force or self.action in ("bank_file", "export")
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["xlsx", "csv"]),
            OpenApiParameter("program", int),
            OpenApiParameter("status", str, enum=PaymentRound.Status.values),
        ],
        responses={(200, XLSX): bytes, (200, "text/csv"): str},
    )
    @action(detail=False, methods=["get"])
    def export(self, request: Request) -> HttpResponseBase:
        """Every payment line of the reader's rounds as a sheet (cards masked); audited."""
        fmt = export_format(request.query_params.get("format"))
        out = payments_export(actor=request.user, params=request.query_params, fmt=fmt)
        return sheet_response(
            out.header,
            out.rows,
            fmt=fmt,
            filename=out.filename,
            title=out.title,
            text_columns=out.text_columns,
            widths=out.widths,
        )

    def _detail(self, round_id: int) -> dict[str, Any]:
        fresh = payment_round_get(self.request.user, round_id)
        if fresh is None:
            raise NotFound(_("No such payment round in your area."))
        return dict(PaymentRoundDetailSerializer(fresh).data)

    @extend_schema(
        parameters=[OpenApiParameter("program", int, required=True)],
        responses={200: BudgetSerializer, **REFUSALS},
    )
    @action(detail=False, methods=["get"])
    def budget(self, request: Request) -> Response:
        """Where a program's money stands: budget, committed, in open rounds, paid, failed,
        left."""
        raw = request.query_params.get("program", "")
        program = (
            programs_visible_to(request.user).filter(pk=int(raw)).first() if raw.isdigit() else None
        )
        if program is None:
            raise NotFound(_("No such program in your area."))
        figures = program_budget(program)
        return Response(BudgetSerializer({"program": program.code, **vars(figures)}).data)

    @extend_schema(
        request=PaymentRoundCreateSerializer,
        responses={201: PaymentRoundDetailSerializer, **REFUSALS},
    )
    def create(self, request: Request) -> Response:
        """Draw up a round from every payable application of the program in the area (a
        county or township code), or from those of ``applications`` only; the others are
        listed as exclusions with their codes."""
        data = PaymentRoundCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        round_ = payment_round_create(
            actor=request.user,
            program_id=data.validated_data["program"],
            area_code=data.validated_data["area"],
            application_ids=data.validated_data.get("applications"),
        )
        return Response(self._detail(round_.pk), status=201)

    @extend_schema(request=None, responses={200: PaymentRoundDetailSerializer, **REFUSALS})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """Approve the round (another finance officer or the county approver); its list is
        frozen and its SHA-256 recorded."""
        round_ = payment_round_approve(actor=request.user, round_id=int(pk or 0))
        return Response(self._detail(round_.pk))

    @extend_schema(
        request=CancelSerializer, responses={200: PaymentRoundDetailSerializer, **REFUSALS}
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        data = CancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        round_ = payment_round_cancel(
            actor=request.user, round_id=int(pk or 0), reason=data.validated_data["reason"]
        )
        return Response(self._detail(round_.pk))

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["txt", "xlsx"])],
        responses={(200, "application/octet-stream"): bytes, **REFUSALS},
    )
    @action(detail=True, methods=["get"], url_path="bank-file")
    def bank_file(self, request: Request, pk: str | None = None) -> HttpResponse:
        """The bank file (full card and ID numbers: every download is audited). The first
        download marks the round sent."""
        out = bank_file_export(
            actor=request.user,
            round_id=int(pk or 0),
            fmt=request.query_params.get("format", "txt"),
        )
        response = HttpResponse(out.data, content_type=out.content_type)
        response["Content-Disposition"] = f'attachment; filename="{out.name}"'
        response["X-Content-SHA256"] = out.sha256
        return response

    @extend_schema(
        request={"multipart/form-data": ReturnUploadSerializer},
        responses={200: ReturnOutcomeSerializer, **REFUSALS},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="bank-return",
        parser_classes=[MultiPartParser, FormParser],
    )
    def bank_return(self, request: Request, pk: str | None = None) -> Response:
        """Apply the bank's return file: checked whole first, applied once."""
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidInput({"file": [_("Choose the bank's return file.")]})
        outcome = bank_return_import(
            actor=request.user, round_id=int(pk or 0), data=upload.read(MAX_RETURN_FILE + 1)
        )
        detail = (
            _("This file was applied to the round before: nothing changed.")
            if outcome.repeated
            else _("Paid %(paid)d, failed %(failed)d, amount differs %(diff)d.")
            % {"paid": outcome.paid, "failed": outcome.failed, "diff": outcome.discrepancies}
        )
        body = {
            "round": outcome.round,
            "sha256": outcome.sha256,
            "paid": outcome.paid,
            "failed": outcome.failed,
            "discrepancies": outcome.discrepancies,
            "repeated": outcome.repeated,
            "detail": detail,
        }
        return Response(ReturnOutcomeSerializer(body).data)


class AcceptanceInputSerializer(serializers.Serializer[Any]):
    result = serializers.ChoiceField(choices=Acceptance.Result.choices)
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class VisitInputSerializer(AcceptanceInputSerializer):
    photos = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        help_text="Photos of the visit (multipart; PDF, JPEG or PNG, at most 10 MB each).",
    )


class AcceptanceSerializer(serializers.Serializer[Any]):
    application = serializers.IntegerField(source="application_id")
    visit = serializers.IntegerField()
    result = serializers.CharField()
    notes = serializers.CharField()
    inspected_by = serializers.CharField(source="inspected_by.username")
    inspected_at = serializers.DateTimeField()
    rectification_allowed_by = serializers.CharField(
        source="rectification_allowed_by.username", allow_null=True, default=None
    )


class RecheckStateSerializer(serializers.Serializer[Any]):
    sample = serializers.IntegerField(source="sample_id")
    result = serializers.CharField()
    notes = serializers.CharField()
    checked_by = serializers.CharField(source="checked_by.username", allow_null=True, default=None)
    checked_at = serializers.DateTimeField(allow_null=True)


class AcceptanceStateSerializer(serializers.Serializer[Any]):
    application = serializers.IntegerField(source="application.pk")
    acceptance_required = serializers.BooleanField(
        source="application.program_version.acceptance_required"
    )
    state = serializers.ChoiceField(choices=[s.value for s in AcceptanceState])
    visits = AcceptanceSerializer(many=True)
    recheck = RecheckStateSerializer(source="sampled", allow_null=True)


class ReasonSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(min_length=1, max_length=2000)


class AcceptanceView(APIView):
    """``/api/v1/applications/{id}/acceptance/``: the application's acceptance (先建后补):
    its visits, its county re-check and the state they make (GET); the township's visit
    (POST; photos go in as attachments of kind ``acceptance_photo``)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: AcceptanceStateSerializer, **REFUSALS})
    def get(self, request: Request, pk: int) -> Response:
        app = (
            applications_visible_to(request.user)
            .select_related("program_version")
            .filter(pk=pk)
            .first()
        )
        if app is None:
            raise NotFound(_("No such application in your area."))
        return Response(AcceptanceStateSerializer(acceptance_row_of(app)).data)

    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        request={
            "application/json": AcceptanceInputSerializer,
            "multipart/form-data": VisitInputSerializer,
        },
        responses={201: AcceptanceSerializer, **REFUSALS},
    )
    def post(self, request: Request, pk: int) -> Response:
        data = AcceptanceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        acceptance = acceptance_record(
            actor=request.user,
            application_id=pk,
            result=data.validated_data["result"],
            notes=data.validated_data.get("notes", ""),
            photos=request.FILES.getlist("photos") if request.FILES else (),
        )
        return Response(AcceptanceSerializer(acceptance).data, status=201)


class RectificationView(APIView):
    """``POST /api/v1/applications/{id}/acceptance/rectification/``: after a failed visit,
    the county approver allows another once the household has rectified the work (整改)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=ReasonSerializer, responses={200: AcceptanceSerializer, **REFUSALS})
    def post(self, request: Request, pk: int) -> Response:
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        visit = acceptance_rectification_allow(
            actor=request.user, application_id=pk, reason=data.validated_data["reason"]
        )
        return Response(AcceptanceSerializer(visit).data)


class AcceptanceRejectView(APIView):
    """``POST /api/v1/applications/{id}/acceptance/reject/``: the county approver rejects
    an approved application whose work failed acceptance (the visit, or the county's
    re-check); the budget it committed is released."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=ReasonSerializer, responses={200: None, **REFUSALS})
    def post(self, request: Request, pk: int) -> Response:
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        app = acceptance_reject(
            actor=request.user, application_id=pk, reason=data.validated_data["reason"]
        )
        return Response({"application": app.pk, "status": app.status})


class SampleCreateSerializer(serializers.Serializer[Any]):
    program = serializers.IntegerField(min_value=1)
    area = serializers.RegexField(r"^\d{12}$")


class SampleItemSerializer(serializers.Serializer[Any]):
    application = serializers.IntegerField(source="application_id")
    result = serializers.CharField()
    notes = serializers.CharField()
    checked_by = serializers.CharField(source="checked_by.username", allow_null=True, default=None)
    checked_at = serializers.DateTimeField(allow_null=True)


class SampleSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    program = serializers.CharField(source="program.code")
    area_code = serializers.CharField()
    seed = serializers.CharField()
    percent = serializers.IntegerField()
    population = serializers.ListField(child=serializers.IntegerField())
    chosen = serializers.SerializerMethodField()
    redraw_matches = serializers.SerializerMethodField(
        help_text="Drawing again from the recorded seed and population gives the same sample."
    )
    drawn_by = serializers.CharField(source="drawn_by.username")
    drawn_at = serializers.DateTimeField()

    def get_chosen(self, obj: AcceptanceSample) -> list[int]:
        return sorted(item.application_id for item in obj.items.all())

    def get_redraw_matches(self, obj: AcceptanceSample) -> bool:
        return sample_redraw(
            seed=obj.seed, population=obj.population, percent=obj.percent
        ) == self.get_chosen(obj)


class SampleDetailSerializer(SampleSerializer):
    items = SampleItemSerializer(many=True, source="items.all")


class RecheckSerializer(AcceptanceInputSerializer):
    application = serializers.IntegerField(min_value=1)


class AcceptanceSampleViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[AcceptanceSample]
):
    """The county's re-check samples in the user's area: list, detail (with whether the
    recorded seed draws the same sample again), draw one, record a re-check."""

    permission_classes = [IsAuthenticated]
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[AcceptanceSample]:
        return (
            acceptance_samples_visible_to(self.request.user)
            .select_related("program", "drawn_by")
            .prefetch_related("items__checked_by")
            .order_by("-drawn_at", "-pk")
        )

    def get_serializer_class(self) -> type[serializers.Serializer[Any]]:
        return SampleDetailSerializer if self.action == "retrieve" else SampleSerializer

    @extend_schema(
        request=SampleCreateSerializer, responses={201: SampleDetailSerializer, **REFUSALS}
    )
    def create(self, request: Request) -> Response:
        """Draw ``ceil(p% × accepted and not yet sampled)`` at random; the seed is recorded
        so that anyone may draw the same sample again."""
        data = SampleCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sample = acceptance_sample_draw(
            actor=request.user,
            program_id=data.validated_data["program"],
            area_code=data.validated_data["area"],
        )
        return Response(SampleDetailSerializer(sample).data, status=201)

    @extend_schema(request=RecheckSerializer, responses={200: SampleItemSerializer, **REFUSALS})
    @action(detail=False, methods=["post"])
    def recheck(self, request: Request) -> Response:
        """Record the county's re-check of a sampled application (once)."""
        data = RecheckSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = acceptance_recheck(
            actor=request.user,
            application_id=data.validated_data["application"],
            result=data.validated_data["result"],
            notes=data.validated_data.get("notes", ""),
        )
        return Response(SampleItemSerializer(item).data)
