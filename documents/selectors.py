"""Reads of issued documents. Scope comes from the application selectors: a document is
visible when its application, else its household, else its village is."""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from applications.idnumbers import mask_name
from applications.selectors import (
    applications_visible_to,
    areas_visible_to,
    households_visible_to,
    is_everywhere,
    scope_prefixes,
)
from common.actors import Actor
from documents.models import DocumentBatch, StoredDocument

_CODE_RE = re.compile(r"[A-Z2-7]{10}")


def documents_visible_to(user: Actor) -> QuerySet[StoredDocument]:
    qs = StoredDocument.objects.all()
    if is_everywhere(user):
        return qs
    return qs.filter(
        Q(application__in=applications_visible_to(user))
        | Q(application__isnull=True, household__in=households_visible_to(user))
        | Q(
            application__isnull=True,
            household__isnull=True,
            area_code__in=areas_visible_to(user).values("code"),
        )
    )


def document_get(user: Actor, pk: int) -> StoredDocument:
    """The document if the user may see it; ``StoredDocument.DoesNotExist`` otherwise."""
    return documents_visible_to(user).get(pk=pk)


def normalize_code(code: str) -> str:
    """Codes are typed from paper: ignore case, spaces and dashes."""
    return re.sub(r"[\s-]", "", code or "").upper()


def document_by_code(code: str) -> StoredDocument | None:
    code = normalize_code(code)
    if not _CODE_RE.fullmatch(code):
        return None
    return StoredDocument.objects.filter(verification_code=code).first()


def document_read(document: StoredDocument) -> bytes:
    with document.file.open("rb") as handle:
        data: bytes = handle.read()
    return data


@dataclass(frozen=True)
class Verification:
    class Status:
        GENUINE = "genuine"  # the uploaded file is exactly the issued one
        ISSUED = "issued"  # the code exists (no file given to compare)
        ALTERED = "altered"  # the file claims to be an issued document but differs
        OTHER = "other"  # the file is a genuine document, but not the one with the code
        NOT_PDF = "not_pdf"  # the upload is not a PDF at all
        UNKNOWN = "unknown"  # no issued document has this code or content

    status: str
    document: StoredDocument | None = None
    uploaded_sha256: str = ""
    # OTHER: the genuine document the uploaded file is.
    other: StoredDocument | None = None

    @property
    def details(self) -> dict[str, str]:
        """What a villager holding the paper can compare without the file: the name
        (masked), the amount and the date the document was issued."""
        document = self.document
        if document is None:
            return {}
        household = document.household or (
            document.application.household if document.application else None
        )
        return {
            "name": mask_name(household.head_name) if household else "",
            "amount": str(document.application.amount) if document.application else "",
            "date": timezone.localdate(document.created_at).isoformat(),
        }


def _code_inside(data: bytes) -> str:
    """The verification code a PDF carries in its metadata (keywords), if it can be read."""
    try:
        from pypdf import PdfReader

        metadata = PdfReader(io.BytesIO(data)).metadata
        keywords = metadata.get("/Keywords", "") if metadata is not None else ""
    except Exception:  # any unreadable upload simply carries no code
        return ""
    return normalize_code(str(keywords))


def document_verify(*, code: str = "", data: bytes | None = None) -> Verification:
    """Is this code, and this file, a document the system issued, unchanged?"""
    digest = hashlib.sha256(data).hexdigest() if data is not None else ""
    document = document_by_code(code) if code else None
    if code and document is None:
        return Verification(Verification.Status.UNKNOWN, None, digest)
    if data is None:
        if document is None:
            return Verification(Verification.Status.UNKNOWN)
        return Verification(Verification.Status.ISSUED, document)
    if not data.lstrip()[:5].startswith(b"%PDF-"):
        return Verification(Verification.Status.NOT_PDF, document, digest)
    if document is None:
        document = StoredDocument.objects.filter(sha256=digest).first()
        if document is not None:
            return Verification(Verification.Status.GENUINE, document, digest)
        document = document_by_code(_code_inside(data))
        if document is None:
            return Verification(Verification.Status.UNKNOWN, None, digest)
    if document.sha256 == digest:
        return Verification(Verification.Status.GENUINE, document, digest)
    other = StoredDocument.objects.filter(sha256=digest).first()
    if other is not None:
        return Verification(Verification.Status.OTHER, document, digest, other)
    return Verification(Verification.Status.ALTERED, document, digest)


def document_batches_visible_to(user: Actor) -> QuerySet[DocumentBatch]:
    """Batches of the townships in the user's area (a village cadre sees none: a batch
    covers more than their village)."""
    qs = DocumentBatch.objects.select_related("requested_by")
    if is_everywhere(user):
        return qs
    prefixes = scope_prefixes(user)
    if not prefixes:
        return qs.none()
    cond = Q()
    for prefix in prefixes:
        cond |= Q(township_code__startswith=prefix)
    return qs.filter(cond)
