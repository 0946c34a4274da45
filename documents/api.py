"""API for issued documents (issue, list, download, verify), document batches and the
attachments of an application. Thin: writes go through ``documents.services`` and
``approvals.services``, reads through the selectors, scope included."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.throttling import AnonRateThrottle

from applications.selectors import applications_visible_to
from approvals.api import MAX_ID
from approvals.models import Attachment
from approvals.selectors import attachments_visible_to
from approvals.services.attachments import attachment_add
from common.api import REFUSALS
from common.errors import InvalidInput, NotFound
from documents import selectors
from documents.models import DocumentBatch, StoredDocument
from documents.services.batches import document_batch_request
from documents.services.issuing import document_issue
from loans.models import LoanParameters

MAX_VERIFY_UPLOAD = 20 * 1024 * 1024


# --- attachments ---------------------------------------------------------------------------


class AttachmentSerializer(serializers.ModelSerializer[Attachment]):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    uploaded_by = serializers.CharField(source="uploaded_by.username", read_only=True)

    class Meta:
        model = Attachment
        fields = [
            "id",
            "application",
            "kind",
            "kind_display",
            "original_name",
            "content_type",
            "size",
            "sha256",
            "uploaded_by",
            "uploaded_at",
        ]


class AttachmentUploadSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=Attachment.Kind.choices)
    file = serializers.FileField(allow_empty_file=True)


class AttachmentViewSet(viewsets.GenericViewSet[Attachment]):
    """``/api/v1/applications/{id}/attachments/``: the files on an application's record
    (GET), and uploading one (POST, multipart: ``kind``, ``file``)."""

    serializer_class = AttachmentSerializer
    parser_classes = [MultiPartParser, FormParser]
    pagination_class = None

    def _check_application(self) -> None:
        application_id = int(self.kwargs["application_id"])
        if not applications_visible_to(self.request.user).filter(pk=application_id).exists():
            raise NotFound(_("No such application in your area."))

    def get_queryset(self) -> Any:
        return (
            attachments_visible_to(self.request.user)
            .filter(application_id=int(self.kwargs.get("application_id", 0)))
            .select_related("uploaded_by")
        )

    def list(self, request: Request, application_id: int) -> Response:
        self._check_application()
        return Response(AttachmentSerializer(self.get_queryset(), many=True).data)

    @extend_schema(
        request=AttachmentUploadSerializer, responses={201: AttachmentSerializer, **REFUSALS}
    )
    def create(self, request: Request, application_id: int) -> Response:
        data = AttachmentUploadSerializer(data=request.data)
        if not data.is_valid():
            raise InvalidInput({k: [str(m) for m in v] for k, v in data.errors.items()})
        attachment = attachment_add(
            actor=request.user,
            application_id=int(application_id),
            kind=data.validated_data["kind"],
            file=data.validated_data["file"],
        )
        return Response(AttachmentSerializer(attachment).data, status=201)


# --- documents -----------------------------------------------------------------------------


class DocumentSerializer(serializers.ModelSerializer[StoredDocument]):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = StoredDocument
        fields = [
            "id",
            "kind",
            "kind_display",
            "title",
            "application",
            "household",
            "area_code",
            "sha256",
            "verification_code",
            "size",
            "created_at",
            "download_url",
        ]

    def get_download_url(self, obj: StoredDocument) -> str:
        return f"/api/v1/documents/{obj.pk}/download/"


class DocumentIssueSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=StoredDocument.Kind.choices)
    application = serializers.IntegerField(min_value=1, required=False)
    household = serializers.IntegerField(min_value=1, required=False)
    village = serializers.RegexField(r"^\d{12}$", required=False)
    round = serializers.IntegerField(
        min_value=1, required=False, help_text="The payment round of a payment list."
    )
    loan = serializers.IntegerField(min_value=1, required=False, help_text="A loan card's loan.")
    county = serializers.RegexField(
        r"^\d{12}$", required=False, help_text="An interest subsidy list's county."
    )
    bank = serializers.CharField(
        max_length=32, required=False, help_text="An interest subsidy list's bank (its code)."
    )
    period_end = serializers.DateField(
        required=False, help_text="An interest subsidy list's settlement day."
    )
    payee = serializers.ChoiceField(
        choices=LoanParameters.Payee.choices,
        required=False,
        default="bank",
        help_text="An interest subsidy list's payee.",
    )


class VerifySerializer(serializers.Serializer[Any]):
    """Give the code printed on the paper, the PDF, or both: at least one of them."""

    code = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        help_text="The verification code on the paper (give it, the file, or both).",
    )
    file = serializers.FileField(
        required=False,
        allow_empty_file=True,
        help_text="The PDF to compare with the issued one (give it, the code, or both).",
    )


class VerificationSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(
        choices=["genuine", "issued", "altered", "other", "not_pdf", "unknown"]
    )
    kind = serializers.CharField(allow_blank=True)
    title = serializers.CharField(allow_blank=True)
    verification_code = serializers.CharField(allow_blank=True)
    sha256 = serializers.CharField(allow_blank=True)
    issued_at = serializers.DateTimeField(allow_null=True)
    uploaded_sha256 = serializers.CharField(allow_blank=True)


def _invalid(errors: Any) -> InvalidInput:
    return InvalidInput({k: [str(m) for m in v] for k, v in errors.items()})


class VerifyThrottle(AnonRateThrottle):
    rate = "120/hour"


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=StoredDocument.Kind.values),
            OpenApiParameter("application", int, description="the application's number"),
        ]
    )
)
class DocumentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):  # type: ignore[type-arg]
    """Issued documents the user may see; issue one (POST); download its PDF; verify a code
    or a PDF (public, like the verification page)."""

    serializer_class = DocumentSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> Any:
        qs = selectors.documents_visible_to(self.request.user)
        kind = self.request.query_params.get("kind")
        if kind:
            qs = qs.filter(kind=kind)
        application = self.request.query_params.get("application")
        if application:
            if not application.isdigit() or int(application) > MAX_ID:
                raise InvalidInput({"application": [_("Give the application's number.")]})
            qs = qs.filter(application_id=int(application))
        return qs.order_by("-created_at", "-id")

    @extend_schema(request=DocumentIssueSerializer, responses={201: DocumentSerializer, **REFUSALS})
    def create(self, request: Request) -> Response:
        data = DocumentIssueSerializer(data=request.data)
        if not data.is_valid():
            raise _invalid(data.errors)
        values = data.validated_data
        document = document_issue(
            actor=request.user,
            kind=values["kind"],
            application_id=values.get("application"),
            household_id=values.get("household"),
            village_code=values.get("village", ""),
            round_id=values.get("round"),
            loan_id=values.get("loan"),
            county_code=values.get("county", ""),
            bank_code=values.get("bank", ""),
            period_end=values.get("period_end"),
            payee=values.get("payee", "bank"),
        )
        return Response(DocumentSerializer(document).data, status=201)

    @extend_schema(responses={(200, "application/pdf"): bytes})
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str) -> FileResponse:
        document = self.get_object()
        response = FileResponse(
            document.file.open("rb"),
            content_type="application/pdf",
            as_attachment=True,
            filename=f"{document.title}-{document.verification_code}.pdf",
        )
        response["Cache-Control"] = "private, no-store"
        return response

    @extend_schema(request=VerifySerializer, responses=VerificationSerializer)
    @action(
        detail=False,
        methods=["get", "post"],
        permission_classes=[AllowAny],
        throttle_classes=[VerifyThrottle],
        parser_classes=[MultiPartParser, FormParser],
    )
    def verify(self, request: Request) -> Response:
        source = request.data if request.method == "POST" else request.query_params
        data = VerifySerializer(data=source)
        if not data.is_valid():
            raise _invalid(data.errors)
        code = data.validated_data.get("code", "")
        upload = data.validated_data.get("file")
        if not code and upload is None:
            raise InvalidInput({"code": [_("Give a verification code or a PDF file.")]})
        if upload is not None and upload.size is not None and upload.size > MAX_VERIFY_UPLOAD:
            raise InvalidInput({"file": [_("The file is too large: at most 20 MB.")]})
        result = selectors.document_verify(
            code=code, data=upload.read() if upload is not None else None
        )
        document = result.document
        # Through the serializer, so that the time is given as everywhere else in the API
        # (in the server's time zone, like the documents' ``created_at``).
        return Response(
            VerificationSerializer(
                {
                    "status": result.status,
                    "kind": document.kind if document else "",
                    "title": document.title if document else "",
                    "verification_code": document.verification_code if document else "",
                    "sha256": document.sha256 if document else "",
                    "issued_at": document.created_at if document else None,
                    "uploaded_sha256": result.uploaded_sha256,
                }
            ).data
        )


# --- batches -------------------------------------------------------------------------------


class BatchSerializer(serializers.ModelSerializer[DocumentBatch]):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    percent = serializers.IntegerField(read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = DocumentBatch
        fields = [
            "id",
            "kind",
            "kind_display",
            "township_code",
            "status",
            "status_display",
            "total",
            "done",
            "percent",
            "error",
            "requested_by",
            "created_at",
            "finished_at",
            "heartbeat_at",
            "attempts",
            "download_url",
        ]

    def get_download_url(self, obj: DocumentBatch) -> str | None:
        if obj.status != DocumentBatch.Status.DONE or not obj.zip_file:
            return None
        return f"/api/v1/documents/batches/{obj.pk}/download/"


class BatchRequestSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=DocumentBatch.Kind.choices)
    township = serializers.RegexField(r"^\d{12}$")


class BatchViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):  # type: ignore[type-arg]
    """Township batches: request one (POST: kind, township), follow its progress, download
    its ZIP when done."""

    serializer_class = BatchSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> Any:
        return selectors.document_batches_visible_to(self.request.user)

    @extend_schema(request=BatchRequestSerializer, responses={202: BatchSerializer, **REFUSALS})
    def create(self, request: Request) -> Response:
        data = BatchRequestSerializer(data=request.data)
        if not data.is_valid():
            raise _invalid(data.errors)
        batch = document_batch_request(
            actor=request.user,
            kind=data.validated_data["kind"],
            township_code=data.validated_data["township"],
        )
        batch.refresh_from_db()  # the immediate backend may have run it already
        return Response(BatchSerializer(batch).data, status=202)

    @extend_schema(responses={(200, "application/zip"): bytes})
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str) -> FileResponse:
        batch = self.get_object()
        if batch.status != DocumentBatch.Status.DONE or not batch.zip_file:
            raise NotFound(_("The batch is not finished yet."))
        response = FileResponse(
            batch.zip_file.open("rb"),
            content_type="application/zip",
            as_attachment=True,
            filename=f"{batch.kind}-{batch.township_code}-{batch.pk}.zip",
        )
        response["Cache-Control"] = "private, no-store"
        return response


router = SimpleRouter()
router.register("documents/batches", BatchViewSet, basename="document-batch")
router.register("documents", DocumentViewSet, basename="document")

# Included by ``config.urls`` under /api/v1/.
urlpatterns = [
    path(
        "applications/<int:application_id>/attachments/",
        AttachmentViewSet.as_view({"get": "list", "post": "create"}),
        name="application-attachments",
    ),
    *router.urls,
]
