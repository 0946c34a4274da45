"""The finance pages: the list of rounds and drawing one up, the round page with its actions
(approve, cancel, the bank file, the return file), the refusals shown and changing nothing,
the scope (404 outside the area) and the read-only inspector."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext as _

from applications import idnumbers
from applications.models import Application
from audit.models import AuditEntry
from payments.models import PaymentLine, PaymentRound, ReturnImport
from payments.services.bank_files import ReturnFileRefused, bank_return_import
from payments.services.rounds import payment_round_approve, payment_round_create
from tests.factories import COUNTY, World, bank_card_number
from tests.payments.test_services import all_paid, payable, return_file, sent_round

S = Application.Status
RS = PaymentRound.Status
pytestmark = pytest.mark.django_db


def client_for(world: World, username: str) -> Client:
    client = Client()
    client.force_login(world.user(username))
    return client


def draft_round(world: World, n: int = 1) -> PaymentRound:
    payable(world, n)
    return payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )


def approved_round(world: World, n: int = 1) -> PaymentRound:
    round_ = draft_round(world, n)
    return payment_round_approve(actor=world.user("approver_a"), round_id=round_.pk)


def url(round_: PaymentRound, action: str = "") -> str:
    return f"/payments/{round_.pk}/" + (f"{action}/" if action else "")


def form(html: str, form_id: str) -> str:
    """The HTML of the form with this id (empty when the page has none)."""
    found = re.search(rf'<form[^>]*id="{form_id}".*?</form>', html, re.S)
    return found.group(0) if found else ""


def zh(message: str) -> str:
    """A service's message as the page shows it (Simplified Chinese, HTML-escaped)."""
    with translation.override("zh-hans"):
        return str(escape(_(message)))


# --- the list and drawing up -------------------------------------------------------------------


def test_rounds_page_lists_the_rounds_of_the_area(world: World) -> None:
    round_ = draft_round(world)

    response = client_for(world, "finance_a").get("/payments/")

    assert response.status_code == 200
    assert round_.reference in response.content.decode()
    assert f'href="{url(round_)}"' in response.content.decode()


def test_rounds_page_draws_up_a_round_and_redirects_to_it(world: World) -> None:
    apps = payable(world, 2)
    client = client_for(world, "finance_a")
    assert 'id="draw-up"' in client.get("/payments/").content.decode()

    response = client.post("/payments/", {"program": world.program.pk, "area": COUNTY})

    round_ = PaymentRound.objects.get()
    assert response.status_code == 302 and response["Location"] == url(round_)
    assert (round_.status, round_.made_by) == (RS.DRAFT, world.user("finance_a"))
    assert sorted(round_.lines.values_list("application_id", flat=True)) == [a.pk for a in apps]
    assert round_.reference in client.get(url(round_)).content.decode()


def test_drawing_up_with_nothing_payable_shows_the_refusal(world: World) -> None:
    response = client_for(world, "finance_a").post(
        "/payments/", {"program": world.program.pk, "area": COUNTY}
    )

    assert response.status_code == 400
    assert zh("No application of this program is payable in this area now.") in (
        response.content.decode()
    )
    assert not PaymentRound.objects.exists()


# --- approving, cancelling ---------------------------------------------------------------------


def test_the_makers_approval_is_refused_with_the_message_and_changes_nothing(
    world: World,
) -> None:
    round_ = draft_round(world)

    response = client_for(world, "finance_a").post(
        url(round_, "approve"), {"confirmed": "1"}, follow=True
    )

    assert response.status_code == 200
    assert zh("Whoever drew up a payment round may not approve it.") in response.content.decode()
    round_.refresh_from_db()
    assert (round_.status, round_.approved_by, round_.list_sha256) == (RS.DRAFT, None, "")
    assert not AuditEntry.objects.filter(action="payment_round.approve", outcome="done").exists()


def test_the_approver_approves_the_round(world: World) -> None:
    round_ = draft_round(world, 2)

    response = client_for(world, "approver_a").post(url(round_, "approve"), {"confirmed": "1"})

    assert response.status_code == 302 and response["Location"] == url(round_)
    round_.refresh_from_db()
    assert (round_.status, round_.approved_by) == (RS.APPROVED, world.user("approver_a"))
    assert len(round_.list_sha256) == 64


def test_cancel_without_a_reason_shows_the_error_and_changes_nothing(world: World) -> None:
    round_ = draft_round(world)

    response = client_for(world, "approver_a").post(url(round_, "cancel"), {"reason": " "})

    assert response.status_code == 400
    assert zh("Give the reason for cancelling the round.") in response.content.decode()
    round_.refresh_from_db()
    assert round_.status == RS.DRAFT


# --- the bank file -----------------------------------------------------------------------------


def test_the_first_download_gives_the_file_and_marks_the_round_sent(world: World) -> None:
    round_ = approved_round(world, 2)
    client = client_for(world, "finance_a")
    assert 'id="first-download-form"' in client.get(url(round_)).content.decode()

    response = client.post(url(round_, "bank-file"), {"format": "txt", "confirmed": "1"})

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{round_.reference}.txt"'
    text = response.content.decode("gb18030")
    assert text.startswith(f"H|{round_.reference}|")
    for line in round_.lines.all():
        assert f"|{idnumbers.decrypt(line.card_cipher)}|" in text
    round_.refresh_from_db()
    assert round_.status == RS.SENT and round_.sent_at is not None
    assert set(round_.lines.values_list("status", flat=True)) == {PaymentLine.Status.SENT}
    page = client.get(url(round_)).content.decode()
    assert f'href="{url(round_, "bank-file")}?format=xlsx"' in page


def test_a_get_of_an_approved_rounds_file_changes_nothing(world: World) -> None:
    round_ = approved_round(world)

    response = client_for(world, "finance_a").get(url(round_, "bank-file") + "?format=txt")

    assert response.status_code == 302 and response["Location"] == url(round_)
    round_.refresh_from_db()
    assert round_.status == RS.APPROVED
    assert not AuditEntry.objects.filter(action="payment_round.export").exists()


# --- the return file ---------------------------------------------------------------------------


def test_a_good_return_file_reconciles_the_round_and_the_page_shows_it(world: World) -> None:
    round_, apps = sent_round(world, 2)
    first, second = round_.lines.order_by("reference")
    answers = all_paid(round_) | {second.reference: ("3001", "账户已销户", None)}
    client = client_for(world, "finance_a")

    response = client.post(
        url(round_, "bank-return"),
        {"file": SimpleUploadedFile("return.txt", return_file(round_, answers)), "confirmed": "1"},
    )

    assert response.status_code == 302 and response["Location"] == url(round_)
    round_.refresh_from_db()
    assert round_.status == RS.RECONCILED
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (PaymentLine.Status.PAID, PaymentLine.Status.FAILED)
    assert Application.objects.get(pk=first.application_id).status == S.DISBURSED
    page = client.get(url(round_)).content.decode()
    summary = page[page.index('id="reconciliation"') :]
    assert re.search(r"data-paid>.*?<div class=\"n\">1</div>", summary, re.S)
    assert re.search(r"data-failed>.*?<div class=\"n\">1</div>", summary, re.S)
    assert "账户已销户" in summary
    assert 'id="upload-form"' not in page  # reconciled: nothing more to upload


def test_a_bad_return_file_shows_every_problem_and_changes_nothing(world: World) -> None:
    round_, _apps = sent_round(world, 2)
    first, second = round_.lines.order_by("reference")
    data = return_file(round_, all_paid(round_))
    data = data.replace(first.payee_name.encode("gb18030"), "王五".encode("gb18030"), 1)
    card = idnumbers.decrypt(second.card_cipher)
    data = data.replace(card.encode(), bank_card_number().encode(), 1)
    with translation.override("zh-hans"), pytest.raises(ReturnFileRefused) as refused:
        bank_return_import(actor=world.user("finance_a"), round_id=round_.pk, data=data)
    sentences = refused.value.as_dict()["file"]
    assert len(sentences) >= 2
    done_before = AuditEntry.objects.filter(outcome="done").count()

    response = client_for(world, "finance_a").post(
        url(round_, "bank-return"),
        {"file": SimpleUploadedFile("return.txt", data), "confirmed": "1"},
    )

    assert response.status_code == 400
    problems = re.search(
        r'<ul class="errorlist" id="upload-problems">(.*?)</ul>', response.content.decode(), re.S
    )
    assert problems is not None
    assert re.findall(r"<li>(.*?)</li>", problems.group(1)) == [escape(s) for s in sentences]
    round_.refresh_from_db()
    assert round_.status == RS.SENT
    assert set(round_.lines.values_list("status", flat=True)) == {PaymentLine.Status.SENT}
    assert not ReturnImport.objects.exists()
    assert AuditEntry.objects.filter(outcome="done").count() == done_before


# --- scope and roles ---------------------------------------------------------------------------


def test_an_outsider_gets_404_everywhere(world: World) -> None:
    round_ = draft_round(world)
    client = client_for(world, "finance_b")

    assert round_.reference not in client.get("/payments/").content.decode()
    assert client.get(url(round_)).status_code == 404
    assert client.post(url(round_, "approve")).status_code == 404
    assert client.post(url(round_, "cancel"), {"reason": "x"}).status_code == 404
    assert client.post(url(round_, "bank-file"), {"format": "txt"}).status_code == 404
    round_.refresh_from_db()
    assert round_.status == RS.DRAFT


def test_an_inspector_sees_both_pages_without_any_form(world: World) -> None:
    draft = draft_round(world)
    sent, _apps = sent_round(world, 1)
    client = client_for(world, "inspector_a")

    listing = client.get("/payments/")
    assert listing.status_code == 200
    assert draft.reference in listing.content.decode()
    assert 'id="draw-up"' not in listing.content.decode()
    for round_ in (draft, sent):
        response = client.get(url(round_))
        assert response.status_code == 200
        page = response.content.decode()
        assert round_.reference in page
        main = page[page.index("<main>") :]
        assert 'method="post"' not in main
        assert "/bank-file/" not in main and "data-confirm" not in main


def test_the_pages_ask_to_confirm_approve_and_upload(world: World) -> None:
    draft = draft_round(world)
    sent, _apps = sent_round(world, 1)

    approve = form(client_for(world, "approver_a").get(url(draft)).content.decode(), "approve-form")
    upload = form(client_for(world, "finance_a").get(url(sent)).content.decode(), "upload-form")

    assert f'action="{url(draft, "approve")}"' in approve
    assert "csrfmiddlewaretoken" in approve and "data-confirm=" in approve
    assert f'action="{url(sent, "bank-return")}"' in upload
    assert 'enctype="multipart/form-data"' in upload
    assert "csrfmiddlewaretoken" in upload and "data-confirm=" in upload


def test_the_home_page_links_the_finance_pages_for_finance_roles_only(world: World) -> None:
    for username, shown in (("finance_a", True), ("inspector_a", True), ("cadre_v1", False)):
        page = client_for(world, username).get("/").content.decode()
        assert ('href="/payments/"' in page) is shown, username


def test_the_application_pages_show_its_payment_history_with_the_banks_reason(
    world: World,
) -> None:
    from django.test import Client

    from payments.services.bank_files import bank_return_import
    from tests.payments.test_services import return_file, sent_round

    round_, _apps = sent_round(world, 1)
    line = round_.lines.get()
    bank_return_import(
        actor=world.user("finance_a"),
        round_id=round_.pk,
        data=return_file(round_, {line.reference: ("3002", "户名不符", None)}),
    )

    def page(username: str, url: str) -> str:
        client = Client()
        client.force_login(world.user(username))
        response = client.get(url)
        assert response.status_code == 200
        return response.content.decode()

    cadre = page("cadre_v1", f"/cadre/applications/{line.application_id}/")
    finance = page("finance_a", f"/applications/{line.application_id}/")

    for html in (cadre, finance):
        assert f'data-line="{line.reference}"' in html and "户名不符" in html
    assert f"/payments/{round_.pk}/" in finance and f"/payments/{round_.pk}/" not in cadre


def test_the_household_page_shows_its_payment_history_to_the_cadre(world: World) -> None:
    round_, apps = sent_round(world, 1)
    [line] = round_.lines.all()
    bank_return_import(
        actor=world.user("finance_a"),
        round_id=round_.pk,
        data=return_file(round_, {line.reference: ("3002", "户名不符", None)}),
    )

    page = client_for(world, "cadre_v1").get(f"/cadre/households/{apps[0].household_id}/")

    body = page.content.decode()
    assert page.status_code == 200
    assert f'data-line="{line.reference}"' in body and "户名不符" in body
    assert f'href="/cadre/applications/{apps[0].pk}/"' in body
    # The cadre sees the outcome, not the county's round page.
    assert f'href="/payments/{round_.pk}/"' not in body


def test_an_excluded_application_links_to_its_decision_page_for_finance(world: World) -> None:
    payable(world, 1)
    unsigned = world.application(S.APPROVED)
    round_ = payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )

    finance = client_for(world, "finance_a").get(f"/payments/{round_.pk}/").content.decode()
    inspector = client_for(world, "inspector_a").get(f"/payments/{round_.pk}/").content.decode()

    assert f'href="/review/applications/{unsigned.pk}/"' in finance
    assert f'href="/review/applications/{unsigned.pk}/"' not in inspector


def test_approving_a_round_without_javascript_asks_on_a_page_first(world: World) -> None:
    round_ = draft_round(world, 2)
    client = client_for(world, "approver_a")

    asked = client.post(url(round_, "approve"))

    assert asked.status_code == 200
    html = asked.content.decode()
    assert 'id="confirm-page"' in html and str(round_.total) in html
    round_.refresh_from_db()
    assert (round_.status, round_.approved_by) == (RS.DRAFT, None)


def test_a_return_file_without_javascript_is_asked_for_again_on_the_confirm_page(
    world: World,
) -> None:
    round_, _apps = sent_round(world, 1)
    client = client_for(world, "finance_a")

    asked = client.post(
        url(round_, "bank-return"),
        {"file": SimpleUploadedFile("return.txt", return_file(round_, all_paid(round_)))},
    )

    html = asked.content.decode()
    assert asked.status_code == 200
    assert 'enctype="multipart/form-data"' in html
    assert re.search(r'<input type="file"[^>]*name="file" required>', html)
    round_.refresh_from_db()
    assert round_.status == RS.SENT
    assert not round_.lines.filter(status=PaymentLine.Status.PAID).exists()
