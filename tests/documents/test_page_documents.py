"""Documents from the pages (issue 13, item 1): every document a role may issue is one
button on the page where it is needed, and the page says whether it was issued, when, and
its verification code."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from documents.models import DocumentBatch, StoredDocument
from tests.documents.conftest import TOWNSHIP, VILLAGE, World


def _row(html: str, kind: str) -> str:
    match = re.search(rf'<tr data-document="{kind}">(.*?)</tr>', html, re.S)
    assert match is not None, f"no {kind} row"
    return match.group(1)


def _issue(client: Client, kind: str, page: str, **subject: object) -> object:
    return client.post(reverse("documents:issue"), {"kind": kind, "next": page, **subject})


def test_cadre_issues_the_agreement_from_the_application_page(world: World, client: Client) -> None:
    app = world.application_approved(world.household)
    page = reverse("workflows:cadre_application", args=[app.pk])
    client.force_login(world.cadre)

    before = _row(client.get(page).content.decode(), "agreement")
    response = _issue(client, "agreement", page, application=app.pk)

    assert "尚未出具" in before
    assert 'name="kind" value="agreement"' in before
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert response["Content-Type"] == "application/pdf"  # type: ignore[index]
    document = StoredDocument.objects.get(kind="agreement", application=app)
    after = _row(client.get(page).content.decode(), "agreement")
    assert document.verification_code in after
    assert reverse("documents:download", args=[document.pk]) in after
    assert 'name="kind"' not in after  # issued once: download it, do not issue again


def test_the_decision_page_offers_the_decision_letter_and_agreement(
    world: World, client: Client
) -> None:
    app = world.application_approved(world.household)
    client.force_login(world.approver)

    html = client.get(reverse("workflows:application", args=[app.pk])).content.decode()

    assert 'name="kind" value="decision_letter"' in _row(html, "decision_letter")
    assert 'name="kind" value="agreement"' in _row(html, "agreement")
    _issue(client, "decision_letter", "/", application=app.pk)
    letter = StoredDocument.objects.get(kind="decision_letter", application=app)
    html = client.get(reverse("workflows:decide", args=[app.pk])).content.decode()
    assert letter.verification_code in _row(html, "decision_letter")


def test_inspector_sees_issued_documents_but_has_no_issue_button(
    world: World, client: Client
) -> None:
    app = world.application_approved(world.household)
    client.force_login(world.inspector)

    html = client.get(reverse("workflows:application", args=[app.pk])).content.decode()

    assert 'name="kind"' not in _row(html, "agreement")
    refused = _issue(client, "agreement", "/inspect/", application=app.pk)
    assert refused.status_code == 302  # type: ignore[attr-defined]
    assert refused["Location"] == "/inspect/"  # type: ignore[index]
    assert not StoredDocument.objects.exists()


def test_a_refused_issue_goes_back_with_the_message_and_stores_nothing(
    world: World, client: Client
) -> None:
    app = world.application_posted(world.household)
    page = reverse("workflows:cadre_application", args=[app.pk])
    client.force_login(world.cadre)

    response = _issue(client, "agreement", page, application=app.pk)

    assert response.status_code == 302  # type: ignore[attr-defined]
    assert response["Location"] == page  # type: ignore[index]
    shown = client.get(page).content.decode()
    assert "只有已审批的申请才能出具协议书" in shown
    assert not StoredDocument.objects.exists()
    assert not AuditEntry.objects.filter(action="document.issue").exists()


def test_issue_never_redirects_off_the_site(world: World, client: Client) -> None:
    app = world.application_posted(world.household)
    client.force_login(world.cadre)

    response = _issue(client, "agreement", "https://evil.example/", application=app.pk)

    assert response["Location"] == reverse("workflows:home")  # type: ignore[index]


def test_village_notice_from_the_village_page_and_a_new_one_when_postings_change(
    world: World, client: Client
) -> None:
    world.application_posted(world.household)
    page = reverse("workflows:cadre_village")
    client.force_login(world.cadre)

    assert f'name="village" value="{VILLAGE}"' in _row(client.get(page).content.decode(), "notice")
    _issue(client, "notice", page, village=VILLAGE)
    first = StoredDocument.objects.get(kind="notice")
    assert first.verification_code in _row(client.get(page).content.decode(), "notice")

    world.application_posted(world.household_new("王怀玉", 2, "6222020200112345679", "13812345679"))
    row = _row(client.get(page).content.decode(), "notice")
    # The set of postings changed: the current notice is not issued; the old one is listed.
    assert 'name="kind" value="notice"' in row
    assert first.verification_code in row


def test_benefits_card_from_the_household_page(world: World, client: Client) -> None:
    world.application_approved(world.household)
    page = reverse("workflows:cadre_household", args=[world.household.pk])
    client.force_login(world.cadre)

    _issue(client, "benefits_card", page, household=world.household.pk)

    card = StoredDocument.objects.get(kind="benefits_card")
    assert card.verification_code in _row(client.get(page).content.decode(), "benefits_card")


def test_a_kind_the_page_does_not_issue_is_refused_with_a_message(
    world: World, client: Client
) -> None:
    app = world.application_approved(world.household)
    page = reverse("workflows:cadre_application", args=[app.pk])
    client.force_login(world.cadre)

    response = _issue(client, "payment_list", page, application=app.pk)

    assert response.status_code == 302  # type: ignore[attr-defined]
    assert "请选择文书类别。" in client.get(page).content.decode()
    assert not StoredDocument.objects.exists()


def test_batches_page_tells_a_cadre_who_requests_batches(world: World, client: Client) -> None:
    client.force_login(world.cadre)

    page = client.get(reverse("documents:batches"))
    refused = client.post(reverse("documents:batches"), {"kind": "notices", "township": TOWNSHIP})

    assert page.status_code == 200
    assert 'id="no-townships"' in page.content.decode()
    assert 'name="township"' not in page.content.decode()
    # Not a 404 page: the batches page with the reason, and nothing queued.
    assert refused.status_code == 400
    assert 'id="error"' in refused.content.decode()
    assert not DocumentBatch.objects.exists()


def test_home_links_the_batches_for_a_township_reviewer_only(world: World, client: Client) -> None:
    client.force_login(world.reviewer)
    assert reverse("documents:batches") in client.get(reverse("workflows:home")).content.decode()
    client.force_login(world.cadre)
    assert (
        reverse("documents:batches") not in client.get(reverse("workflows:home")).content.decode()
    )
