"""Township batches: every agreement or notice of a township as one ZIP, run as a
background task (the immediate backend here), scoped, with progress."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from applications.errors import InvalidInput, NotFound
from applications.services import role_grant
from audit.models import AuditEntry
from documents.models import DocumentBatch, StoredDocument
from documents.selectors import document_read
from documents.services import document_batch_request, document_batch_run
from tests.documents.conftest import OTHER_TOWNSHIP, TOWNSHIP, World

Capture = Callable[..., AbstractContextManager[list[Callable[[], None]]]]


def _two_approved(world: World) -> list[int]:
    second = world.household_new("张建国", 2, "6222020200112345679", "13812345679")
    return [
        world.application_approved(world.household).pk,
        world.application_approved(second, sheep=5).pk,
    ]


def _zip_names(batch: DocumentBatch) -> dict[str, bytes]:
    with batch.zip_file.open("rb") as handle, zipfile.ZipFile(io.BytesIO(handle.read())) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_agreements_batch_zips_every_approved_application(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    _two_approved(world)
    world.application_posted(world.household_new("王秀英", 3, "6222020200112345670", "13812345670"))

    with django_capture_on_commit_callbacks(execute=True):
        batch = document_batch_request(
            actor=world.reviewer, kind=DocumentBatch.Kind.AGREEMENTS, township_code=TOWNSHIP
        )

    batch.refresh_from_db()
    assert batch.status == DocumentBatch.Status.DONE
    assert (batch.total, batch.done, batch.error) == (2, 2, "")
    files = _zip_names(batch)
    documents = StoredDocument.objects.filter(kind=StoredDocument.Kind.AGREEMENT)
    assert documents.count() == 2
    assert sorted(files.values()) == sorted(document_read(d) for d in documents)
    assert any("李䶮" in name for name in files) and any("张建国" in name for name in files)


def test_notices_batch_has_one_notice_per_village_in_posting(world: World) -> None:
    world.application_posted(world.household)
    batch = document_batch_request(
        actor=world.reviewer, kind=DocumentBatch.Kind.NOTICES, township_code=TOWNSHIP
    )

    batch = document_batch_run(batch_id=batch.pk)

    assert (batch.status, batch.total, batch.done) == (DocumentBatch.Status.DONE, 1, 1)
    [content] = _zip_names(batch).values()
    assert content == document_read(StoredDocument.objects.get(kind=StoredDocument.Kind.NOTICE))


def test_batch_run_again_issues_nothing_new(world: World) -> None:
    _two_approved(world)
    batch = document_batch_request(
        actor=world.reviewer, kind=DocumentBatch.Kind.AGREEMENTS, township_code=TOWNSHIP
    )
    document_batch_run(batch_id=batch.pk)
    again = document_batch_request(
        actor=world.approver, kind=DocumentBatch.Kind.AGREEMENTS, township_code=TOWNSHIP
    )

    again = document_batch_run(batch_id=again.pk)

    assert again.done == 2
    assert StoredDocument.objects.count() == 2
    assert AuditEntry.objects.filter(action="document.issue").count() == 2


def test_batch_request_is_audited(world: World) -> None:
    batch = document_batch_request(
        actor=world.reviewer, kind=DocumentBatch.Kind.NOTICES, township_code=TOWNSHIP
    )
    entry = AuditEntry.objects.get(action="document_batch.request")
    assert entry.object_id == str(batch.pk) and entry.area_code == TOWNSHIP


@pytest.mark.parametrize("who", ["outsider", "cadre", "inspector"])
def test_batch_request_outside_batch_role_or_area_is_not_found(world: World, who: str) -> None:
    with pytest.raises(NotFound):
        document_batch_request(
            actor=getattr(world, who), kind=DocumentBatch.Kind.AGREEMENTS, township_code=TOWNSHIP
        )
    assert not DocumentBatch.objects.exists()


def test_batch_request_for_another_township_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        document_batch_request(
            actor=world.reviewer, kind=DocumentBatch.Kind.AGREEMENTS, township_code=OTHER_TOWNSHIP
        )


def test_batch_request_unknown_kind_is_invalid(world: World) -> None:
    with pytest.raises(InvalidInput):
        document_batch_request(actor=world.reviewer, kind="letters", township_code=TOWNSHIP)


# --- API and page --------------------------------------------------------------------------


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_batch_api_runs_and_reports_progress(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    _two_approved(world)
    with django_capture_on_commit_callbacks(execute=True):
        response = _api(world.reviewer).post(
            "/api/v1/documents/batches/",
            {"kind": "agreements", "township": TOWNSHIP},
            format="json",
        )
    assert response.status_code == 202, response.content
    batch_id = response.json()["id"]

    detail = _api(world.reviewer).get(f"/api/v1/documents/batches/{batch_id}/").json()

    assert (detail["status"], detail["total"], detail["done"], detail["percent"]) == (
        "done",
        2,
        2,
        100,
    )
    download = _api(world.approver).get(detail["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"


def test_batch_api_out_of_area_is_404(world: World) -> None:
    batch = document_batch_request(
        actor=world.reviewer, kind=DocumentBatch.Kind.NOTICES, township_code=TOWNSHIP
    )
    outsider = _api(world.outsider)
    assert outsider.get(f"/api/v1/documents/batches/{batch.pk}/").status_code == 404
    assert outsider.get("/api/v1/documents/batches/").json()["results"] == []
    refused = outsider.post(
        "/api/v1/documents/batches/", {"kind": "notices", "township": TOWNSHIP}, format="json"
    )
    assert refused.status_code == 404


def test_batch_page_refreshes_while_queued_and_links_zip_when_done(
    world: World, client: Client
) -> None:
    world.application_posted(world.household)
    batch = document_batch_request(
        actor=world.reviewer, kind=DocumentBatch.Kind.NOTICES, township_code=TOWNSHIP
    )
    client.force_login(world.reviewer)

    queued = client.get(reverse("documents:batch", args=[batch.pk])).content.decode()
    document_batch_run(batch_id=batch.pk)
    done = client.get(reverse("documents:batch", args=[batch.pk])).content.decode()

    assert 'http-equiv="refresh"' in queued
    assert 'http-equiv="refresh"' not in done
    assert reverse("documents:batch_download", args=[batch.pk]) in done
    zipped = client.get(reverse("documents:batch_download", args=[batch.pk]))
    assert zipped.status_code == 200


def test_batch_page_out_of_area_is_404(world: World, client: Client) -> None:
    batch = document_batch_request(
        actor=world.reviewer, kind=DocumentBatch.Kind.NOTICES, township_code=TOWNSHIP
    )
    client.force_login(world.outsider)
    assert client.get(reverse("documents:batch", args=[batch.pk])).status_code == 404


def test_batch_start_form_redirects_to_progress(world: World, client: Client) -> None:
    user, _created = role_grant(
        actor=None, username="reviewer2", role="township_reviewer", area_code=TOWNSHIP
    )
    client.force_login(user)
    response = client.post(reverse("documents:batches"), {"kind": "notices", "township": TOWNSHIP})
    batch = DocumentBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("documents:batch", args=[batch.pk])


def test_batch_failure_is_recorded_with_its_message(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_approved(world)
    batch = document_batch_request(
        actor=world.reviewer, kind=DocumentBatch.Kind.AGREEMENTS, township_code=TOWNSHIP
    )

    def broken(**kwargs: Any) -> StoredDocument:
        raise OSError("disk full")

    monkeypatch.setattr("documents.services.agreement_issue", broken)
    batch = document_batch_run(batch_id=batch.pk)

    assert batch.status == DocumentBatch.Status.FAILED
    assert "disk full" in batch.error
    assert not batch.zip_file
