"""``manage.py verify_files`` (``operations.files``): every issued document and attachment on
disk against the size and SHA-256 the database holds for it."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from applications.models import Application
from documents.models import StoredDocument
from documents.services.issuing import agreement_issue
from operations.files import stored_files_check
from tests.factories import S, World, upload_signed_agreement

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(world: World) -> tuple[StoredDocument, Application]:
    app = world.application(S.APPROVED)
    document = agreement_issue(actor=world.user("cadre_v1"), application_id=app.pk)
    upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)
    return document, app


def run() -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("verify_files", stdout=out, stderr=out)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue()
    return 0, out.getvalue()


def test_files_as_stored_pass(stored: tuple[StoredDocument, Application]) -> None:
    code, out = run()

    assert code == 0, out
    assert out.startswith("OK: 2 stored files match their hashes.")


def test_an_altered_document_is_named(
    stored: tuple[StoredDocument, Application], settings: object
) -> None:
    document, _ = stored
    path = document.file.path
    with open(path, "r+b") as stream:  # the same size, one byte different
        first = stream.read(1)
        stream.seek(0)
        stream.write(bytes([first[0] ^ 1]))

    code, out = run()

    assert code == 1
    assert f"FAILED: document {document.pk}: {document.file.name} does not match its SHA-256" in out


def test_a_missing_or_cut_file_is_named(stored: tuple[StoredDocument, Application]) -> None:
    document, app = stored
    attachment = app.attachments.get()
    document.file.storage.delete(document.file.name)
    with open(attachment.file.path, "ab") as stream:
        stream.write(b"x")

    report = stored_files_check()

    assert report.checked == 2
    assert report.problems == [
        f"document {document.pk}: {document.file.name} is missing",
        f"attachment {attachment.pk}: {attachment.file.name} has {attachment.size + 1} bytes, "
        f"not {attachment.size}",
    ]
