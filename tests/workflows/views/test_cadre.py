"""The village cadre's pages (``workflows.views.cadre``), through Django's test client."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from applications.models import Application, Household
from approvals.models import Attachment, Objection
from audit.models import AuditEntry
from tests.factories import (
    SIGNED_AGREEMENT_PDF,
    VILLAGE_1,
    VILLAGE_2,
    World,
    bank_card_number,
    declare_kin,
    id_number,
    with_wrong_check_digit,
)

S = Application.Status


def client_for(world: World, username: str) -> Client:
    client = Client()
    client.force_login(world.user(username))
    return client


def page(response: Any) -> str:
    return str(response.content.decode())


def register_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "area": VILLAGE_1,
        "head_name": "马永福",
        "head_id_number": id_number(),
        "bank_card": bank_card_number(),
        "bank_card_holder": "马永福",
        "phone": "13809371234",
        "household_type": Household.Kind.GENERAL,
        "poverty_causes": [Household.Cause.CAPITAL, Household.Cause.SKILLS],
        "members-TOTAL_FORMS": "2",
        "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "30",
        "members-0-name": "",
        "members-0-id_number": "",
        "members-0-relation": "",
        "members-1-name": "",
        "members-1-id_number": "",
        "members-1-relation": "",
    }
    data.update(overrides)
    return data


# --- find a household ----------------------------------------------------------------------


@pytest.mark.django_db
def test_search_by_name_returns_only_households_in_the_cadres_village(world: World) -> None:
    mine = world.household(VILLAGE_1, head_name="王测试甲")
    theirs = world.household(VILLAGE_2, head_name="王测试乙")

    response = client_for(world, "cadre_v1").get(
        reverse("workflows:cadre_households"), {"q": "测试"}
    )

    assert response.status_code == 200
    assert list(response.context["results"]) == [mine]
    assert "王测试甲" in page(response)
    assert theirs.head_name not in page(response)
    assert reverse("workflows:cadre_household", args=[mine.pk]) in page(response)


@pytest.mark.django_db
def test_search_by_last_four_digits_returns_only_households_in_scope(world: World) -> None:
    mine_number = id_number()
    mine = world.household(VILLAGE_1, head_id_number=mine_number)
    theirs_number = id_number()
    world.household(VILLAGE_2, head_id_number=theirs_number)
    client = client_for(world, "cadre_v1")

    found = client.get(reverse("workflows:cadre_households"), {"q": mine_number[-4:]})
    other = client.get(reverse("workflows:cadre_households"), {"q": theirs_number[-4:]})

    assert mine in found.context["results"]
    assert all(h.head_id_masked.endswith(mine_number[-4:]) for h in found.context["results"])
    assert all(h.area_code == VILLAGE_1 for h in other.context["results"])
    assert not any(h.head_id_masked.endswith(theirs_number[-4:]) for h in other.context["results"])


@pytest.mark.django_db
def test_search_page_is_refused_to_a_user_without_the_cadre_role(world: World) -> None:
    response = client_for(world, "reviewer_t1").get(reverse("workflows:cadre_households"))

    assert response.status_code == 403


# --- register a household ------------------------------------------------------------------


@pytest.mark.django_db
def test_register_with_a_bad_check_digit_shows_the_field_error_and_saves_nothing(
    world: World,
) -> None:
    before = Household.objects.count()
    bad = with_wrong_check_digit(id_number())

    response = client_for(world, "cadre_v1").post(
        reverse("workflows:cadre_household_create"), register_data(head_id_number=bad)
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["head_id_number"]
    assert escape(errors["head_id_number"][0]) in page(response)
    assert Household.objects.count() == before


@pytest.mark.django_db
def test_an_over_long_name_is_refused_not_cut_by_the_browser(world: World) -> None:
    client = client_for(world, "cadre_v1")
    form = page(client.get(reverse("workflows:cadre_household_create")))
    # No maxlength: a pasted 10,000-character name reaches the server whole ...
    assert "maxlength" not in form
    before = Household.objects.count()

    response = client.post(
        reverse("workflows:cadre_household_create"), register_data(head_name="王" * 10_000)
    )

    # ... and is refused with the field's message, nothing saved.
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["head_name"]
    assert Household.objects.count() == before


@pytest.mark.django_db
def test_register_reports_every_fields_problem_at_once(world: World) -> None:
    data = register_data(head_id_number=with_wrong_check_digit(id_number()))
    data.pop("poverty_causes", None)

    response = client_for(world, "cadre_v1").post(reverse("workflows:cadre_household_create"), data)

    # No cause chosen and a wrong check digit: both said on the first try.
    assert {"poverty_causes", "head_id_number"} <= set(response.context["form"].errors)


@pytest.mark.django_db
def test_register_with_members_creates_the_household_and_opens_its_page(world: World) -> None:
    data = register_data(
        **{
            "members-0-name": "马秀英",
            "members-0-id_number": id_number(),
            "members-0-relation": "spouse",
        }
    )

    response = client_for(world, "cadre_v1").post(reverse("workflows:cadre_household_create"), data)

    household = Household.objects.get(head_name="马永福", area_code=VILLAGE_1)
    assert response.status_code == 302
    assert response["Location"] == reverse("workflows:cadre_household", args=[household.pk])
    assert sorted(household.members.values_list("relation", flat=True)) == ["head", "spouse"]


@pytest.mark.django_db
def test_register_a_duplicate_id_number_shows_the_services_message(world: World) -> None:
    number = id_number()
    world.household(VILLAGE_1, head_id_number=number)
    before = Household.objects.count()

    response = client_for(world, "cadre_v1").post(
        reverse("workflows:cadre_household_create"), register_data(head_id_number=number)
    )

    assert response.status_code == 200
    assert response.context["form"].errors["head_id_number"]
    assert Household.objects.count() == before


@pytest.mark.django_db
def test_register_with_a_card_in_another_name_shows_the_field_error_and_saves_nothing(
    world: World,
) -> None:
    before = Household.objects.count()

    response = client_for(world, "cadre_v1").post(
        reverse("workflows:cadre_household_create"), register_data(bank_card_holder="马永贵")
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["bank_card_holder"]
    assert "马永贵" in errors["bank_card_holder"][0]
    assert Household.objects.count() == before


@pytest.mark.django_db
def test_file_application_for_the_cadres_own_relative_is_refused(world: World) -> None:
    relative = id_number()
    household = world.household(VILLAGE_1, head_id_number=relative)
    declare_kin(official=world.user("cadre_v1"), relation="parent", id_number=relative)

    response = client_for(world, "cadre_v1").post(
        reverse("workflows:cadre_application_create", args=[household.pk]),
        {"program": world.program.pk, "item_pen": "1"},
    )

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert not Application.objects.filter(household=household).exists()


# --- file an application -------------------------------------------------------------------


@pytest.mark.django_db
def test_file_application_computes_the_amount_on_the_server(world: World) -> None:
    household = world.household(VILLAGE_1)
    client = client_for(world, "cadre_v1")
    url = reverse("workflows:cadre_application_create", args=[household.pk])

    form_page = client.get(url)
    response = client.post(
        url,
        # A forged amount is ignored: only item quantities are read.
        {"program": world.program.pk, "item_pen": "1", "item_sheep": "5", "amount": "1"},
    )

    assert 'data-unit-amount="3000.00"' in page(form_page)
    app = Application.objects.get(household=household)
    assert str(app.amount) == "4000.00"
    assert response.status_code == 302
    assert response["Location"] == reverse("workflows:cadre_application", args=[app.pk])


@pytest.mark.django_db
def test_file_application_over_the_cap_is_refused_with_a_message(world: World) -> None:
    household = world.household(VILLAGE_1)

    response = client_for(world, "cadre_v1").post(
        reverse("workflows:cadre_application_create", args=[household.pk]),
        {"program": world.program.pk, "item_pen": "1", "item_sheep": "20"},  # 7000 > 5000
    )

    assert response.status_code == 200
    message = response.context["form"].non_field_errors()[0]
    assert "7000.00" in message and "5000.00" in message
    assert escape(message) in page(response)
    assert not Application.objects.filter(household=household).exists()


@pytest.mark.django_db
def test_file_application_page_previews_what_the_household_may_still_receive(
    world: World,
) -> None:
    household = world.household(VILLAGE_1)
    url = reverse("workflows:cadre_application_create", args=[household.pk])
    client = client_for(world, "cadre_v1")
    assert client.get(url, {"program": world.program.pk}).context["available"] == Decimal("5000")

    app = world.application(S.APPROVED, household=household)  # 4000 yuan

    assert client.get(url, {"program": world.program.pk}).context["available"] == Decimal("1000")
    page_of_app = client.get(reverse("workflows:cadre_application", args=[app.pk]))
    assert page_of_app.context["available"] == Decimal("1000")


# --- the application page ------------------------------------------------------------------


@pytest.mark.django_db
def test_appraisal_then_submit_then_start_posting_through_the_pages(world: World) -> None:
    app = world.application(S.DRAFT, appraised=False)
    client = client_for(world, "cadre_v1")
    detail = reverse("workflows:cadre_application", args=[app.pk])
    step = reverse("workflows:cadre_application_step", args=[app.pk])

    refused = client.post(step, {"step": "submit"}, follow=True)
    app.refresh_from_db()
    assert app.status == S.DRAFT
    assert [m.level_tag for m in refused.context["messages"]] == ["error"]

    saved = client.post(
        reverse("workflows:cadre_application_appraisal", args=[app.pk]),
        {
            "appraisal_date": (timezone.localdate() - timedelta(days=2)).isoformat(),
            "appraisal_attendees": "25",
            "appraisal_votes_for": "22",
            "appraisal_votes_against": "2",
        },
    )
    assert saved.status_code == 302 and saved["Location"] == detail
    submitted = client.post(step, {"step": "submit"})
    assert submitted.status_code == 302
    app.refresh_from_db()
    assert app.status == S.SUBMITTED
    client.post(step, {"step": "start_posting"})

    app.refresh_from_db()
    assert app.status == S.POSTED
    assert app.appraisal_attendees == 25 and app.appraisal_votes_for == 22
    assert app.posting_ends_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_saved_appraisal_date_is_rendered_as_the_date_input_shows_it(
    world: World, language: str
) -> None:
    app = world.application(S.DRAFT, appraised=False)
    client = client_for(world, "cadre_v1")
    day = timezone.localdate() - timedelta(days=3)
    client.post(
        reverse("workflows:cadre_application_appraisal", args=[app.pk]),
        {
            "appraisal_date": day.isoformat(),
            "appraisal_attendees": "25",
            "appraisal_votes_for": "22",
            "appraisal_votes_against": "2",
        },
    )
    client.cookies["django_language"] = language

    html = page(client.get(reverse("workflows:cadre_application", args=[app.pk])))

    # ``<input type="date">`` shows only YYYY-MM-DD; 2026/12/04 would look empty.
    assert f'name="appraisal_date" value="{day.isoformat()}"' in html


@pytest.mark.django_db
def test_a_vote_without_a_majority_for_is_recorded_only_when_confirmed(world: World) -> None:
    app = world.application(S.DRAFT, appraised=False)
    client = client_for(world, "cadre_v1")
    url = reverse("workflows:cadre_application_appraisal", args=[app.pk])
    vote = {
        "appraisal_date": (timezone.localdate() - timedelta(days=1)).isoformat(),
        "appraisal_attendees": "30",
        "appraisal_votes_for": "5",
        "appraisal_votes_against": "20",
    }

    warned = client.post(url, vote)

    assert warned.status_code == 400
    assert 'name="confirm"' in page(warned)
    app.refresh_from_db()
    assert app.appraisal_votes_for is None
    confirmed = client.post(url, {**vote, "confirm": "1"})
    assert confirmed.status_code == 302
    saved = Application.objects.get(pk=app.pk)
    assert (saved.appraisal_votes_for, saved.appraisal_votes_against) == (5, 20)


@pytest.mark.django_db
def test_appraisal_with_more_votes_than_attendees_shows_the_field_error(world: World) -> None:
    app = world.application(S.DRAFT, appraised=False)

    response = client_for(world, "cadre_v1").post(
        reverse("workflows:cadre_application_appraisal", args=[app.pk]),
        {
            "appraisal_date": timezone.localdate().isoformat(),
            "appraisal_attendees": "5",
            "appraisal_votes_for": "5",
            "appraisal_votes_against": "3",
        },
    )

    assert response.status_code == 400
    assert response.context["appraisal_form"].errors["appraisal_votes_for"]
    app.refresh_from_db()
    assert app.appraisal_attendees is None


@pytest.mark.django_db
def test_edit_items_recomputes_the_amount(world: World) -> None:
    app = world.application(S.DRAFT)

    client_for(world, "cadre_v1").post(
        reverse("workflows:cadre_application_items", args=[app.pk]),
        {"item_pen": "0", "item_sheep": "7"},
    )

    app.refresh_from_db()
    assert str(app.amount) == "1400.00"


@pytest.mark.django_db
def test_upload_attachment_stores_the_file(world: World) -> None:
    app = world.application(S.DRAFT)

    response = client_for(world, "cadre_v1").post(
        reverse("workflows:cadre_application_attach", args=[app.pk]),
        {
            "kind": Attachment.Kind.CONSENT_FORM,
            "file": SimpleUploadedFile("同意书.pdf", SIGNED_AGREEMENT_PDF, "application/pdf"),
        },
    )

    assert response.status_code == 302
    attachment = Attachment.objects.get(application=app)
    assert attachment.kind == Attachment.Kind.CONSENT_FORM
    assert attachment.original_name == "同意书.pdf"


@pytest.mark.django_db
def test_upload_of_a_wrong_file_type_shows_the_services_message(world: World) -> None:
    app = world.application(S.DRAFT)

    response = client_for(world, "cadre_v1").post(
        reverse("workflows:cadre_application_attach", args=[app.pk]),
        {
            "kind": Attachment.Kind.PHOTO,
            "file": SimpleUploadedFile("photo.jpg", b"MZ not an image", "image/jpeg"),
        },
    )

    assert response.status_code == 400
    message = response.context["attachment_form"].errors["file"][0]
    assert escape(message) in page(response)
    assert not Attachment.objects.filter(application=app).exists()


@pytest.mark.django_db
def test_objection_heard_during_posting_is_recorded(world: World) -> None:
    app = world.application(S.POSTED)

    response = client_for(world, "cadre_v1").post(
        reverse("workflows:cadre_application_objection", args=[app.pk]),
        {"text": "村民反映该户家中有货车", "raised_by_name": "张三"},
    )

    assert response.status_code == 302
    objection = Objection.objects.get(application=app)
    assert objection.raised_by == world.user("cadre_v1")
    assert objection.status == Objection.Status.OPEN


@pytest.mark.django_db
def test_withdraw_is_a_button_on_the_page_and_takes_effect(world: World) -> None:
    app = world.application(S.SUBMITTED)
    client = client_for(world, "cadre_v1")

    detail = client.get(reverse("workflows:cadre_application", args=[app.pk]))
    client.post(
        reverse("workflows:cadre_application_step", args=[app.pk]),
        {"step": "withdraw", "confirmed": "1"},
    )

    assert 'value="withdraw"' in page(detail)
    app.refresh_from_db()
    assert app.status == S.WITHDRAWN


# --- scope ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["cadre_v2", "cadre_b"])
def test_cadre_of_another_village_gets_404_for_household_and_application(
    world: World, username: str
) -> None:
    app = world.application(S.DRAFT)
    client = client_for(world, username)

    urls = [
        reverse("workflows:cadre_household", args=[app.household_id]),
        reverse("workflows:cadre_application_create", args=[app.household_id]),
        reverse("workflows:cadre_application", args=[app.pk]),
    ]
    posted = client.post(
        reverse("workflows:cadre_application_step", args=[app.pk]),
        {"step": "withdraw", "confirmed": "1"},
    )

    assert [client.get(url).status_code for url in urls] == [404, 404, 404]
    assert posted.status_code == 404
    app.refresh_from_db()
    assert app.status == S.DRAFT
    assert AuditEntry.objects.filter(
        object_type="application", object_id=str(app.pk), action="application.view"
    ).exists()


@pytest.mark.django_db
def test_my_village_lists_only_the_cadres_applications(world: World) -> None:
    mine = world.application(S.SUBMITTED)
    theirs = world.application(S.DRAFT, area_code=VILLAGE_2)

    response = client_for(world, "cadre_v1").get(reverse("workflows:cadre_village"))

    listed = list(response.context["page"].object_list)
    assert mine in listed and theirs not in listed
    assert reverse("workflows:cadre_application", args=[mine.pk]) in page(response)


@pytest.mark.django_db
def test_home_shows_cadre_links_only_to_cadres(world: World) -> None:
    cadre_home = client_for(world, "cadre_v1").get(reverse("workflows:home"))
    reviewer_home = client_for(world, "reviewer_t1").get(reverse("workflows:home"))

    link = reverse("workflows:cadre_households")
    assert link in page(cadre_home)
    assert link not in page(reviewer_home)


@pytest.mark.django_db
def test_home_names_the_areas_of_the_users_roles(world: World) -> None:
    home = page(client_for(world, "cadre_v1").get(reverse("workflows:home")))

    assert "四坝村" in home and VILLAGE_1 in home
    # The tiles of open states link to the queue filtered by that state.
    assert 'href="/review/queue/?state=township_review"' in home
    assert "?state=disbursed" not in home


@pytest.mark.django_db
def test_markup_in_a_name_is_shown_escaped(world: World) -> None:
    name = "<b>王</b><script>x()</script>"
    household = world.household(VILLAGE_1, head_name=name)
    world.application(S.DRAFT, household=household)
    client = client_for(world, "cadre_v1")

    pages = [
        client.get(reverse("workflows:cadre_households"), {"q": "王"}),
        client.get(reverse("workflows:cadre_household", args=[household.pk])),
        client.get(reverse("workflows:cadre_village")),
    ]

    for response in pages:
        assert escape(name) in page(response)
        assert "<script>x()" not in page(response)


def test_application_page_asks_before_a_step_the_chain_marks_final(world: World) -> None:
    """The withdraw button asks first (its declaration's ``confirm``); submit does not."""
    app = world.application(Application.Status.DRAFT)

    page = client_for(world, "cadre_v1").get(reverse("workflows:cadre_application", args=[app.pk]))

    html = page.content.decode()
    assert 'value="withdraw"' in html and 'value="submit"' in html
    withdraw = html[html.index('value="withdraw"') :].split("</form>")[0]
    submit = html[html.index('value="submit"') :].split("</form>")[0]
    assert 'data-confirm="确定撤回该申请吗？撤回后无法恢复。"' in withdraw
    assert "data-confirm" not in submit and 'class="primary"' in submit
