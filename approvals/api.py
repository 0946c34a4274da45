"""API for applications, their steps and objections, and the inspectors' audit reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http.response import HttpResponseBase
from django.utils import timezone as django_timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotAuthenticated
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from applications.exports import XLSX, applications_export, export_format
from applications.models import Application, ApplicationItem, Household, LoanRequest, StatusChange
from applications.security import TokenAuthentication, token_issue, token_revoke
from applications.selectors import (
    application_filters_parse,
    applications_filter,
    applications_visible_to,
)
from approvals import hooks, policy
from approvals.models import CardCheck, Objection
from approvals.selectors import (
    applications_recused,
    applications_with_kin_flag,
    audit_visible_to,
)
from approvals.services.access import access_refused
from approvals.services.card_checks import card_check_record
from approvals.services.filing import application_create, application_edit
from approvals.services.objections import objection_raise, objection_resolve
from approvals.services.transitions import (
    MAX_BULK,
    application_transition,
    applications_bulk_transition,
    available_transitions,
    with_open_objections,
)
from audit.models import AuditEntry
from common import clock
from common.api import (
    CODE_CHOICES,
    FIELD_ERRORS,
    PREFER,
    REFUSALS,
    RefusalSerializer,
    prefers_minimal,
)
from common.errors import Code, InvalidInput, NotFound
from common.sheets import sheet_response


class FastRepresentation:
    """Read-side speed-up for a serializer of model instances: each field's own
    ``to_representation`` makes the output (so it is exactly DRF's), but the way to each
    value is worked out once per serializer rather than per field and row (DRF's per-field
    attribute lookup is most of the cost of a 50-row list page). Handles plain and dotted
    sources, primary-key relations, method fields and nested serializers; anything else
    falls back to DRF."""

    def to_representation(self, instance: Any) -> dict[str, Any]:
        plan = self.__dict__.get("_fast_plan")
        if plan is None:
            plan = self.__dict__["_fast_plan"] = self._fast_plan()
        if not plan:
            return super().to_representation(instance)  # type: ignore[misc,no-any-return]
        ret: dict[str, Any] = {}
        for name, get, represent in plan:
            if get is None:
                ret[name] = represent(instance)
                continue
            value = get(instance)
            ret[name] = None if value is None else represent(value)
        return ret

    def _fast_plan(self) -> list[tuple[str, Callable[[Any], Any] | None, Callable[[Any], Any]]]:
        plan: list[tuple[str, Callable[[Any], Any] | None, Callable[[Any], Any]]] = []
        meta = self.Meta.model._meta  # type: ignore[attr-defined]
        for field in self._readable_fields:  # type: ignore[attr-defined]
            name = field.field_name
            if isinstance(field, serializers.SerializerMethodField):
                plan.append((name, None, getattr(self, field.method_name)))
            elif isinstance(field, serializers.PrimaryKeyRelatedField) and field.pk_field is None:
                if len(field.source_attrs) != 1:
                    return []
                plan.append((name, attrgetter(meta.get_field(field.source).attname), _same))
            elif isinstance(field, serializers.Field) and field.source != "*":
                plan.append(
                    (name, attrgetter(".".join(field.source_attrs)), field.to_representation)
                )
            else:
                return []
        return plan


def _same(value: Any) -> Any:
    return value


class ApplicationItemSerializer(FastRepresentation, serializers.ModelSerializer[ApplicationItem]):
    item = serializers.CharField(source="item.code")
    name = serializers.CharField(source="item.name")
    unit = serializers.CharField(source="item.unit")

    class Meta:
        model = ApplicationItem
        fields = ["item", "name", "unit", "quantity", "unit_amount", "amount"]


class LoanRequestSerializer(serializers.ModelSerializer[LoanRequest]):
    bank = serializers.CharField(source="bank.code")
    bank_name = serializers.CharField(source="bank.name")

    class Meta:
        model = LoanRequest
        fields = [
            "bank",
            "bank_name",
            "amount",
            "months",
            "purpose_category",
            "purpose",
            "repayment_method",
            "approved_amount",
            "annual_rate",
            "approved_months",
            "reference_rate",
            "decided_at",
        ]


class StatusChangeSerializer(serializers.ModelSerializer[StatusChange]):
    """An exit's or a return's facts, with a return's deadline."""

    days_left = serializers.SerializerMethodField()
    days_overdue = serializers.SerializerMethodField()

    class Meta:
        model = StatusChange
        fields = [
            "income_per_capita",
            "income_year",
            "visit_date",
            "risk_cause",
            "risk_date",
            "due_on",
            "effective_on",
            "days_left",
            "days_overdue",
        ]

    def get_days_left(self, obj: StatusChange) -> int | None:
        deadline = policy.monitoring_deadline(obj, clock.today())
        return None if deadline is None else deadline.left

    def get_days_overdue(self, obj: StatusChange) -> int | None:
        deadline = policy.monitoring_deadline(obj, clock.today())
        return None if deadline is None else deadline.overdue


class StatusChangeInputSerializer(serializers.Serializer[Any]):
    income_per_capita = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False, help_text=_("Exit: yuan a year.")
    )
    income_year = serializers.IntegerField(required=False, help_text=_("Exit: the income's year."))
    visit_date = serializers.DateField(required=False, help_text=_("Exit: the visit's date."))
    risk_cause = serializers.ChoiceField(
        choices=Household.Cause.choices, required=False, help_text=_("Return: the risk's cause.")
    )
    risk_date = serializers.DateField(required=False, help_text=_("Return: the signal's date."))


def status_change_of(application: Application) -> StatusChange | None:
    try:
        return application.status_change
    except StatusChange.DoesNotExist:
        return None


def loan_request_of(application: Application) -> LoanRequest | None:
    try:
        return application.loan
    except LoanRequest.DoesNotExist:
        return None


class ApplicationSerializer(FastRepresentation, serializers.ModelSerializer[Application]):
    head_name = serializers.CharField(source="household.head_name")
    head_id_masked = serializers.CharField(source="household.head_id_masked")
    program_code = serializers.CharField(source="program.code")
    program_name = serializers.CharField(source="program.name")
    status_display = serializers.SerializerMethodField()
    items = ApplicationItemSerializer(many=True, read_only=True)
    kin_flagged = serializers.BooleanField(read_only=True)
    available_transitions = serializers.SerializerMethodField()
    loan = serializers.SerializerMethodField()
    status_change = serializers.SerializerMethodField()

    class Meta:
        model = Application
        fields = [
            "id",
            "household",
            "head_name",
            "head_id_masked",
            "program",
            "program_code",
            "program_name",
            "program_version",
            "area_code",
            "status",
            "status_display",
            "amount",
            "items",
            "appraisal_date",
            "appraisal_attendees",
            "appraisal_votes_for",
            "appraisal_votes_against",
            "posting_started_at",
            "posting_ends_at",
            "last_reason",
            "created_at",
            "status_changed_at",
            "kin_flagged",
            "available_transitions",
            "loan",
            "status_change",
        ]

    @extend_schema_field(StatusChangeSerializer(allow_null=True))
    def get_status_change(self, obj: Application) -> dict[str, Any] | None:
        change = status_change_of(obj)
        return None if change is None else dict(StatusChangeSerializer(change).data)

    @extend_schema_field(LoanRequestSerializer(allow_null=True))
    def get_loan(self, obj: Application) -> dict[str, Any] | None:
        loan = loan_request_of(obj)
        return None if loan is None else dict(LoanRequestSerializer(loan).data)

    def get_status_display(self, obj: Application) -> str:
        # Not CharField(source="get_status_display"): DRF inspects the signature of a callable
        # source on every row. Each label is translated once per response, not per row.
        labels: dict[str, str] = self.__dict__.setdefault("_status_labels", {})
        label = labels.get(obj.status)
        if label is None:
            label = labels[obj.status] = str(obj.get_status_display())
        return label

    def get_available_transitions(self, obj: Application) -> list[str]:
        request = self.context.get("request")
        user = request.user if request else None
        by_role: dict[tuple[str, str, str], list[str]] = self.__dict__.setdefault("_by_role", {})
        # Whom the user is recused from (declared kin, flags raised), for the whole page at
        # once rather than per row.
        recused: set[int] | None = self.__dict__.get("_recused")
        if recused is None or obj.pk not in self.__dict__.get("_asked", ()):
            page = getattr(self.parent, "instance", None) if self.parent is not None else None
            rows = list(page) if isinstance(page, list | QuerySet) else [obj]
            if obj.pk not in {row.pk for row in rows}:
                rows = [obj]  # not a row of the page it names: asked for itself
            recused = self.__dict__["_recused"] = applications_recused(user, rows)
            self.__dict__["_asked"] = {row.pk for row in rows}
        return available_transitions(obj, user, by_role=by_role, recused=obj.pk in recused)


class ItemInputSerializer(serializers.Serializer[Any]):
    item = serializers.CharField(max_length=40)
    quantity = serializers.IntegerField(min_value=1, max_value=100000)


class LoanInputSerializer(serializers.Serializer[Any]):
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"))
    months = serializers.IntegerField(min_value=1, max_value=600)
    purpose_category = serializers.CharField(max_length=32)
    purpose = serializers.CharField(max_length=200)
    repayment_method = serializers.CharField(max_length=20)
    bank = serializers.CharField(max_length=32, help_text=_("The bank's code."))


class ApplicationCreateSerializer(serializers.Serializer[Any]):
    household = serializers.IntegerField(min_value=1)
    program = serializers.IntegerField(min_value=1)
    items = ItemInputSerializer(  # type: ignore[call-arg]
        many=True,
        allow_empty=True,
        max_length=50,
        required=False,
        help_text=_("A subsidy program's items (at least one)."),
    )
    loan = LoanInputSerializer(
        required=False, help_text=_("What a loan program's application asks instead of items.")
    )
    change = StatusChangeInputSerializer(
        required=False,
        help_text=_("An exit's facts (income, year, visit) or a return's (risk cause and date)."),
    )


class ApplicationEditSerializer(serializers.Serializer[Any]):
    items = ItemInputSerializer(  # type: ignore[call-arg]
        many=True, allow_empty=False, max_length=50, required=False
    )
    appraisal_date = serializers.DateField(required=False)
    appraisal_attendees = serializers.IntegerField(min_value=1, max_value=10000, required=False)
    appraisal_votes_for = serializers.IntegerField(min_value=0, max_value=10000, required=False)
    appraisal_votes_against = serializers.IntegerField(min_value=0, max_value=10000, required=False)
    loan = LoanInputSerializer(required=False)
    change = StatusChangeInputSerializer(required=False)


class TransitionSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    # The terms of the bank's steps on a loan (taken by ``loans.services.lending``).
    approved_amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        required=False,
        help_text=_("bank_approve: the amount the bank grants (at most the amount asked)."),
    )
    annual_rate = serializers.DecimalField(
        max_digits=6,
        decimal_places=4,
        required=False,
        help_text=_("bank_approve: the contract rate, % a year (at most reference + spread)."),
    )
    months = serializers.IntegerField(
        required=False, help_text=_("bank_approve: the term granted, in months.")
    )
    date = serializers.DateField(
        required=False, help_text=_("disburse (a loan): the drawdown date.")
    )
    amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        required=False,
        help_text=_("disburse (a loan): the sum drawn (at most the amount granted)."),
    )


class BulkTransitionSerializer(serializers.Serializer[Any]):
    transition = serializers.CharField(
        max_length=40,
        help_text=_(
            "A step's name, or 'approve' for the approval each application awaits "
            "(the township's or the county's)."
        ),
    )
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=MAX_BULK
    )
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class BulkOutcomeSerializer(serializers.Serializer[Any]):
    application_id = serializers.IntegerField()
    head_name = serializers.CharField()
    done = serializers.BooleanField()
    code = serializers.ChoiceField(choices=CODE_CHOICES, allow_null=True)
    detail = serializers.CharField(source="message", allow_blank=True)


class BulkTransitionResultSerializer(serializers.Serializer[Any]):
    done = serializers.IntegerField()
    refused = serializers.IntegerField()
    results = BulkOutcomeSerializer(many=True)


class CardCheckInputSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(min_length=1, max_length=2000)


class CardCheckSerializer(serializers.ModelSerializer[CardCheck]):
    checked_by = serializers.CharField(source="checked_by.username", read_only=True)

    class Meta:
        model = CardCheck
        fields = ["id", "application", "bank_card_masked", "checked_by", "reason", "checked_at"]


class ObjectionSerializer(serializers.ModelSerializer[Objection]):
    class Meta:
        model = Objection
        fields = [
            "id",
            "application",
            "text",
            "raised_by_name",
            "status",
            "resolution_reason",
            "created_at",
            "resolved_at",
        ]


class ObjectionCreateSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(max_length=2000)
    raised_by_name = serializers.CharField(max_length=50, required=False, allow_blank=True)
    contact = serializers.CharField(max_length=50, required=False, allow_blank=True)


class ObjectionResolveSerializer(serializers.Serializer[Any]):
    upheld = serializers.BooleanField()
    reason = serializers.CharField(min_length=1, max_length=2000)


# The largest id the database holds (PostgreSQL's bigint): a larger number is no id.
MAX_ID = 2**63 - 1


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise DRFValidationError({name: [_("A whole number is expected.")]}) from None
    if not 0 <= value <= MAX_ID:
        raise DRFValidationError({name: [_("This number is out of range.")]})
    return value


def _datetime_param(request: Request, name: str) -> datetime | None:
    """A date and time (with its offset, else in the site's time zone), as UTC: any offset
    Python reads is then one the database takes. An impossible date or a malformed value is
    a field error."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        when = parse_datetime(raw)
        if when is not None:
            aware = when if when.tzinfo else django_timezone.make_aware(when)
            when = aware.astimezone(UTC)
    except (ValueError, OverflowError):
        when = None
    if when is None:
        raise DRFValidationError(
            {name: [_("Give a date and time like 2026-01-31T08:00:00+08:00.")]}
        )
    return when


# The list's documented filters (status, program, household, area): the pages' own
# vocabulary (state, township, village) is not the API's.
API_FILTERS_ONLY: dict[str, list[str]] = {"state": [], "township": [], "village": []}

APPLICATION_FIELDS = [f.name for f in Application._meta.concrete_fields]
HOUSEHOLD_FIELDS = ["household__head_name", "household__head_id_masked", "household__status"]
PROGRAM_FIELDS = ["program__code", "program__name", "program__kind"]
LOAN_FIELDS = [
    *(f"loan__{f.name}" for f in LoanRequest._meta.concrete_fields if f.name != "application"),
    "loan__bank__code",
    "loan__bank__name",
]
STATUS_CHANGE_FIELDS = [
    f"status_change__{f.name}"
    for f in StatusChange._meta.concrete_fields
    if f.name != "application"
]
ITEM_FIELDS = [
    *(f.name for f in ApplicationItem._meta.concrete_fields),
    "item__code",
    "item__name",
    "item__unit",
]


class ApplicationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[Application],
):
    serializer_class = ApplicationSerializer
    lookup_value_regex = "[0-9]+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str),
            OpenApiParameter("program", int),
            OpenApiParameter("household", int),
            OpenApiParameter("area", str, description="area code prefix"),
            OpenApiParameter(
                "ordering",
                str,
                enum=[
                    "created_at",
                    "-created_at",
                    "amount",
                    "-amount",
                    "posting_ends_at",
                    "-posting_ends_at",
                ],
            ),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The export's ``?format=xlsx|csv`` is the file's format, not DRF's renderer.
        return super().perform_content_negotiation(request, force=force or self.action == "export")

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["xlsx", "csv"]),
            OpenApiParameter("status", str),
            OpenApiParameter("program", int),
            OpenApiParameter("household", int),
            OpenApiParameter("area", str, description="area code prefix"),
        ],
        responses={(200, XLSX): bytes, (200, "text/csv"): str},
    )
    @action(detail=False, methods=["get"])
    def export(self, request: Request) -> HttpResponseBase:
        """The list's applications (the same filters) as a sheet, one row each; audited."""
        fmt = export_format(request.query_params.get("format"))
        out = applications_export(actor=request.user, params=request.query_params, fmt=fmt)
        return sheet_response(
            out.header,
            out.rows,
            fmt=fmt,
            filename=out.filename,
            title=out.title,
            text_columns=out.text_columns,
            widths=out.widths,
        )

    def get_queryset(self) -> QuerySet[Application]:
        qs: QuerySet[Application] = with_open_objections(
            applications_visible_to(self.request.user)
            .select_related("household", "program", "loan__bank", "status_change")
            # Of the household and the program only what a row shows or its steps' rules
            # read (the household's status): no cipher texts, JSON or times to convert.
            .only(
                *APPLICATION_FIELDS,
                *HOUSEHOLD_FIELDS,
                *PROGRAM_FIELDS,
                *LOAN_FIELDS,
                *STATUS_CHANGE_FIELDS,
            )
            .prefetch_related(
                Prefetch(
                    "items",
                    queryset=ApplicationItem.objects.select_related("item").only(*ITEM_FIELDS),
                )
            )
        )
        qs = applications_with_kin_flag(qs)
        params = self.request.query_params
        filters, _chosen, errors = application_filters_parse(params, allowed=API_FILTERS_ONLY)
        if errors:
            raise InvalidInput(errors)
        qs = applications_filter(qs, filters)
        ordering = params.get("ordering", "-created_at")
        allowed = {"created_at", "amount", "posting_ends_at", "status_changed_at"}
        if ordering.lstrip("-") not in allowed:
            raise DRFValidationError({"ordering": [_("Unknown ordering.")]})
        tiebreak = "-id" if ordering.startswith("-") else "id"
        return qs.order_by(ordering, tiebreak)

    def get_object(self) -> Application:
        pk = int(self.kwargs["pk"])
        try:
            return self.get_queryset().get(pk=pk)
        except Application.DoesNotExist:
            access_refused(actor=self.request.user, application_id=pk)
            raise NotFound(_("No such application in your area.")) from None

    @extend_schema(
        request=ApplicationCreateSerializer, responses={201: ApplicationSerializer, **REFUSALS}
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ApplicationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        app = application_create(
            actor=request.user,
            household_id=v["household"],
            program_id=v["program"],
            items=v.get("items") or (),
            loan=v.get("loan"),
            change=v.get("change"),
        )
        return Response(self._out(app), status=201)

    @extend_schema(
        request=ApplicationEditSerializer, responses={200: ApplicationSerializer, **REFUSALS}
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        data = ApplicationEditSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        app = application_edit(
            actor=request.user, application_id=int(pk or 0), **data.validated_data
        )
        return Response(self._out(app))

    def _out(self, app: Application) -> dict[str, Any]:
        fresh = self.get_queryset().get(pk=app.pk)
        return dict(ApplicationSerializer(fresh, context={"request": self.request}).data)

    @extend_schema(
        request=TransitionSerializer,
        parameters=[PREFER],
        responses={200: ApplicationSerializer, 204: None, **REFUSALS},
    )
    @action(detail=True, methods=["post"], url_path=r"transitions/(?P<name>[a-z_]+)")
    def transitions(self, request: Request, pk: str | None = None, name: str = "") -> Response:
        data = TransitionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        kind = (
            applications_visible_to(request.user)
            .filter(pk=int(pk or 0))
            .values_list("program__kind", flat=True)
            .first()
            if hooks.step_handled(name)  # else the step's own checks find the application
            else None
        )
        handler = hooks.step_handler(kind, name) if kind is not None else None
        if handler is not None:
            app = handler(request.user, int(pk or 0), data.validated_data)
        else:
            app = application_transition(
                actor=request.user,
                application_id=int(pk or 0),
                name=name,
                reason=data.validated_data.get("reason", ""),
            )
        if prefers_minimal(request):
            return Response(
                status=204, headers={"Preference-Applied": "return=minimal", "Vary": "Prefer"}
            )
        return Response(self._out(app), headers={"Vary": "Prefer"})

    @extend_schema(
        request=BulkTransitionSerializer,
        responses={200: BulkTransitionResultSerializer, 404: RefusalSerializer},
    )
    @action(detail=False, methods=["post"], url_path="bulk-transition")
    def bulk_transition(self, request: Request) -> Response:
        """Take one step on several applications, each on its own (every guard, its own
        transaction and audit entry): the answer gives each application's outcome and, when
        refused, the refusal's code and message. 200 even when some are refused."""
        data = BulkTransitionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcomes = applications_bulk_transition(
            actor=request.user,
            ids=data.validated_data["ids"],
            name=data.validated_data["transition"],
            reason=data.validated_data.get("reason", ""),
        )
        done = sum(1 for o in outcomes if o.done)
        body = {"done": done, "refused": len(outcomes) - done, "results": outcomes}
        return Response(BulkTransitionResultSerializer(body).data)

    @extend_schema(
        request=CardCheckInputSerializer, responses={201: CardCheckSerializer, **REFUSALS}
    )
    @action(detail=True, methods=["post"], url_path="card-check")
    def card_check(self, request: Request, pk: str | None = None) -> Response:
        """Record the check of the bank card a held payment goes to (county approver or
        finance officer; whoever records it does not pay)."""
        data = CardCheckInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        check = card_check_record(
            actor=request.user,
            application_id=int(pk or 0),
            reason=data.validated_data["reason"],
        )
        return Response(CardCheckSerializer(check).data, status=201)

    @extend_schema(methods=["GET"], request=None, responses={200: ObjectionSerializer(many=True)})
    @extend_schema(
        methods=["POST"],
        request=ObjectionCreateSerializer,
        responses={201: ObjectionSerializer, **REFUSALS},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def objections(self, request: Request, pk: str | None = None) -> Response:
        app = self.get_object()
        if request.method == "GET":
            return Response(ObjectionSerializer(app.objections.all(), many=True).data)
        data = ObjectionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        objection = objection_raise(
            actor=request.user, application_id=app.pk, **data.validated_data
        )
        return Response(ObjectionSerializer(objection).data, status=201)


@extend_schema_view(
    list=extend_schema(parameters=[OpenApiParameter("status", str, enum=Objection.Status.values)])
)
class ObjectionViewSet(viewsets.ReadOnlyModelViewSet[Objection]):
    serializer_class = ObjectionSerializer
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[Objection]:
        qs = Objection.objects.filter(application__in=applications_visible_to(self.request.user))
        status = self.request.query_params.get("status")
        if status:
            qs = qs.filter(status=status)
        return qs.order_by("-created_at", "-id")

    @extend_schema(
        request=ObjectionResolveSerializer, responses={200: ObjectionSerializer, **REFUSALS}
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        data = ObjectionResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        objection = objection_resolve(
            actor=request.user, objection_id=int(pk or 0), **data.validated_data
        )
        return Response(ObjectionSerializer(objection).data)


class AuditEntrySerializer(serializers.ModelSerializer[AuditEntry]):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "chain",
            "seq",
            "created_at",
            "actor",
            "actor_name",
            "action",
            "outcome",
            "object_type",
            "object_id",
            "area_code",
            "from_state",
            "to_state",
            "changes",
            "reason",
            "prev_hash",
            "hash",
        ]


class AuditPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class AuditViewSet(viewsets.ReadOnlyModelViewSet[AuditEntry]):
    serializer_class = AuditEntrySerializer
    pagination_class = AuditPagination
    lookup_value_regex = "[0-9]+"

    @extend_schema(
        parameters=[
            OpenApiParameter("application", int),
            OpenApiParameter("actor", str, description="user name"),
            OpenApiParameter("action", str),
            OpenApiParameter("outcome", str),
            OpenApiParameter("since", datetime),
            OpenApiParameter("until", datetime),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[AuditEntry]:
        qs = audit_visible_to(self.request.user)
        params = self.request.query_params
        application = _int_param(self.request, "application")
        if application is not None:
            qs = qs.filter(object_type="application", object_id=str(application))
        if params.get("actor"):
            qs = qs.filter(actor_name=params["actor"])
        if params.get("action"):
            qs = qs.filter(action=params["action"])
        if params.get("outcome"):
            qs = qs.filter(outcome=params["outcome"])
        for name, lookup in (("since", "created_at__gte"), ("until", "created_at__lt")):
            when = _datetime_param(self.request, name)
            if when is not None:
                qs = qs.filter(**{lookup: when})
        return qs


class TokenRequestSerializer(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class TokenSerializer(serializers.Serializer[Any]):
    token = serializers.CharField()
    expiry = serializers.DateTimeField(help_text="When the token stops working.")


class LockedOutSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField(help_text="When to try again, in the user's language.")
    code = serializers.ChoiceField(choices=[Code.LOCKED_OUT.value])


class TokenView(APIView):
    """``POST username, password``: a new token for that user, which expires
    (``FUPIN_TOKEN_HOURS``, 12 by default). ``DELETE`` with the token: revoke it. Signing out
    of the pages and changing the password revoke every token of the user. Failed attempts
    count towards the lockout of the sign-in page too (``applications.security``)."""

    authentication_classes = [TokenAuthentication]
    permission_classes: list[Any] = []

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, 400: FIELD_ERRORS, 429: LockedOutSerializer},
    )
    def post(self, request: Request) -> Response:
        data = TokenRequestSerializer(data=request.data)
        if not data.is_valid():
            raise InvalidInput({k: [str(m) for m in v] for k, v in data.errors.items()})
        token, expiry = token_issue(
            request._request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        return Response({"token": token, "expiry": expiry})

    @extend_schema(request=None, responses={204: None, 401: RefusalSerializer})
    def delete(self, request: Request) -> Response:
        if request.auth is None:
            raise NotAuthenticated(_("Send the token to revoke in the Authorization header."))
        token_revoke(request.auth)
        return Response(status=204)
