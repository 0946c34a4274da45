"""The documents API (/api/v1/documents/) and the attachments of an application
(/api/v1/applications/{id}/attachments/), through HTTP."""

from __future__ import annotations

import io
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from applications.models import Application
from approvals.models import Attachment
from audit.models import AuditEntry
from documents.models import StoredDocument
from documents.selectors import document_read
from tests.documents.conftest import VILLAGE, World
from tests.factories import SIGNED_AGREEMENT_PDF


def _client(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _upload(user: Any, app: Application, data: bytes, name: str = "scan.pdf") -> Any:
    return _client(user).post(
        f"/api/v1/applications/{app.pk}/attachments/",
        {"kind": "signed_agreement", "file": SimpleUploadedFile(name, data)},
        format="multipart",
    )


# --- attachments ---------------------------------------------------------------------------


def test_attachment_upload_and_list(world: World) -> None:
    app = world.application_approved(world.household)

    response = _upload(world.cadre, app, SIGNED_AGREEMENT_PDF, "协议书.pdf")

    assert response.status_code == 201, response.content
    assert response.json()["content_type"] == "application/pdf"
    assert response.json()["original_name"] == "协议书.pdf"
    listed = _client(world.reviewer).get(f"/api/v1/applications/{app.pk}/attachments/")
    assert listed.status_code == 200
    assert [row["kind"] for row in listed.json()] == ["signed_agreement"]


def test_attachment_upload_of_wrong_type_is_400_with_field_error(world: World) -> None:
    app = world.application_approved(world.household)

    response = _upload(world.cadre, app, b"MZ\x90\x00 not a scan", "scan.pdf")

    assert response.status_code == 400
    assert "file" in response.json()
    assert not Attachment.objects.exists()


def test_attachment_upload_without_file_is_400(world: World) -> None:
    app = world.application_approved(world.household)
    response = _client(world.cadre).post(
        f"/api/v1/applications/{app.pk}/attachments/", {"kind": "photo"}, format="multipart"
    )
    assert response.status_code == 400
    assert "file" in response.json()


def test_attachment_upload_out_of_area_is_404(world: World) -> None:
    app = world.application_approved(world.household)

    response = _upload(world.outsider, app, SIGNED_AGREEMENT_PDF)

    assert response.status_code == 404
    assert not Attachment.objects.exists()


def test_attachment_list_out_of_area_is_404(world: World) -> None:
    app = world.application_approved(world.household)
    _upload(world.cadre, app, SIGNED_AGREEMENT_PDF)

    response = _client(world.outsider).get(f"/api/v1/applications/{app.pk}/attachments/")

    assert response.status_code == 404


def test_attachment_upload_by_finance_is_403(world: World) -> None:
    app = world.application_approved(world.household)
    assert _upload(world.finance, app, SIGNED_AGREEMENT_PDF).status_code == 403


def test_a_round_through_the_api_waits_for_the_signed_agreement(world: World) -> None:
    app = world.application_approved(world.household)
    one = {"program": app.program_id, "area": app.area_code[:6] + "000000"}
    rounds = "/api/v1/payment-rounds/"

    refused = _client(world.finance).post(rounds, {**one, "applications": [app.pk]}, format="json")
    _upload(world.cadre, app, SIGNED_AGREEMENT_PDF)
    drawn = _client(world.finance).post(rounds, one, format="json")

    assert refused.status_code == 409
    assert refused.json()["code"] == "signed_agreement_missing"
    assert drawn.status_code == 201, drawn.content
    assert [line["application"] for line in drawn.json()["lines"]] == [app.pk]


# --- documents -----------------------------------------------------------------------------


def test_issue_agreement_then_list_and_download(world: World) -> None:
    app = world.application_approved(world.household)

    response = _client(world.cadre).post(
        "/api/v1/documents/", {"kind": "agreement", "application": app.pk}, format="json"
    )

    assert response.status_code == 201, response.content
    doc = StoredDocument.objects.get(pk=response.json()["id"])
    assert response.json()["verification_code"] == doc.verification_code
    listed = _client(world.reviewer).get("/api/v1/documents/")
    assert [row["id"] for row in listed.json()["results"]] == [doc.pk]
    download = _client(world.reviewer).get(f"/api/v1/documents/{doc.pk}/download/")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert b"".join(download.streaming_content) == document_read(doc)  # type: ignore[attr-defined]


def test_issue_twice_returns_the_same_document(world: World) -> None:
    app = world.application_approved(world.household)
    client = _client(world.cadre)
    body = {"kind": "agreement", "application": app.pk}

    first = client.post("/api/v1/documents/", body, format="json").json()
    second = client.post("/api/v1/documents/", body, format="json").json()

    assert first["id"] == second["id"] and first["sha256"] == second["sha256"]
    assert AuditEntry.objects.filter(action="document.issue").count() == 1


def test_issue_notice_by_village_code(world: World) -> None:
    world.application_posted(world.household)
    response = _client(world.cadre).post(
        "/api/v1/documents/", {"kind": "notice", "village": VILLAGE}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "notice"


def test_issue_benefits_card_by_household(world: World) -> None:
    response = _client(world.cadre).post(
        "/api/v1/documents/",
        {"kind": "benefits_card", "household": world.household.pk},
        format="json",
    )
    assert response.status_code == 201, response.content


def test_issue_without_subject_is_400(world: World) -> None:
    response = _client(world.cadre).post("/api/v1/documents/", {"kind": "agreement"}, format="json")
    assert response.status_code == 400
    assert "application" in response.json()


def test_issue_agreement_of_unapproved_application_is_409(world: World) -> None:
    app = world.application_posted(world.household)
    response = _client(world.cadre).post(
        "/api/v1/documents/", {"kind": "agreement", "application": app.pk}, format="json"
    )
    assert response.status_code == 409


def test_issue_out_of_area_is_404(world: World) -> None:
    app = world.application_approved(world.household)
    response = _client(world.outsider).post(
        "/api/v1/documents/", {"kind": "agreement", "application": app.pk}, format="json"
    )
    assert response.status_code == 404
    assert not StoredDocument.objects.exists()


def test_documents_out_of_area_are_not_listed_nor_downloadable(world: World) -> None:
    app = world.application_approved(world.household)
    doc_id = (
        _client(world.cadre)
        .post("/api/v1/documents/", {"kind": "agreement", "application": app.pk}, format="json")
        .json()["id"]
    )
    outsider = _client(world.outsider)

    assert outsider.get("/api/v1/documents/").json()["results"] == []
    assert outsider.get(f"/api/v1/documents/{doc_id}/").status_code == 404
    assert outsider.get(f"/api/v1/documents/{doc_id}/download/").status_code == 404


def test_verify_by_code_needs_no_sign_in(world: World) -> None:
    app = world.application_approved(world.household)
    doc = _client(world.cadre).post(
        "/api/v1/documents/", {"kind": "agreement", "application": app.pk}, format="json"
    )
    code = doc.json()["verification_code"]

    response = APIClient().get("/api/v1/documents/verify/", {"code": code.lower()})

    assert response.status_code == 200
    assert response.json()["status"] == "issued"
    assert response.json()["title"] == "到户产业帮扶协议书"
    # The issue time as the document itself gives it (the server's time zone, not UTC "Z").
    assert response.json()["issued_at"] == doc.json()["created_at"]
    assert response.json()["issued_at"].endswith("+08:00")


def test_verify_uploaded_pdf_genuine_and_altered(world: World) -> None:
    app = world.application_approved(world.household)
    doc_id = (
        _client(world.cadre)
        .post("/api/v1/documents/", {"kind": "agreement", "application": app.pk}, format="json")
        .json()["id"]
    )
    data = document_read(StoredDocument.objects.get(pk=doc_id))
    altered = bytearray(data)
    altered[len(altered) // 2] ^= 0x01

    genuine = APIClient().post(
        "/api/v1/documents/verify/", {"file": io.BytesIO(data)}, format="multipart"
    )
    changed = APIClient().post(
        "/api/v1/documents/verify/", {"file": io.BytesIO(bytes(altered))}, format="multipart"
    )

    assert genuine.json()["status"] == "genuine"
    assert changed.json()["status"] in ("altered", "unknown")
    assert changed.json()["status"] != "genuine"


def test_verify_unknown_code(world: World) -> None:
    response = APIClient().get("/api/v1/documents/verify/", {"code": "AAAAAAAAAA"})
    assert response.json()["status"] == "unknown"


def test_verify_without_code_or_file_is_400(world: World) -> None:
    assert APIClient().get("/api/v1/documents/verify/").status_code == 400
