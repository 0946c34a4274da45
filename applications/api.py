"""API for the registry: areas, programs, households (scoped by the selectors)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import FileResponse
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from applications import idnumbers, services
from applications.exports import XLSX, export_format, households_export
from applications.imports import household_import_confirm, household_import_start, importer_prefixes
from applications.models import (
    Area,
    Household,
    HouseholdImport,
    KinDeclaration,
    Person,
    Program,
    ProgramItem,
    ProgramVersion,
)
from applications.registry_sheet import registry_template
from applications.selectors import (
    areas_visible_to,
    households_search,
    households_visible_to,
    kin_declarations_visible_to,
    programs_visible_to,
)
from common import clock
from common.api import REFUSALS
from common.errors import Code
from common.sheets import sheet_response


class AreaSerializer(serializers.ModelSerializer[Area]):
    class Meta:
        model = Area
        fields = ["code", "name", "level", "parent"]


@extend_schema_view(
    list=extend_schema(parameters=[OpenApiParameter("level", str, enum=Area.Level.values)])
)
class AreaViewSet(viewsets.ReadOnlyModelViewSet[Area]):
    serializer_class = AreaSerializer
    lookup_field = "code"
    lookup_value_regex = r"\d{12}"

    def get_queryset(self) -> QuerySet[Area]:
        qs = areas_visible_to(self.request.user).order_by("code")
        level = self.request.query_params.get("level")
        if level:
            qs = qs.filter(level=level)
        return qs


class ProgramItemSerializer(serializers.ModelSerializer[ProgramItem]):
    class Meta:
        model = ProgramItem
        fields = ["code", "name", "unit", "unit_amount", "max_quantity"]


class ProgramVersionSerializer(serializers.ModelSerializer[ProgramVersion]):
    items = ProgramItemSerializer(many=True, read_only=True)

    class Meta:
        model = ProgramVersion
        fields = [
            "id",
            "effective_from",
            "policy_reference",
            "household_cap",
            "posting_days",
            "loan_max_amount",
            "loan_max_months",
            "card_change_hold_days",
            "acceptance_required",
            "acceptance_sample_percent",
            "announcement_days",
            "items",
        ]


class ProgramSerializer(serializers.ModelSerializer[Program]):
    current = serializers.SerializerMethodField()
    items = serializers.SerializerMethodField()

    class Meta:
        model = Program
        fields = ["id", "code", "name", "kind", "area", "budget", "active", "current", "items"]

    def _current(self, obj: Program) -> ProgramVersion | None:

        today = clock.today()
        versions = [v for v in obj.versions.all() if v.effective_from <= today]
        return max(versions, key=lambda v: v.effective_from) if versions else None

    @extend_schema(exclude=False)
    def get_current(self, obj: Program) -> dict[str, Any] | None:
        version = self._current(obj)
        return ProgramVersionSerializer(version).data if version else None

    def get_items(self, obj: Program) -> list[dict[str, Any]]:
        version = self._current(obj)
        if version is None:
            return []
        return list(ProgramItemSerializer(version.items.all(), many=True).data)


class ProgramViewSet(viewsets.ReadOnlyModelViewSet[Program]):
    serializer_class = ProgramSerializer
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[Program]:
        return programs_visible_to(self.request.user).prefetch_related("versions__items")


# The 18-character resident ID number's shape (the check digit is ``_id_number``'s): in the
# schema as its pattern.
ID_NUMBER_PATTERN = r"^\d{17}[\dXx]$"


def _id_number(value: str) -> None:
    try:
        idnumbers.validate_id_number(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(list(exc.messages)) from None


class MemberInputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=50)
    id_number = serializers.RegexField(ID_NUMBER_PATTERN, max_length=18, validators=[_id_number])
    relation = serializers.ChoiceField(choices=Person.Relation.choices)


def _card_holder_field() -> serializers.CharField:
    """The name on the bank card, optional: what it defaults to (the head's name) and what
    will do (the head's, DOMAIN rule 5) are the services' to decide, as for the pages."""
    return serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="the name on the bank card; it must be the head's, and is when left out",
    )


class HouseholdCreateSerializer(serializers.Serializer[Any]):
    area = serializers.CharField(max_length=12)
    head_name = serializers.CharField(max_length=50)
    head_id_number = serializers.RegexField(
        ID_NUMBER_PATTERN, max_length=18, validators=[_id_number]
    )
    bank_card = serializers.CharField(min_length=1, max_length=30)
    bank_card_holder = _card_holder_field()
    phone = serializers.CharField(max_length=20)
    household_type = serializers.ChoiceField(choices=Household.Kind.choices)
    poverty_causes = serializers.ListField(
        child=serializers.ChoiceField(choices=Household.Cause.choices), min_length=1, max_length=11
    )
    members = MemberInputSerializer(many=True, required=False)


class HouseholdUpdateSerializer(serializers.Serializer[Any]):
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "status" in self.initial_data:
            raise serializers.ValidationError(
                {
                    "status": [
                        _(
                            "A household's status changes only through an exit from poverty "
                            "or a return to it, approved by the county."
                        )
                    ]
                }
            )
        return attrs

    phone = serializers.CharField(max_length=20, required=False)
    bank_card = serializers.CharField(max_length=30, required=False)
    bank_card_holder = _card_holder_field()
    household_type = serializers.ChoiceField(choices=Household.Kind.choices, required=False)
    poverty_causes = serializers.ListField(
        child=serializers.ChoiceField(choices=Household.Cause.choices),
        min_length=1,
        max_length=11,
        required=False,
    )


class PersonSerializer(serializers.ModelSerializer[Person]):
    class Meta:
        model = Person
        fields = ["id", "name", "relation", "id_masked"]


class HouseholdSerializer(serializers.ModelSerializer[Household]):
    members = PersonSerializer(many=True, read_only=True)
    phone = serializers.SerializerMethodField()

    class Meta:
        model = Household
        fields = [
            "id",
            "area",
            "head_name",
            "head_id_masked",
            "household_type",
            "poverty_causes",
            "status",
            "bank_card_masked",
            "bank_card_holder",
            "phone",
            "members",
            "created_at",
        ]

    def get_phone(self, obj: Household) -> str:
        return idnumbers.mask_phone(obj.phone)


class HouseholdImportSerializer(serializers.ModelSerializer[HouseholdImport]):
    class Meta:
        model = HouseholdImport
        fields = [
            "id",
            "status",
            "phase",
            "done",
            "total",
            "file_name",
            "sha256",
            "size",
            "dry_run",
            "confirms",
            "rows_read",
            "households_found",
            "persons_found",
            "problem_count",
            "problems",
            "applied",
            "households_created",
            "error",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class HouseholdImportRequestSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(
        help_text="the registry template: .xlsx, or .csv in UTF-8 or GB18030"
    )
    dry_run = serializers.BooleanField(
        default=True, help_text="true (the default): check and report, change nothing"
    )


_LIST_FILTERS = [
    OpenApiParameter("name", str, description="part of the head's name"),
    OpenApiParameter("id_last4", str, description="the head's ID number's last four"),
    OpenApiParameter("status", str, enum=Household.Status.values),
    OpenApiParameter("area", str, description="an area code, or its prefix"),
]


def _import_answer(job: HouseholdImport) -> Response:
    """A finished import is its report (200; 201 when it registered households; 400 with
    the code ``import_invalid`` when a real run was refused for its problems); a queued one
    answers 202 and is followed at ``/api/v1/household-imports/{id}/``."""
    body = dict(HouseholdImportSerializer(job).data)
    if job.status in (HouseholdImport.Status.QUEUED, HouseholdImport.Status.RUNNING):
        return Response(
            body, status=202, headers={"Location": f"/api/v1/household-imports/{job.pk}/"}
        )
    if job.applied:
        return Response(body, status=201)
    if not job.dry_run and (job.problem_count or job.status == HouseholdImport.Status.FAILED):
        body["code"] = Code.IMPORT_INVALID
        body["detail"] = _("Nothing was imported: the file has problems (see the list).")
        return Response(body, status=400)
    return Response(body, status=200)


@extend_schema_view(list=extend_schema(parameters=_LIST_FILTERS))
class HouseholdViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Household],
):
    serializer_class = HouseholdSerializer
    lookup_value_regex = "[0-9]+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Household]:
        return (
            households_search(self.request.user, self.request.query_params)
            .prefetch_related("members")
            .order_by("-id")
        )

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        if self.action == "create":
            return HouseholdCreateSerializer
        if self.action == "partial_update":
            return HouseholdUpdateSerializer
        return HouseholdSerializer

    @extend_schema(request=HouseholdCreateSerializer, responses=HouseholdSerializer)
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = HouseholdCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        household = services.household_create(
            actor=request.user,
            area_code=v["area"],
            head_name=v["head_name"],
            head_id_number=v["head_id_number"],
            bank_card=v["bank_card"],
            bank_card_holder=v.get("bank_card_holder"),
            phone=v["phone"],
            household_type=v["household_type"],
            poverty_causes=v["poverty_causes"],
            members=v.get("members", []),
        )
        return Response(HouseholdSerializer(household).data, status=201)

    @extend_schema(request=HouseholdUpdateSerializer, responses=HouseholdSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # No get_object(): the service answers 404 out of scope and records the attempt.
        data = HouseholdUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        household = services.household_update(
            actor=request.user, household_id=int(kwargs["pk"]), **data.validated_data
        )
        return Response(HouseholdSerializer(household).data)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The export's ``?format=xlsx|csv`` is the file's format, not DRF's renderer.
        return super().perform_content_negotiation(request, force=force or self.action == "export")

    @extend_schema(request=None, responses={(200, XLSX): bytes})
    @action(detail=False, methods=["get"], url_path="import-template")
    def import_template(self, request: Request) -> FileResponse:
        """The registry template to fill in: one row per person, the household's columns
        on its head's row."""
        return FileResponse(
            registry_template(),
            as_attachment=True,
            filename="registry-template.xlsx",
            content_type=XLSX,
        )

    @extend_schema(
        request={"multipart/form-data": HouseholdImportRequestSerializer},
        responses={
            200: HouseholdImportSerializer,
            201: HouseholdImportSerializer,
            202: HouseholdImportSerializer,
            **REFUSALS,
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, FormParser],
    )
    def import_file(self, request: Request) -> Response:
        """Check a registry sheet (``dry_run``, the default) or import it, all or nothing.
        The answer is the report: rows, households and people found, and every problem
        as (row, column, message)."""
        importer_prefixes(request.user)
        data = HouseholdImportRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        job = household_import_start(
            actor=request.user,
            file=upload,
            file_name=upload.name or "",
            dry_run=data.validated_data["dry_run"],
        )
        return _import_answer(job)

    @extend_schema(
        parameters=[
            *_LIST_FILTERS,
            OpenApiParameter("format", str, enum=["xlsx", "csv"]),
            OpenApiParameter(
                "reveal_id_number",
                bool,
                description="full ID, card and phone numbers where you hold reveal_id_number",
            ),
        ],
        responses={(200, XLSX): bytes, (200, "text/csv"): str},
    )
    @action(detail=False, methods=["get"])
    def export(self, request: Request) -> HttpResponseBase:
        """The list's households in the registry template's layout; masked numbers unless
        ``reveal_id_number=true``. Every export is audited."""
        params = request.query_params
        reveal = str(params.get("reveal_id_number", "")).lower() in ("1", "true", "yes")
        out = households_export(
            actor=request.user,
            params=params,
            fmt=export_format(params.get("format")),
            reveal=reveal,
        )
        return sheet_response(
            out.header,
            out.rows,
            fmt=export_format(params.get("format")),
            filename=out.filename,
            title=out.title,
            text_columns=out.text_columns,
            widths=out.widths,
        )


class HouseholdImportViewSet(viewsets.ReadOnlyModelViewSet[HouseholdImport]):
    """The user's registry imports, newest first, with their progress and report."""

    serializer_class = HouseholdImportSerializer
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[HouseholdImport]:
        return HouseholdImport.objects.filter(requested_by_id=self.request.user.pk)

    @extend_schema(
        request=None,
        responses={201: HouseholdImportSerializer, 202: HouseholdImportSerializer, **REFUSALS},
    )
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, pk: str | None = None) -> Response:
        """Apply a dry run that found no problem: its file, checked again, all or nothing."""
        job = household_import_confirm(actor=request.user, import_id=int(pk or 0))
        return _import_answer(job)


class RevealSerializer(serializers.Serializer[Any]):
    id_number = serializers.CharField()


class PersonViewSet(viewsets.GenericViewSet[Person]):
    serializer_class = PersonSerializer
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[Person]:
        return Person.objects.filter(household__in=households_visible_to(self.request.user))

    @extend_schema(request=None, responses=RevealSerializer)
    @action(detail=True, methods=["post"])
    def reveal(self, request: Request, pk: str | None = None) -> Response:
        number = services.person_reveal_id(actor=request.user, person_id=int(pk or 0))
        return Response({"id_number": number})


# --- kin declarations (亲属备案) ---------------------------------------------------------------


class KinDeclarationSerializer(serializers.ModelSerializer[KinDeclaration]):
    official = serializers.CharField(source="official.username", read_only=True)

    class Meta:
        model = KinDeclaration
        fields = [
            "id",
            "official",
            "relation",
            "name",
            "id_masked",
            "created_at",
            "supersedes",
            "correction_reason",
            "superseded_at",
        ]


class KinDeclarationCreateSerializer(serializers.Serializer[Any]):
    relation = serializers.ChoiceField(choices=KinDeclaration.Relation.choices)
    name = serializers.CharField(max_length=50)
    id_number = serializers.RegexField(ID_NUMBER_PATTERN, max_length=18, validators=[_id_number])
    official = serializers.IntegerField(
        min_value=1, required=False, help_text="user id; admins only, default yourself"
    )


class KinCorrectionSerializer(serializers.Serializer[Any]):
    relation = serializers.ChoiceField(choices=KinDeclaration.Relation.choices)
    name = serializers.CharField(max_length=50)
    id_number = serializers.RegexField(ID_NUMBER_PATTERN, max_length=18, validators=[_id_number])
    reason = serializers.CharField(min_length=1, max_length=500)


class KinDeclarationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[KinDeclaration],
):
    """An official's declarations of their own ID number and their relatives' (亲属备案):
    officials read and add their own, inspectors read those of their county. Never edited
    or deleted: a wrong one is corrected by a new one that supersedes it."""

    serializer_class = KinDeclarationSerializer
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[KinDeclaration]:
        return (
            kin_declarations_visible_to(self.request.user)
            .select_related("official")
            .order_by("-created_at", "-id")
        )

    @extend_schema(request=KinDeclarationCreateSerializer, responses=KinDeclarationSerializer)
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = KinDeclarationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        declaration = services.kin_declare(
            actor=request.user,
            official_id=v.get("official", request.user.pk),
            relation=v["relation"],
            name=v["name"],
            id_number=v["id_number"],
        )
        return Response(KinDeclarationSerializer(declaration).data, status=201)

    @extend_schema(
        request=KinCorrectionSerializer, responses={201: KinDeclarationSerializer, **REFUSALS}
    )
    @action(detail=True, methods=["post"])
    def correct(self, request: Request, pk: str) -> Response:
        """Correct a declaration in force by a new one that supersedes it (the wrong one is
        kept, marked superseded); the official's own, with a reason."""
        declaration = self.get_object()
        data = KinCorrectionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        corrected = services.kin_correct(
            actor=request.user, declaration_id=declaration.pk, **data.validated_data
        )
        return Response(KinDeclarationSerializer(corrected).data, status=201)
