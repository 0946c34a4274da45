"""The public notice board (``workflows.views.public``): no sign-in, what is posted now,
never an ID, phone or card number; objections, anonymous allowed, rate-limited per address."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from applications.idnumbers import mask_bank_card, mask_id_number, mask_phone
from applications.models import Application, Household, Person
from approvals.models import Objection
from audit.models import AuditEntry
from tests.factories import (
    VILLAGE_1,
    VILLAGE_2,
    VILLAGE_B,
    World,
    bank_card_number,
    id_number,
    person_name,
)

pytestmark = pytest.mark.django_db
S = Application.Status


@pytest.fixture(autouse=True)
def fresh_rate_limit() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def notice_url(code: str = VILLAGE_1) -> str:
    return reverse("workflows:notice", kwargs={"code": code})


def objection_url(app: Application, code: str = VILLAGE_1) -> str:
    return reverse("workflows:notice_object", kwargs={"code": code, "pk": app.pk})


def text_of(response: Any) -> str:
    return str(response.content.decode())


@pytest.fixture
def numbers() -> dict[str, str]:
    return {
        "head_id": id_number("620902"),
        "member_id": id_number("620902"),
        "card": bank_card_number(),
        "phone": "13987654321",
    }


@pytest.fixture
def posted(world: World, numbers: dict[str, str]) -> Application:
    household = world.household(
        VILLAGE_1,
        head_id_number=numbers["head_id"],
        bank_card=numbers["card"],
        phone=numbers["phone"],
        members=[{"name": person_name(), "id_number": numbers["member_id"], "relation": "spouse"}],
    )
    return world.application(S.POSTED, household=household)


def test_notice_page_shows_posted_applications(world: World, posted: Application) -> None:
    draft = world.application(S.DRAFT, area_code=VILLAGE_1)
    elsewhere = world.application(S.POSTED, area_code=VILLAGE_2)

    response = Client().get(notice_url())

    assert response.status_code == 200
    page = text_of(response)
    assert posted.household.head_name in page
    assert posted.program.name in page
    assert "4000.00" in page
    assert "圈舍" in page and "羊" in page
    assert draft.household.head_name not in page
    assert elsewhere.household.head_name not in page
    assert [r["notice"].application_id for r in response.context["rows"]] == [posted.pk]
    assert response.context["rows"][0]["days_left"] == 7


def test_notice_page_never_shows_id_phone_or_card_numbers(
    world: World, posted: Application, numbers: dict[str, str]
) -> None:
    household = Household.objects.get(pk=posted.household_id)
    members = Person.objects.filter(household=household)

    page = text_of(Client().get(notice_url()))

    forbidden = {
        numbers["head_id"],
        numbers["member_id"],
        mask_id_number(numbers["head_id"]),
        mask_id_number(numbers["member_id"]),
        household.head_id_masked,
        *(m.id_masked for m in members),
        numbers["head_id"][6:14],  # the birth date part
        numbers["card"],
        mask_bank_card(numbers["card"]),
        household.bank_card_masked,
        numbers["card"][-8:],
        numbers["phone"],
        mask_phone(numbers["phone"]),
        numbers["phone"][-4:],
        numbers["phone"][:7],
    }
    for value in forbidden:
        assert value not in page, value


def test_notice_anonymous_objection_is_open_and_audited(posted: Application) -> None:
    response = Client(REMOTE_ADDR="203.0.113.7").post(
        objection_url(posted), {"text": "他家去年已经盖了新房，不符合条件。"}
    )

    assert response.status_code == 302
    assert response["Location"] == notice_url()
    objection = Objection.objects.get(application=posted)
    assert objection.status == Objection.Status.OPEN
    assert objection.raised_by is None
    assert objection.raised_by_name == ""
    entry = AuditEntry.objects.get(action="objection.raise", object_id=str(posted.pk))
    assert (entry.outcome, entry.actor_id, entry.actor_name) == ("done", None, "public")


def test_notice_objection_keeps_optional_name_and_contact(posted: Application) -> None:
    Client().post(
        objection_url(posted), {"text": "收入不实", "raised_by_name": "张三", "contact": "村东头"}
    )

    objection = Objection.objects.get(application=posted)
    assert (objection.raised_by_name, objection.contact) == ("张三", "村东头")


def test_notice_sixth_objection_in_the_hour_is_refused(posted: Application) -> None:
    client = Client(REMOTE_ADDR="198.51.100.9")
    for n in range(5):
        assert client.post(objection_url(posted), {"text": f"异议 {n}"}).status_code == 302
    entries = AuditEntry.objects.count()

    response = client.post(objection_url(posted), {"text": "第六条"})

    assert response.status_code == 429
    assert response.context["error"]
    assert Objection.objects.filter(application=posted).count() == 5
    assert not Objection.objects.filter(text="第六条").exists()
    assert AuditEntry.objects.count() == entries
    other = Client(REMOTE_ADDR="198.51.100.10").post(objection_url(posted), {"text": "另一个"})
    assert other.status_code == 302


def test_notice_invalid_objection_does_not_use_the_quota(posted: Application) -> None:
    client = Client(REMOTE_ADDR="198.51.100.11")
    for _n in range(6):
        assert client.post(objection_url(posted), {"text": "  "}).status_code == 400
    assert client.post(objection_url(posted), {"text": "有效的异议"}).status_code == 302
    assert Objection.objects.filter(application=posted).count() == 1


def test_notice_objection_to_non_posted_application_refused(world: World) -> None:
    submitted = world.application(S.SUBMITTED, area_code=VILLAGE_1)

    response = Client().post(objection_url(submitted), {"text": "不该批"})

    assert response.status_code == 409
    assert response.context["error"]
    assert not Objection.objects.exists()


def test_notice_objection_to_another_villages_application_is_404(world: World) -> None:
    elsewhere = world.application(S.POSTED, area_code=VILLAGE_B)

    response = Client().post(objection_url(elsewhere, code=VILLAGE_1), {"text": "x"})

    assert response.status_code == 404
    assert not Objection.objects.exists()


def test_notice_objection_needs_csrf_token(posted: Application) -> None:
    response = Client(enforce_csrf_checks=True).post(objection_url(posted), {"text": "x"})

    assert response.status_code == 403
    assert not Objection.objects.exists()


@pytest.mark.parametrize("code", ["999999999999", "620902100000", "62090210020", "abc"])
def test_notice_unknown_village_is_404(world: World, code: str) -> None:
    assert Client().get(f"/notice/{code}/").status_code == 404


def test_notice_index_lists_villages_with_postings(world: World, posted: Application) -> None:
    response = Client().get(reverse("workflows:notice_index"))

    assert response.status_code == 200
    assert [(v.code, n, paid) for v, n, paid in response.context["villages"]] == [(VILLAGE_1, 1, 0)]
    assert notice_url() in text_of(response)
    found = Client().get(reverse("workflows:notice_index"), {"q": "泉湖"}).context["villages"]
    assert [v.code for v, _n, _paid in found] == [VILLAGE_2]


def test_sign_in_page_links_to_notice_board(world: World) -> None:
    page = text_of(Client().get(reverse("login")))

    assert reverse("workflows:notice_index") in page


def test_notice_page_speaks_chinese_by_default(posted: Application) -> None:
    page = text_of(Client().get(notice_url()))

    assert "公示栏" in page and "提出异议" in page


def test_notice_objections_are_counted_across_web_processes_in_production(
    posted: Application, settings: Any
) -> None:
    """Production runs several gunicorn processes: the count is in the database's cache
    table, which every process shares (a process's own memory would allow 5 per process)."""
    from django.core.cache import caches

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "fupin_cache",
        }
    }
    client = Client(REMOTE_ADDR="198.51.100.9")
    for n in range(5):
        assert client.post(objection_url(posted), {"text": f"异议 {n}"}).status_code == 302
        caches.close_all()
        del caches["default"]  # the next request as if served by another process

    assert client.post(objection_url(posted), {"text": "第六条"}).status_code == 429


def test_each_posting_has_its_own_blank_objection_form(world: World, posted: Application) -> None:
    # The blank form is rendered once and given each posting's number: it must be exactly
    # what Django renders for that posting's own form.
    from workflows.forms import ObjectionForm
    from workflows.views.public import _objection_fields

    other = world.application(S.POSTED, household=world.household(VILLAGE_1))
    rows = Client().get(notice_url()).context["rows"]
    assert sorted(r["notice"].application_id for r in rows) == sorted([posted.pk, other.pk])
    for row in rows:
        pk = row["notice"].application_id
        assert row["fields"] == _objection_fields(ObjectionForm(public=True, auto_id=f"o{pk}_%s"))
        assert f'id="o{pk}_text"' in row["fields"] and f'for="o{pk}_contact"' in row["fields"]
        # The textarea names its help, which is there under that id.
        assert f'aria-describedby="o{pk}_text_helptext"' in row["fields"]
        assert f'id="o{pk}_text_helptext"' in row["fields"]
        assert "__application__" not in row["fields"]
        assert not row["open"]


def test_a_failed_objection_keeps_what_was_typed_in_its_own_form(
    world: World, posted: Application
) -> None:
    other = world.application(S.POSTED, household=world.household(VILLAGE_1))
    response = Client().post(objection_url(posted), {"text": " ", "raised_by_name": "李四"})
    assert response.status_code == 400
    rows = {r["notice"].application_id: r for r in response.context["rows"]}
    assert rows[posted.pk]["open"] and 'value="李四"' in rows[posted.pk]["fields"]
    assert 'class="errorlist"' in rows[posted.pk]["fields"]
    assert not rows[other.pk]["open"] and "李四" not in rows[other.pk]["fields"]
    assert not Objection.objects.exists()
