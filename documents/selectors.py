"""Reads of issued documents. Scope comes from the application selectors: a document is
visible when its application, else its household, else its village is."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from applications.idnumbers import mask_name
from applications.models import Application, Household, Program
from applications.roles import Role
from applications.selectors import (
    applications_visible_to,
    area_scoped,
    areas_visible_to,
    households_visible_to,
    is_everywhere,
    scope_prefixes,
)
from approvals.models import Decision
from common.actors import Actor
from documents.models import DocumentBatch, StoredDocument
from loans.models import Loan, SubsidyClaim

_CODE_RE = re.compile(r"[A-Z2-7]{10}")

# Who may issue (a write: a stored row and an audit entry). Inspectors read, never write.
ISSUER_ROLES = (
    Role.VILLAGE_CADRE,
    Role.TOWNSHIP_REVIEWER,
    Role.COUNTY_APPROVER,
    Role.FINANCE_OFFICER,
)
# The decisions a decision letter tells the household.
DECISION_TRANSITIONS = ("county_approve", "return", "reject")


def may_issue_in(actor: Actor, area_code: str) -> bool:
    """True when the actor holds a role that issues documents on an area containing it."""
    return is_everywhere(actor) or any(
        area_code.startswith(prefix) for prefix in scope_prefixes(actor, ISSUER_ROLES)
    )


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
    return area_scoped(DocumentBatch.objects.select_related("requested_by"), user, "township_code")


def subject_digest(parts: Iterable[object]) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:24]


def notice_postings(village_code: str) -> list[Application]:
    """The applications a village's notice lists: those now in posting."""
    return list(
        Application.objects.filter(area_code=village_code, status=Application.Status.POSTED)
        .select_related("household", "program")
        .prefetch_related("items__item")
        .order_by("posting_started_at", "id")
    )


def notice_subject(village_code: str, apps: Iterable[Application]) -> str:
    """A notice's subject: the village and the set of its postings (a new notice when it
    changes)."""
    return f"village:{village_code}:" + subject_digest(
        f"{a.pk}@{a.posting_ends_at}:{a.amount}" for a in apps
    )


@dataclass(frozen=True)
class BenefitsCardState:
    """What a household's benefits card shows: its approved or paid subsidies, its loans
    and the interest subsidy paid on each; the subject changes when any of them does."""

    applications: list[Application]
    loans: list[Loan]
    subsidised: dict[int, Decimal]
    subject_key: str


def benefits_card_state(household: Household) -> BenefitsCardState:
    apps = list(
        Application.objects.filter(
            household=household,
            status__in=[Application.Status.APPROVED, Application.Status.DISBURSED],
            program__kind=Program.Kind.SUBSIDY,
        )
        .select_related("program")
        .prefetch_related("items__item")
        .order_by("created_at", "id")
    )
    loans = list(Loan.objects.filter(household=household).select_related("bank").order_by("pk"))
    subsidised: dict[int, Decimal] = dict(
        SubsidyClaim.objects.filter(loan__in=loans, status=SubsidyClaim.Status.PAID)
        .values("loan")
        .annotate(total=Sum("amount"))
        .values_list("loan", "total")
    )
    state = [f"{a.pk}:{a.status}" for a in apps] + [
        f"loan{loan.pk}:{loan.status}:{loan.outstanding_principal}:{subsidised.get(loan.pk)}"
        for loan in loans
    ]
    return BenefitsCardState(
        apps, loans, subsidised, f"household:{household.pk}:" + subject_digest(state)
    )


@dataclass(frozen=True)
class DocumentSlot:
    """A document a page offers: what it is, the one issued for its subject as it stands
    (None: not issued yet), and whether the user may issue it. ``subject`` is the form
    field and value naming the subject to the issuing view; ``earlier`` are the documents
    of the kind issued before the subject changed (an earlier decision, notice or card)."""

    kind: str
    label: str
    document: StoredDocument | None
    can_issue: bool
    subject: tuple[str, str]
    earlier: tuple[StoredDocument, ...] = ()


def _slot(
    kind: str, issued: Iterable[StoredDocument], subject_key: str, label: str = "", **fields: Any
) -> DocumentSlot:
    documents = sorted(
        (d for d in issued if d.kind == kind), key=lambda d: (d.created_at, d.pk), reverse=True
    )
    current = next((d for d in documents if d.subject_key == subject_key), None)
    return DocumentSlot(
        kind,
        label or str(StoredDocument.Kind(kind).label),
        current,
        earlier=tuple(d for d in documents if d is not current),
        **fields,
    )


def application_document_slots(user: Actor, app: Application) -> list[DocumentSlot]:
    """The documents of an application's page: its agreement once approved (subsidies),
    the letter of its latest decision, and its village's notice while it is posted."""
    fields: dict[str, Any] = {
        "can_issue": may_issue_in(user, app.area_code),
        "subject": ("application", str(app.pk)),
    }
    # Two queries whatever the history: the documents and the latest decision.
    issued = list(StoredDocument.objects.filter(application=app))
    slots = []
    if app.program.kind == Program.Kind.SUBSIDY and app.status in (
        Application.Status.APPROVED,
        Application.Status.DISBURSED,
    ):
        slots.append(
            _slot(StoredDocument.Kind.AGREEMENT, issued, f"application:{app.pk}", **fields)
        )
    decision = (
        Decision.objects.filter(application=app, transition__in=DECISION_TRANSITIONS)
        .order_by("-decided_at", "-id")
        .first()
    )
    if decision is not None:
        slots.append(
            _slot(StoredDocument.Kind.DECISION_LETTER, issued, f"decision:{decision.pk}", **fields)
        )
    if app.status == Application.Status.POSTED:
        slots.append(village_notice_slot(user, app.area_code))
    return slots


def village_notice_slot(user: Actor, village_code: str, name: str = "") -> DocumentSlot:
    """A village's public notice of the postings as they stand (``name``: say whose)."""
    return _slot(
        StoredDocument.Kind.NOTICE,
        StoredDocument.objects.filter(
            kind=StoredDocument.Kind.NOTICE, subject_key__startswith=f"village:{village_code}:"
        ),
        notice_subject(village_code, notice_postings(village_code)),
        label=f"{name} {StoredDocument.Kind.NOTICE.label}" if name else "",
        can_issue=may_issue_in(user, village_code),
        subject=("village", village_code),
    )


def household_document_slots(user: Actor, household: Household) -> list[DocumentSlot]:
    """A household's benefits card, as its supports stand."""
    return [
        _slot(
            StoredDocument.Kind.BENEFITS_CARD,
            StoredDocument.objects.filter(
                kind=StoredDocument.Kind.BENEFITS_CARD, household=household
            ),
            benefits_card_state(household).subject_key,
            can_issue=may_issue_in(user, household.area_code),
            subject=("household", str(household.pk)),
        )
    ]
