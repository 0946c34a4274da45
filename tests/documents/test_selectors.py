"""Reads of stored documents: scope, a code typed from paper, and verification of a code or
an uploaded file."""

from __future__ import annotations

from documents.selectors import (
    Verification,
    document_by_code,
    document_read,
    document_verify,
    documents_visible_to,
)
from documents.services.issuing import agreement_issue
from tests.documents.conftest import World


def test_issued_code_typed_from_paper_finds_the_document(world: World) -> None:
    app = world.application_approved(world.household)
    doc = agreement_issue(actor=world.cadre, application_id=app.pk)
    typed = f"{doc.verification_code[:5].lower()} - {doc.verification_code[5:]}"

    assert document_by_code(typed) == doc


def test_documents_visible_to_stays_in_the_area(world: World) -> None:
    app = world.application_approved(world.household)
    doc = agreement_issue(actor=world.cadre, application_id=app.pk)

    assert doc in documents_visible_to(world.cadre)
    assert doc in documents_visible_to(world.inspector)
    assert doc not in documents_visible_to(world.outsider)


def test_document_verify_by_code_alone_says_issued(world: World) -> None:
    doc = agreement_issue(
        actor=world.cadre, application_id=world.application_approved(world.household).pk
    )

    result = document_verify(code=doc.verification_code)

    assert (result.status, result.document) == (Verification.Status.ISSUED, doc)


def test_document_verify_tells_genuine_altered_and_unknown(world: World) -> None:
    doc = agreement_issue(
        actor=world.cadre, application_id=world.application_approved(world.household).pk
    )
    data = document_read(doc)
    altered = data[:-20] + bytes([data[-20] ^ 1]) + data[-19:]
    assert altered != data

    assert document_verify(data=data).status == Verification.Status.GENUINE
    assert document_verify(code=doc.verification_code, data=altered).status == (
        Verification.Status.ALTERED
    )
    assert document_verify(code="ZZZZZZZZZZ").status == Verification.Status.UNKNOWN
    assert document_verify(data=b"%PDF-1.7 not ours").status == Verification.Status.UNKNOWN
