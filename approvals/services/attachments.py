"""Files on an application's record (the household's consent, the signed agreement, photos):
a PDF, JPEG or PNG by its first bytes and then read whole (a PDF opens, has a page and runs
no code; a picture decodes), stored under a name of ours beside their row, audited with
their SHA-256."""

from __future__ import annotations

import hashlib
import io
import os
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from applications.models import Application
from applications.roles import Role
from applications.selectors import (
    has_role_in,
)
from approvals.models import Attachment
from approvals.services.access import _household_and_area, _lock_for, _refuse_if_recused
from audit.services import audit_record
from common.actors import Actor, person
from common.errors import Code, Forbidden, InvalidInput
from common.files import stored_file

MAX_ATTACHMENT = 10 * 1024 * 1024
ATTACHMENT_ROLES = (Role.VILLAGE_CADRE, Role.TOWNSHIP_REVIEWER)
# What a file is, from its first bytes, never from its name: (magic, content type, suffix).
FILE_SIGNATURES = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)


def sniff_content_type(head: bytes) -> tuple[str, str] | None:
    """The content type and file suffix of a PDF, JPEG or PNG, by its magic bytes."""
    for magic, content_type, suffix in FILE_SIGNATURES:
        if head.startswith(magic):
            return content_type, suffix
    return None


# What a PDF may not carry: code, programs it starts, forms that send or fetch data, files or
# media carried inside it.
_ACTIVE_NAMES = frozenset(
    {
        "/JavaScript",
        "/JS",
        "/Launch",
        "/XFA",
        "/EmbeddedFile",
        "/EmbeddedFiles",
        "/RichMedia",
        "/GoToE",
        "/SubmitForm",
        "/ImportData",
    }
)
# A walk through a PDF's objects stops here (a real scan has hundreds of objects).
_MAX_PDF_OBJECTS = 200_000


def pdf_problem(data: bytes) -> str:
    """Why these bytes are not a PDF we keep, or "": it opens (pypdf), has at least one page,
    and no object in it is JavaScript, a launch, submit or import action, XFA, rich media or an
    embedded file (names are read decoded, so
    ``/J#61vaScript`` is caught too)."""
    from pypdf import PdfReader
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            return _("The PDF is password-protected: upload it without the password.")
        if len(reader.pages) < 1:
            return _("The PDF has no page.")
        seen: set[tuple[int, int]] = set()
        stack: list[Any] = [reader.trailer]
        walked = 0
        while stack:
            walked += 1
            if walked > _MAX_PDF_OBJECTS:
                return _("The PDF could not be read.")
            item = stack.pop()
            if isinstance(item, IndirectObject):
                key = (item.idnum, item.generation)
                if key in seen:
                    continue
                seen.add(key)
                item = item.get_object()
            if isinstance(item, DictionaryObject):
                if _ACTIVE_NAMES & {str(k) for k in item} or str(item.get("/S")) in _ACTIVE_NAMES:
                    return _(
                        "The PDF contains JavaScript, a launch or form action or an embedded "
                        "file: it is refused."
                    )
                stack.extend(item.values())
            elif isinstance(item, ArrayObject):
                stack.extend(item)
    except Exception:  # whatever pypdf meets in a damaged file: it is not one we keep
        return _("The file is not a PDF that can be read.")
    return ""


def image_problem(data: bytes) -> str:
    """Why these bytes are not a picture we keep, or "": Pillow opens and decodes the whole
    image (a forged header, a truncated file or a decompression bomb is refused)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.width < 1 or image.height < 1:
                return _("The picture is empty.")
    except Exception:  # a forged, truncated or oversized picture: not one we keep
        return _("The file is not a picture that can be read.")
    return ""


def _read_limited(file: Any, limit: int) -> bytes:
    """At most ``limit + 1`` bytes: enough to know a file is too large without reading it
    all into memory."""
    if hasattr(file, "seek"):
        file.seek(0)
    chunks: list[bytes] = []
    total = 0
    source = file.chunks() if hasattr(file, "chunks") else iter(lambda: file.read(65536), b"")
    for chunk in source:
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            break
    return b"".join(chunks)


def attachment_add(*, actor: Actor, application_id: int, kind: str, file: Any) -> Attachment:
    """Attach a file (a PDF, JPEG or PNG of at most 10 MB) to an application's record.

    Guarantees: the application is in the actor's area (else ``NotFound``, recorded) and the
    actor is its village cadre or township reviewer (else ``Forbidden``); the type is read
    from the file's first bytes, not its name; the file is stored and the row and the audit
    entry (with the file's SHA-256) are written in one transaction; bad input changes
    nothing."""
    if kind not in Attachment.Kind.values:
        raise InvalidInput({"kind": [_("Choose what the file is.")]})
    household_id, area_code = _household_and_area(actor, application_id, "attachment.add")
    if kind == Attachment.Kind.LOAN_CONTRACT:
        if not has_role_in(actor, Role.BANK_OFFICER, area_code):
            raise Forbidden(
                _("Only the lending bank's officer uploads the signed loan contract."),
                code=Code.ROLE,
            )
    elif not any(has_role_in(actor, role, area_code) for role in ATTACHMENT_ROLES):
        raise Forbidden(
            _("Only the village cadre or the township reviewer uploads files."), code=Code.ROLE
        )
    _refuse_if_recused(
        actor=actor,
        household_id=household_id,
        area_code=area_code,
        action="attachment.add",
        object_type="application",
        object_id=application_id,
    )
    checked = attachment_checked(file)
    with ExitStack() as stack, transaction.atomic():
        app = _lock_for(actor, application_id, "attachment.add")
        attachment = attachment_store(actor=actor, app=app, kind=kind, file=checked, stack=stack)
    return attachment


@dataclass(frozen=True)
class CheckedFile:
    """An upload read and checked: its bytes, type (from its content) and name."""

    data: bytes
    content_type: str
    suffix: str
    original_name: str
    sha256: str


def attachment_checked(file: Any, field: str = "file") -> CheckedFile:
    """Read an upload and check it: present, not empty, at most 10 MB, a PDF, JPEG or PNG
    by its first bytes (``InvalidInput`` on ``field`` otherwise)."""
    if file is None:
        raise InvalidInput({field: [_("Choose a file to upload.")]})
    size = getattr(file, "size", None)
    if size is not None and size > MAX_ATTACHMENT:
        raise InvalidInput({field: [_("The file is too large: at most 10 MB.")]})
    data = _read_limited(file, MAX_ATTACHMENT)
    if not data:
        raise InvalidInput({field: [_("The file is empty.")]})
    if len(data) > MAX_ATTACHMENT:
        raise InvalidInput({field: [_("The file is too large: at most 10 MB.")]})
    sniffed = sniff_content_type(data[:16])
    if sniffed is None:
        raise InvalidInput({field: [_("Only PDF, JPEG or PNG files can be uploaded.")]})
    content_type, suffix = sniffed
    problem = pdf_problem(data) if content_type == "application/pdf" else image_problem(data)
    if problem:
        raise InvalidInput({field: [problem]})
    original_name = os.path.basename(str(getattr(file, "name", "") or ""))[:200] or "upload"
    return CheckedFile(data, content_type, suffix, original_name, hashlib.sha256(data).hexdigest())


def attachment_store(
    *, actor: Actor, app: Application, kind: str, file: CheckedFile, stack: ExitStack
) -> Attachment:
    """Store a checked file as an attachment of an application the caller has locked, in
    the caller's transaction, with its audit entry. The file is removed again when that
    transaction does not commit (``stack`` is closed after it)."""
    digest = file.sha256
    path = f"attachments/{app.pk}/{kind}-{digest[:16]}{file.suffix}"
    name = stack.enter_context(stored_file(path, file.data))
    attachment = Attachment.objects.create(
        application=app,
        kind=kind,
        file=name,
        original_name=file.original_name,
        content_type=file.content_type,
        size=len(file.data),
        sha256=digest,
        uploaded_by=person(actor),
    )
    audit_record(
        actor=actor,
        action="attachment.add",
        object_type="application",
        object_id=app.pk,
        area_code=app.area_code,
        changes={
            "attachment": [None, str(attachment.pk)],
            "kind": [None, kind],
            "sha256": [None, digest],
            "size": [None, len(file.data)],
            "content_type": [None, file.content_type],
        },
    )
    return attachment
