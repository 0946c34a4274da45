"""The loan pages as their users work them: the cadre files with the calculator beside the
form, the bank officer decides, uploads the contract, draws down and services the loan, the
county settles and approves the interest subsidy and prints the bank's list."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from applications.models import Application
from common import clock
from loans.models import Loan, SubsidyClaim
from loans.services.servicing import loan_repay
from tests.factories import COUNTY, SIGNED_AGREEMENT_PDF, World
from tests.loans.conftest import BANK, LoanWorld, S

TZ = ZoneInfo("Asia/Shanghai")


@contextmanager
def on(day: date) -> Iterator[None]:
    with clock.frozen_at(datetime(day.year, day.month, day.day, 10, tzinfo=TZ)):
        yield


def client_of(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def loan_form(**values: str) -> dict[str, str]:
    return {
        "amount": "10000",
        "months": "36",
        "repayment_method": "interest_only",
        "purpose_category": "livestock",
        "purpose": "买两头牛",
        "bank": BANK,
    } | values


@pytest.mark.django_db
def test_the_cadre_files_a_loan_with_the_repayments_beside_the_form(loans: LoanWorld) -> None:
    household = loans.household()
    cadre = client_of(loans.world.user("cadre_v1"))
    detail = cadre.get(f"/loans/households/{household.pk}/apply/")
    assert detail.status_code == 200
    assert "甘肃农信肃州区联社" in detail.text and "养殖业" in detail.text
    assert "入股分红" not in detail.text  # forbidden purposes are not offered
    preview = cadre.post(f"/loans/households/{household.pk}/apply/", loan_form(preview="1"))
    assert preview.status_code == 200
    # 36 months priced on the five-year LPR (3.5%): the first quarter's interest shown.
    assert 'id="totals"' in preview.text and "3.5" in preview.text
    assert not Application.objects.filter(household=household).exists()
    odd = cadre.post(f"/loans/households/{household.pk}/apply/", loan_form(amount="NaN"))
    assert odd.status_code == 200 and 'id="totals"' not in odd.text
    over = cadre.post(
        f"/loans/households/{household.pk}/apply/", loan_form(amount="60000", file="1")
    )
    assert over.status_code == 400 and "50000" in over.text.replace(",", "")
    assert not Application.objects.filter(household=household).exists()
    filed = cadre.post(f"/loans/households/{household.pk}/apply/", loan_form(file="1"))
    app = Application.objects.get(household=household)
    assert filed.status_code == 302 and filed["Location"].endswith(f"/{app.pk}/")
    assert app.loan.purpose == "买两头牛" and app.loan.bank.code == BANK
    shown = cadre.get(filed["Location"])
    assert 'id="loan-request"' in shown.text and "买两头牛" in shown.text


@pytest.mark.django_db
def test_the_household_page_lists_its_loans_and_offers_one(loans: LoanWorld) -> None:
    loan = loans.loan()
    page = client_of(loans.world.user("cadre_v1")).get(f"/cadre/households/{loan.household_id}/")
    assert page.status_code == 200
    assert (
        loan.reference in page.text and f"/loans/households/{loan.household_id}/apply/" in page.text
    )
    assert "<title>" in page.text and "payment" not in page.text.split("</title>")[0].lower()


@pytest.mark.django_db
def test_the_bank_officer_decides_uploads_draws_and_services(loans: LoanWorld) -> None:
    app = loans.application(S.APPROVED)
    bank = client_of(loans.officer)
    desk = bank.get("/loans/bank/")
    assert desk.status_code == 200 and f"/loans/bank/applications/{app.pk}/" in desk.text
    act = f"/loans/bank/applications/{app.pk}/act/"
    too_dear = bank.post(
        act, {"action": "approve", "approved_amount": "10000", "annual_rate": "9", "months": "36"}
    )
    assert too_dear.status_code == 400 and "3.5%" in too_dear.text
    app.refresh_from_db()
    assert app.status == S.APPROVED
    granted = bank.post(
        act, {"action": "approve", "approved_amount": "10000", "annual_rate": "3", "months": "36"}
    )
    assert granted.status_code == 302
    early = bank.post(
        act,
        {
            "action": "drawdown",
            "date": clock.today().isoformat(),
            "amount": "10000",
            "confirmed": "1",
        },
    )
    assert early.status_code == 400  # the signed contract is not uploaded yet
    scan = SimpleUploadedFile("借款合同.pdf", SIGNED_AGREEMENT_PDF, "application/pdf")
    assert bank.post(act, {"action": "contract", "file": scan}).status_code == 302
    drawn = bank.post(
        act,
        {
            "action": "drawdown",
            "date": clock.today().isoformat(),
            "amount": "10000",
            "confirmed": "1",
        },
    )
    loan = Loan.objects.get(pk=app.pk)
    assert drawn.status_code == 302 and drawn["Location"] == f"/loans/{loan.pk}/"
    repaid = bank.post(
        f"/loans/{loan.pk}/act/",
        {
            "action": "repay",
            "date": clock.today().isoformat(),
            "principal": "100",
            "confirmed": "1",
        },
    )
    assert repaid.status_code == 302
    loan.refresh_from_db()
    assert str(loan.outstanding_principal) == "9900.00"
    bad = bank.post(
        f"/loans/{loan.pk}/act/", {"action": "repay", "date": "2026-02-30", "confirmed": "1"}
    )
    assert bad.status_code == 400
    card = bank.post(f"/documents/loans/{loan.pk}/card/")
    assert card.status_code == 200 and card["Content-Type"] == "application/pdf"
    # Another bank's officer sees none of it.
    other = client_of(loans.other_officer)
    assert other.get(f"/loans/bank/applications/{app.pk}/").status_code == 404
    assert other.get(f"/loans/{loan.pk}/").status_code == 404
    assert client_of(loans.world.user("cadre_v1")).get("/loans/bank/").status_code == 404


@pytest.mark.django_db
def test_a_bad_repayment_file_is_refused_whole_on_the_desk(loans: LoanWorld) -> None:
    loan = loans.loan()
    data = f"{loan.reference},{clock.today().isoformat()},100,0,0\nDK000,2026-01-01,1,0,0\n"
    page = client_of(loans.officer).post(
        "/loans/bank/",
        {"file": SimpleUploadedFile("还款.csv", data.encode(), "text/csv"), "confirmed": "1"},
    )
    assert page.status_code == 400 and "第 2 行" in page.text
    loan.refresh_from_db()
    assert str(loan.outstanding_principal) == "10000.00"


@pytest.mark.django_db
def test_the_county_settles_approves_and_prints_on_the_subsidy_page(
    loans: LoanWorld, world: World
) -> None:
    with on(date(2026, 1, 5)):
        loan = loans.loan()
    with on(date(2026, 3, 20)):
        loan_repay(
            actor=loans.officer,
            loan_id=loan.pk,
            on=clock.today(),
            principal="0",
            interest="61.67",
        )
    finance, approver = client_of(world.user("finance_a")), client_of(world.user("approver_a"))
    with on(date(2026, 3, 21)):
        wrong = finance.post(
            "/loans/subsidies/",
            {"action": "settle", "county": COUNTY, "period_end": "2026-03-21"},
        )
        assert wrong.status_code == 400 and "结算日" in wrong.text
        assert not SubsidyClaim.objects.exists()
        done = finance.post(
            "/loans/subsidies/",
            {"action": "settle", "county": COUNTY, "period_end": "2026-03-20"},
        )
        assert done.status_code == 302
        page = finance.get(done["Location"])
        assert "61.67" in page.text and loan.reference in page.text
        same = finance.post(
            "/loans/subsidies/",
            {
                "action": "approve",
                "county": COUNTY,
                "period_end": "2026-03-20",
                "bank": BANK,
                "confirmed": "1",
            },
        )
        assert same.status_code == 400  # whoever settled may not approve
        approved = approver.post(
            "/loans/subsidies/",
            {
                "action": "approve",
                "county": COUNTY,
                "period_end": "2026-03-20",
                "bank": BANK,
                "confirmed": "1",
            },
        )
        assert approved.status_code == 302
        assert SubsidyClaim.objects.get().status == SubsidyClaim.Status.APPROVED
        pdf = approver.post(
            "/documents/subsidy-lists/",
            {"county": COUNTY, "period_end": "2026-03-20", "bank": BANK, "payee": "household"},
        )
        assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert client_of(loans.officer).get("/loans/subsidies/").status_code == 404
    assert finance.get("/loans/subsidies/?county=620902999000").status_code == 404


@pytest.mark.django_db
def test_each_role_finds_its_loan_pages_from_home(loans: LoanWorld, world: World) -> None:
    assert "/loans/bank/" in client_of(loans.officer).get("/").text
    county = client_of(world.user("finance_a")).get("/").text
    assert "/loans/subsidies/" in county and "/loans/fund/" in county
    assert "/loans/calculator/" in client_of(world.user("cadre_v1")).get("/").text


def test_a_repayment_without_javascript_is_asked_on_a_page_first(loans: LoanWorld) -> None:
    loan = loans.loan()
    bank = client_of(loans.officer)
    form = {"action": "repay", "date": clock.today().isoformat(), "principal": "100"}

    asked = bank.post(f"/loans/{loan.pk}/act/", form)

    assert asked.status_code == 200 and 'id="confirm-page"' in asked.text
    assert "确定登记这笔还款？还款记录登记后不可修改。" in asked.text
    loan.refresh_from_db()
    assert str(loan.outstanding_principal) == "10000.00"
    done = bank.post(f"/loans/{loan.pk}/act/", {**form, "confirmed": "1"})
    assert done.status_code == 302
    loan.refresh_from_db()
    assert str(loan.outstanding_principal) == "9900.00"
