"""Attachments (``attachment_add``) and the rule that payment waits for the signed
agreement."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.utils import translation

from applications.models import Application
from approvals.models import Attachment, Decision
from approvals.services.attachments import attachment_add
from approvals.services.transitions import available_transitions
from audit.models import AuditEntry
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refused
from payments.services.rounds import payment_refusal
from tests.factories import JPEG, PNG, SIGNED_AGREEMENT_PDF, World, upload_signed_agreement

S = Application.Status
SA = Attachment.Kind.SIGNED_AGREEMENT


def _add(
    world: World,
    app: Application,
    data: bytes,
    *,
    user: str = "cadre_v1",
    kind: str = SA,
    name: str = "scan.pdf",
) -> Attachment:
    return attachment_add(
        actor=world.user(user),
        application_id=app.pk,
        kind=kind,
        file=ContentFile(data, name=name),
    )


@pytest.mark.django_db
def test_attachment_add_stores_file_with_sha256_and_audits_it(world: World) -> None:
    app = world.application(S.APPROVED)

    attachment = _add(world, app, SIGNED_AGREEMENT_PDF, name="协议书.pdf")

    digest = hashlib.sha256(SIGNED_AGREEMENT_PDF).hexdigest()
    assert attachment.sha256 == digest
    assert attachment.content_type == "application/pdf"
    assert attachment.size == len(SIGNED_AGREEMENT_PDF)
    assert attachment.original_name == "协议书.pdf"
    assert attachment.uploaded_by == world.user("cadre_v1")
    with attachment.file.open("rb") as handle:
        assert handle.read() == SIGNED_AGREEMENT_PDF
    entry = AuditEntry.objects.filter(action="attachment.add", object_id=str(app.pk)).get()
    assert entry.changes["sha256"] == [None, digest]
    assert entry.changes["kind"] == [None, "signed_agreement"]


@pytest.mark.django_db
def test_attachment_add_reads_type_from_content_not_name(world: World) -> None:
    app = world.application(S.APPROVED)

    png = _add(world, app, PNG, kind=Attachment.Kind.PHOTO, name="photo.pdf")
    jpeg = _add(world, app, JPEG, kind=Attachment.Kind.PHOTO, name="photo")

    assert png.content_type == "image/png" and png.file.name.endswith(".png")
    assert jpeg.content_type == "image/jpeg" and jpeg.file.name.endswith(".jpg")


@pytest.mark.django_db
def test_attachment_add_refuses_other_content_named_pdf(world: World) -> None:
    app = world.application(S.APPROVED)

    with pytest.raises(InvalidInput) as error:
        _add(world, app, b"<html>not a scan</html>", name="scan.pdf")
    assert error.value.code == Code.INVALID

    assert "file" in error.value.errors
    assert not Attachment.objects.filter(application=app).exists()
    assert not AuditEntry.objects.filter(action="attachment.add").exists()


@pytest.mark.django_db
def test_attachment_add_refuses_file_over_10_mb(world: World) -> None:
    app = world.application(S.APPROVED)

    with pytest.raises(InvalidInput) as refused:
        _add(world, app, b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024))
    assert refused.value.code == Code.INVALID
    assert "file" in refused.value.errors

    assert not Attachment.objects.filter(application=app).exists()


@pytest.mark.django_db
def test_attachment_add_refuses_empty_file_and_unknown_kind(world: World) -> None:
    app = world.application(S.APPROVED)

    with pytest.raises(InvalidInput) as refused:
        _add(world, app, b"")
    assert refused.value.code == Code.INVALID
    assert "file" in refused.value.errors
    with pytest.raises(InvalidInput) as error:
        _add(world, app, SIGNED_AGREEMENT_PDF, kind="receipt")
    assert error.value.code == Code.INVALID

    assert "kind" in error.value.errors
    assert not Attachment.objects.filter(application=app).exists()


@pytest.mark.django_db
def test_attachment_add_out_of_area_is_not_found_and_recorded(world: World) -> None:
    app = world.application(S.APPROVED)

    with pytest.raises(NotFound) as refused:
        _add(world, app, SIGNED_AGREEMENT_PDF, user="cadre_b")
    assert refused.value.code == Code.NOT_FOUND

    assert not Attachment.objects.filter(application=app).exists()
    assert AuditEntry.objects.filter(
        action="attachment.add", outcome=AuditEntry.Outcome.REFUSED, actor=world.user("cadre_b")
    ).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("user", ["finance_a", "inspector_a", "approver_a"])
def test_attachment_add_refused_for_other_roles(world: World, user: str) -> None:
    app = world.application(S.APPROVED)

    with pytest.raises(Forbidden) as refused:
        _add(world, app, SIGNED_AGREEMENT_PDF, user=user)
    assert refused.value.code == Code.ROLE

    assert not Attachment.objects.filter(application=app).exists()


@pytest.mark.django_db
def test_attachment_add_by_township_reviewer(world: World) -> None:
    app = world.application(S.APPROVED)

    attachment = _add(world, app, SIGNED_AGREEMENT_PDF, user="reviewer_t1")

    assert attachment.uploaded_by == world.user("reviewer_t1")


@pytest.mark.django_db
def test_attachment_add_message_is_translated(world: World) -> None:
    app = world.application(S.APPROVED)

    with translation.override("zh-hans"), pytest.raises(InvalidInput) as error:
        _add(world, app, b"GIF89a")
    assert error.value.code == Code.INVALID

    assert error.value.errors["file"] == ["只能上传 PDF、JPEG 或 PNG 文件。"]


@pytest.mark.django_db
def test_payment_refused_until_signed_agreement_uploaded(world: World) -> None:
    app = world.application(S.APPROVED)

    with translation.override("en"), pytest.raises(Refused) as error:
        world.pay([app])
    assert error.value.code == Code.SIGNED_AGREEMENT_MISSING

    assert error.value.message == "The signed agreement has not been uploaded."
    app.refresh_from_db()
    assert app.status == S.APPROVED
    assert not Decision.objects.filter(application=app, transition="disburse").exists()
    assert AuditEntry.objects.filter(
        action="payment_round.create", outcome=AuditEntry.Outcome.REFUSED
    ).exists()


@pytest.mark.django_db
def test_payment_not_unlocked_by_a_photo(world: World) -> None:
    app = world.application(S.APPROVED)
    _add(world, app, PNG, kind=Attachment.Kind.PHOTO, name="pen.png")

    with pytest.raises(Refused) as refused:
        world.pay([app])
    assert refused.value.code == Code.SIGNED_AGREEMENT_MISSING


@pytest.mark.django_db
def test_payment_goes_through_after_signed_agreement_uploaded(world: World) -> None:
    app = world.application(S.APPROVED)
    finance = world.user("finance_a")
    refusal = payment_refusal(finance, app)
    assert refusal is not None and refusal.code == Code.SIGNED_AGREEMENT_MISSING

    upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)

    assert payment_refusal(finance, app) is None
    assert "disburse" not in available_transitions(app, finance)  # never a person's button
    world.pay([app])
    app.refresh_from_db()
    assert app.status == S.DISBURSED


# --- the content, read whole (issue 14, item 7) ---------------------------------------------


def _pdf_with_open_action(kind: str, *, escaped: bool = False) -> bytes:
    """A real one-page PDF that runs JavaScript or launches a program when opened; with
    ``escaped``, the action's name written with a ``#xx`` escape (``/J#61vaScript``)."""
    import io

    from pypdf import PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    action: dict[NameObject, Any] = {NameObject("/S"): NameObject(f"/{kind}")}
    if kind == "JavaScript":
        action[NameObject("/JS")] = TextStringObject("app.alert(1)")
    else:
        action[NameObject("/F")] = TextStringObject("setup.exe")
    writer._root_object[NameObject("/OpenAction")] = DictionaryObject(action)
    out = io.BytesIO()
    writer.write(out)
    data = out.getvalue()
    if escaped:
        name = kind.encode()
        data = data.replace(b"/" + name, b"/" + name[:1] + b"#%x" % name[1] + name[2:])
    return data


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"%PDF-1.4\n<html><script>alert(1)</script></html>", "report.html"),
        (b"\xff\xd8\xff\xe0<html><script>alert(1)</script></html>", "photo.jpg"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "pen.png"),
        (
            b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
            b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n",
            "fake.pdf",
        ),
        (b"%PDF-1.4\n" + b"MZ\x90\x00" * 40, "setup.exe"),
    ],
)
def test_a_file_that_only_starts_like_a_pdf_or_picture_is_refused(
    world: World, data: bytes, name: str
) -> None:
    app = world.application(S.APPROVED)

    with pytest.raises(InvalidInput) as refused:
        _add(world, app, data, name=name)

    assert refused.value.code == Code.INVALID and "file" in refused.value.errors
    assert not Attachment.objects.filter(application=app).exists()
    assert not AuditEntry.objects.filter(action="attachment.add", object_id=str(app.pk)).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "escaped"),
    [("JavaScript", False), ("JavaScript", True), ("Launch", False), ("Launch", True)],
)
def test_a_pdf_that_runs_code_when_opened_is_refused(
    world: World, kind: str, escaped: bool
) -> None:
    app = world.application(S.APPROVED)

    with translation.override("en"), pytest.raises(InvalidInput) as refused:
        _add(world, app, _pdf_with_open_action(kind, escaped=escaped))

    assert "JavaScript, a launch or form action" in refused.value.errors["file"][0]
    assert not Attachment.objects.filter(application=app).exists()


@pytest.mark.django_db
def test_the_fake_pdf_no_longer_unlocks_payment(world: World) -> None:
    app = world.application(S.APPROVED)
    fake = b"%PDF-1.4\n" + b"x" * 51  # 60 bytes, as the probe sent

    with pytest.raises(InvalidInput):
        _add(world, app, fake)

    assert payment_refusal(world.user("finance_a"), app) is not None


@pytest.mark.django_db
def test_a_download_carries_a_name_of_ours_and_the_detected_type(world: World) -> None:
    from django.test import Client

    app = world.application(S.APPROVED)
    attachment = _add(world, app, SIGNED_AGREEMENT_PDF, name="report.html")
    client = Client()
    client.force_login(world.user("cadre_v1"))

    response = client.get(f"/attachments/{attachment.pk}/")

    assert response["Content-Type"] == "application/pdf"
    disposition = response["Content-Disposition"]
    assert f"signed_agreement-{app.pk}-{attachment.pk}.pdf" in disposition
    assert "report.html" not in disposition
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_a_pdf_carrying_an_embedded_file_is_refused(world: World) -> None:
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_attachment("setup.exe", b"MZ\x90\x00" * 10)
    out = io.BytesIO()
    writer.write(out)
    app = world.application(S.APPROVED)

    with pytest.raises(InvalidInput):
        _add(world, app, out.getvalue())

    assert not Attachment.objects.filter(application=app).exists()


@pytest.mark.django_db
def test_a_damaged_pdf_is_a_field_error_not_a_crash(world: World) -> None:
    app = world.application(S.APPROVED)
    damaged = SIGNED_AGREEMENT_PDF[:200] + b"\xff" * 500 + SIGNED_AGREEMENT_PDF[-100:]

    with pytest.raises(InvalidInput):
        _add(world, app, damaged)
