"""The cross-checks in the API: departments' lists (``/api/v1/crosscheck/lists/``), scans
(``/api/v1/integrity/scans/``) and leads (``/api/v1/integrity/leads/``). Inspectors only;
every read of leads is on the record."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from approvals.api import _int_param
from common.api import REFUSALS
from common.errors import InvalidInput, NotFound
from crosscheck import selectors, services
from crosscheck.evidence import lead_sentence, rule_label
from crosscheck.models import Lead, ReferenceList, Scan
from crosscheck.rules import RULES_BY_CODE


def _invalid(errors: Any) -> InvalidInput:
    return InvalidInput({k: [str(m) for m in v] for k, v in errors.items()})


class ReferenceListSerializer(serializers.ModelSerializer[ReferenceList]):
    county = serializers.CharField(source="county_code")
    uploaded_by = serializers.CharField(source="uploaded_by.username")
    in_force = serializers.SerializerMethodField()

    class Meta:
        model = ReferenceList
        fields = [
            "id",
            "county",
            "kind",
            "source",
            "as_of",
            "file_name",
            "sha256",
            "uploaded_by",
            "uploaded_at",
            "rows_read",
            "rows_kept",
            "rows_skipped",
            "skipped",
            "in_force",
        ]

    @extend_schema_field(serializers.BooleanField(help_text="Whether later scans use it."))
    def get_in_force(self, obj: ReferenceList) -> bool:
        in_force = self.context.setdefault("in_force", {})
        if obj.county_code not in in_force:
            in_force[obj.county_code] = selectors.lists_in_force_ids([obj.county_code])
        return obj.pk in in_force[obj.county_code]


class ReferenceListUploadSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=ReferenceList.Kind.choices)
    source = serializers.CharField(max_length=200, min_length=1)  # type: ignore[assignment]
    as_of = serializers.DateField()
    file = serializers.FileField(help_text=".xlsx, or .csv in UTF-8 or GB18030")
    county = serializers.RegexField(
        r"^\d{6}$", required=False, help_text="needed when the inspector has several counties"
    )


class ReferenceListViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,  # type: ignore[type-arg]
):
    """Other departments' lists of the inspector's counties, newest first. POST (multipart)
    uploads one: the answer counts the rows read, kept and skipped, with the reasons."""

    serializer_class = ReferenceListSerializer
    lookup_value_regex = r"\d+"
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self) -> Any:
        return selectors.reference_lists_visible_to(self.request.user)

    @extend_schema(
        request={"multipart/form-data": ReferenceListUploadSerializer},
        responses={201: ReferenceListSerializer, **REFUSALS},
    )
    def create(self, request: Request) -> Response:
        selectors.crosscheck_counties(request.user)
        data = ReferenceListUploadSerializer(data=request.data)
        if not data.is_valid():
            raise _invalid(data.errors)
        upload = data.validated_data["file"]
        reference = services.reference_list_upload(
            actor=request.user,
            kind=data.validated_data["kind"],
            source=data.validated_data["source"],
            as_of=data.validated_data["as_of"],
            file=upload,
            file_name=upload.name or "",
            county=data.validated_data.get("county"),
        )
        return Response(ReferenceListSerializer(reference).data, status=201)


class ScanSerializer(serializers.ModelSerializer[Scan]):
    county = serializers.CharField(source="county_code")
    requested_by = serializers.SerializerMethodField()

    class Meta:
        model = Scan
        fields = [
            "id",
            "county",
            "status",
            "total",
            "done",
            "error",
            "requested_by",
            "created_at",
            "finished_at",
            "lists",
            "rules",
            "counts",
            "leads_found",
            "leads_new",
            "duration_ms",
        ]

    def get_requested_by(self, obj: Scan) -> str | None:
        return obj.requested_by.username if obj.requested_by else None


class ScanRequestSerializer(serializers.Serializer[Any]):
    county = serializers.RegexField(r"^\d{6}$", required=False)


class ScanViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,  # type: ignore[type-arg]
):
    """Scans of the inspector's counties, newest first. POST starts one in the background;
    follow its progress (``done`` of ``total`` rules) here."""

    serializer_class = ScanSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> Any:
        return selectors.scans_visible_to(self.request.user)

    @extend_schema(request=ScanRequestSerializer, responses={202: ScanSerializer, **REFUSALS})
    def create(self, request: Request) -> Response:
        data = ScanRequestSerializer(data=request.data)
        if not data.is_valid():
            raise _invalid(data.errors)
        scan = services.scan_request(actor=request.user, county=data.validated_data.get("county"))
        scan.refresh_from_db()  # the immediate backend may have run it already
        return Response(ScanSerializer(scan).data, status=202)


class EvidenceSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(help_text="Why this is a lead, in the user's language.")
    list = serializers.DictField(
        allow_null=True, help_text="The department's list matched: id, kind, source, as_of, sha256."
    )
    facts = serializers.DictField(help_text="The values that matched.")


class LeadSerializer(serializers.ModelSerializer[Lead]):
    rule_label = serializers.SerializerMethodField()
    evidence = serializers.SerializerMethodField()
    first_seen_scan = serializers.IntegerField(source="first_seen_scan_id")
    last_seen_scan = serializers.IntegerField(source="last_seen_scan_id")
    household = serializers.IntegerField(source="household_id", allow_null=True)
    application = serializers.IntegerField(source="application_id", allow_null=True)
    area = serializers.CharField(source="area_code")

    class Meta:
        model = Lead
        fields = [
            "id",
            "rule",
            "rule_label",
            "severity",
            "area",
            "household",
            "application",
            "person_masked",
            "evidence",
            "status",
            "note",
            "first_seen_scan",
            "last_seen_scan",
            "disposed_at",
        ]

    def get_rule_label(self, obj: Lead) -> str:
        return rule_label(obj.rule)

    @extend_schema_field(EvidenceSerializer)
    def get_evidence(self, obj: Lead) -> dict[str, Any]:
        facts = dict(obj.facts)
        listed = facts.pop("list", None)
        return {"text": lead_sentence(obj.rule, obj.facts), "list": listed, "facts": facts}


class DispositionSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=Lead.Status.choices)
    note = serializers.CharField(max_length=2000, min_length=1)


class LeadViewSet(viewsets.GenericViewSet):  # type: ignore[type-arg]
    """Leads of the inspector's counties, newest first, with filters. Reading them is on the
    record; so is a disposition (confirmed, cleared, open again), which needs a note."""

    serializer_class = LeadSerializer
    lookup_value_regex = r"\d+"

    def _filters(self) -> dict[str, Any]:
        params = self.request.query_params
        errors: dict[str, list[str]] = {}
        numbers: dict[str, int | None] = {}
        for name in ("scan", "household"):
            try:
                numbers[name] = _int_param(self.request, name)
            except DRFValidationError as error:
                numbers[name] = None
                errors.update({k: [str(m) for m in v] for k, v in error.detail.items()})  # type: ignore[union-attr]
        filters: dict[str, Any] = {
            **numbers,
            "rule": params.get("rule", ""),
            "status": params.get("status", ""),
            "severity": params.get("severity", ""),
            "area": params.get("area", ""),
        }
        for name, allowed in (
            ("rule", list(RULES_BY_CODE)),
            ("status", Lead.Status.values),
            ("severity", Lead.Severity.values),
        ):
            if filters[name] and filters[name] not in allowed:
                errors[name] = [_("Choose one of: %(values)s.") % {"values": ", ".join(allowed)}]
        if filters["area"] and not (filters["area"].isdigit() and len(filters["area"]) <= 12):
            errors["area"] = [_("An area code is up to 12 digits.")]
        if errors:
            raise InvalidInput(errors)
        return filters

    @extend_schema(
        parameters=[
            OpenApiParameter("scan", int),
            OpenApiParameter("rule", str, enum=list(RULES_BY_CODE)),
            OpenApiParameter("status", str, enum=Lead.Status.values),
            OpenApiParameter("severity", str, enum=Lead.Severity.values),
            OpenApiParameter("area", str, description="an area code or its prefix"),
            OpenApiParameter("household", int),
        ],
        responses={200: LeadSerializer(many=True)},
    )
    def list(self, request: Request) -> Response:
        selectors.crosscheck_counties(request.user)
        filters = self._filters()
        qs = selectors.leads_filtered(request.user, filters=filters).order_by("-pk")
        page = self.paginate_queryset(qs)
        rows = list(page if page is not None else qs)
        services.leads_read_record(actor=request.user, leads=rows, filters=filters, what="list")
        data = LeadSerializer(rows, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    @extend_schema(responses={200: LeadSerializer, **REFUSALS})
    def retrieve(self, request: Request, pk: str) -> Response:
        selectors.crosscheck_counties(request.user)
        return Response(
            LeadSerializer(services.lead_read(actor=request.user, lead_id=int(pk))).data
        )

    @extend_schema(request=DispositionSerializer, responses={200: LeadSerializer, **REFUSALS})
    @action(detail=True, methods=["post"])
    def disposition(self, request: Request, pk: str) -> Response:
        selectors.crosscheck_counties(request.user)
        data = DispositionSerializer(data=request.data)
        if not data.is_valid():
            raise _invalid(data.errors)
        try:
            lead_id = int(pk)
        except ValueError:
            raise NotFound(_("No such lead in your area.")) from None
        lead = services.lead_dispose(
            actor=request.user,
            lead_id=lead_id,
            status=data.validated_data["status"],
            note=data.validated_data["note"],
        )
        return Response(LeadSerializer(lead).data)


router = SimpleRouter()
router.register("crosscheck/lists", ReferenceListViewSet, basename="reference-list")
router.register("integrity/scans", ScanViewSet, basename="integrity-scan")
router.register("integrity/leads", LeadViewSet, basename="lead")

# Included by ``config.urls`` under /api/v1/.
urlpatterns: list[Any] = [*router.urls]
