from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from approvals.models import Attachment
from documents.models import StoredDocument
from documents.selectors import document_read, document_verify
from documents.services.issuing import agreement_issue
from documents.views import MAX_UPLOAD
from tests.documents.conftest import World
from tests.factories import SIGNED_AGREEMENT_PDF


def _agreement(world: World) -> StoredDocument:
    app = world.application_approved(world.household)
    return agreement_issue(actor=world.cadre, application_id=app.pk)


def test_download_in_area_gives_the_stored_bytes(world: World, client: Client) -> None:
    doc = _agreement(world)
    client.force_login(world.reviewer)
    response = client.get(reverse("documents:download", args=[doc.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content) == document_read(doc)  # type: ignore[attr-defined]


def test_download_out_of_area_is_404(world: World, client: Client) -> None:
    doc = _agreement(world)
    client.force_login(world.outsider)
    assert client.get(reverse("documents:download", args=[doc.pk])).status_code == 404


def test_download_needs_sign_in(world: World, client: Client) -> None:
    doc = _agreement(world)
    assert client.get(reverse("documents:download", args=[doc.pk])).status_code == 302


def test_verify_page_by_code_needs_no_sign_in(world: World, client: Client) -> None:
    doc = _agreement(world)
    response = client.get(reverse("documents:verify_code", args=[doc.verification_code.lower()]))
    assert response.status_code == 200
    assert 'data-status="issued"' in response.content.decode()
    assert doc.sha256 in response.content.decode()


def test_verify_by_code_shows_what_a_villager_can_compare(world: World, client: Client) -> None:
    doc = _agreement(world)
    html = client.get(reverse("documents:verify_code", args=[doc.verification_code])).content
    text = html.decode()
    # The masked name, the amount and the date: on the paper too.
    assert 'id="detail-name"' in text and "李䶮" not in text
    assert 'id="detail-amount">5000.00<' in text


def test_verify_another_genuine_document_with_a_code_says_it_is_a_different_one(
    world: World, client: Client
) -> None:
    first = _agreement(world)
    other_app = world.application_approved(
        world.household_new("王怀玉", 2, "6222020200112345679", "13812345679")
    )
    other = agreement_issue(actor=world.cadre, application_id=other_app.pk)
    upload = SimpleUploadedFile("b.pdf", document_read(other), content_type="application/pdf")

    text = client.post(
        reverse("documents:verify"), {"file": upload, "code": first.verification_code}
    ).content.decode()

    assert 'data-status="other"' in text and other.verification_code in text
    assert 'data-status="altered"' not in text


def test_verify_a_file_that_is_not_a_pdf_says_so(world: World, client: Client) -> None:
    upload = SimpleUploadedFile("photo.jpg", b"\xff\xd8\xff\xe0 not a pdf", "image/jpeg")

    text = client.post(reverse("documents:verify"), {"file": upload}).content.decode()

    assert 'data-status="not_pdf"' in text


def test_verify_upload_of_the_issued_file_is_genuine(world: World, client: Client) -> None:
    doc = _agreement(world)
    upload = SimpleUploadedFile("a.pdf", document_read(doc), content_type="application/pdf")
    response = client.post(reverse("documents:verify"), {"file": upload})
    assert 'data-status="genuine"' in response.content.decode()


def test_verify_changed_byte_is_altered(world: World, client: Client) -> None:
    doc = _agreement(world)
    data = bytearray(document_read(doc))
    data[len(data) // 2] ^= 0x01
    upload = SimpleUploadedFile("a.pdf", bytes(data), content_type="application/pdf")
    response = client.post(
        reverse("documents:verify"), {"file": upload, "code": doc.verification_code}
    )
    assert 'data-status="altered"' in response.content.decode()


def test_verify_changed_file_without_code_is_recognised_as_altered(world: World) -> None:
    doc = _agreement(world)
    data = document_read(doc).replace(b"%%EOF", b"%%EOF\n% tampered")
    result = document_verify(data=data)
    assert result.status == "altered" and result.document == doc


def test_verify_unknown_code(world: World, client: Client) -> None:
    response = client.get(reverse("documents:verify_code", args=["AAAAAAAAAA"]))
    assert 'data-status="unknown"' in response.content.decode()


@pytest.mark.parametrize(
    ("language", "message"),
    [("zh-hans", "文件过大（不超过 20 MB）。"), ("en", "The file is too large (at most 20 MB).")],
)
def test_verify_upload_too_large_is_refused_in_the_users_language(
    world: World, client: Client, language: str, message: str
) -> None:
    doc = _agreement(world)
    big = document_read(doc) + b"\0" * (MAX_UPLOAD + 1)
    upload = SimpleUploadedFile("a.pdf", big, content_type="application/pdf")
    response = client.post(
        reverse("documents:verify"), {"file": upload}, HTTP_ACCEPT_LANGUAGE=language
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert f'<p class="bad" id="error">{message}</p>' in page
    assert 'id="result"' not in page


def test_verify_page_speaks_english_when_asked(client: Client) -> None:
    response = client.get(reverse("documents:verify"), HTTP_ACCEPT_LANGUAGE="en")
    page = response.content.decode()
    assert '<html lang="en">' in page and "Check a document" in page


# --- the signed agreement upload page ------------------------------------------------------


def test_signed_agreement_page_uploads_the_scan(world: World, client: Client) -> None:
    app = world.application_approved(world.household)
    client.force_login(world.cadre)
    url = reverse("documents:signed_agreement", args=[app.pk])

    response = client.post(url, {"file": SimpleUploadedFile("scan.pdf", SIGNED_AGREEMENT_PDF)})

    assert response.status_code == 302
    attachment = Attachment.objects.get(application=app)
    assert attachment.kind == Attachment.Kind.SIGNED_AGREEMENT
    page = client.get(response["Location"]).content.decode()
    assert 'id="uploaded"' in page and "scan.pdf" in page


def test_signed_agreement_page_rejects_other_files(world: World, client: Client) -> None:
    app = world.application_approved(world.household)
    client.force_login(world.cadre)

    response = client.post(
        reverse("documents:signed_agreement", args=[app.pk]),
        {"file": SimpleUploadedFile("scan.pdf", b"plain text, not a scan")},
    )

    assert response.status_code == 400
    assert 'id="error"' in response.content.decode()


def test_signed_agreement_page_out_of_area_is_404(world: World, client: Client) -> None:
    app = world.application_approved(world.household)
    client.force_login(world.outsider)
    assert client.get(reverse("documents:signed_agreement", args=[app.pk])).status_code == 404
