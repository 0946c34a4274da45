"""The acceptance pages: the township's visit with its photos, the county's decision on a
failed visit, the county's samples drawn, re-drawn from their seed and re-checked; refusals
shown and changing nothing; scope and the read-only inspector."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from applications.models import Application, ProgramVersion
from approvals.models import Attachment
from payments.models import Acceptance, AcceptanceSample, SampledAcceptance
from tests.factories import COUNTY, PNG, World
from tests.payments.test_services import payable

S = Application.Status
pytestmark = pytest.mark.django_db


def client_for(world: World, username: str) -> Client:
    client = Client()
    client.force_login(world.user(username))
    return client


@pytest.fixture
def accepting(world: World, settings: Any, tmp_path: Any) -> World:
    settings.MEDIA_ROOT = str(tmp_path)
    ProgramVersion.objects.filter(program=world.program).update(
        acceptance_required=True, acceptance_sample_percent=100
    )
    return world


def test_the_township_records_a_visit_with_photos_from_its_page(accepting: World) -> None:
    [app] = payable(accepting, 1)
    reviewer = client_for(accepting, "reviewer_t1")

    page = reviewer.get("/payments/acceptance/")
    response = reviewer.post(
        f"/payments/acceptance/{app.pk}/visit/",
        {
            "result": "passed",
            "notes": "圈舍已建成",
            "photos": [SimpleUploadedFile("圈舍.png", PNG, content_type="image/png")],
            "confirmed": "1",
        },
    )

    assert page.status_code == 200
    assert f'action="/payments/acceptance/{app.pk}/visit/"' in page.content.decode()
    assert response.status_code == 302
    visit = Acceptance.objects.get(application=app)
    assert (visit.result, visit.notes) == ("passed", "圈舍已建成")
    assert Attachment.objects.filter(
        application=app, kind=Attachment.Kind.ACCEPTANCE_PHOTO
    ).exists()
    after = reviewer.get("/payments/acceptance/?state=accepted")
    assert f'id="app-{app.pk}"' in after.content.decode()
    assert f'action="/payments/acceptance/{app.pk}/visit/"' not in after.content.decode()


def test_a_failed_visit_without_notes_is_refused_on_the_page_and_changes_nothing(
    accepting: World,
) -> None:
    [app] = payable(accepting, 1)

    response = client_for(accepting, "reviewer_t1").post(
        f"/payments/acceptance/{app.pk}/visit/", {"result": "failed", "notes": ""}
    )

    assert response.status_code == 400
    assert "请说明" in response.content.decode() or "Say what failed" in response.content.decode()
    assert not Acceptance.objects.filter(application=app).exists()


def test_the_county_rejects_a_failed_visit_from_the_page(accepting: World) -> None:
    [app] = payable(accepting, 1)
    client_for(accepting, "reviewer_t1").post(
        f"/payments/acceptance/{app.pk}/visit/",
        {"result": "failed", "notes": "圈舍未建", "confirmed": "1"},
    )
    county = client_for(accepting, "approver_a")

    page = county.get("/payments/acceptance/?state=failed")
    response = county.post(
        f"/payments/acceptance/{app.pk}/reject/", {"reason": "逾期未建成", "confirmed": "1"}
    )

    body = page.content.decode()
    assert "第 1 次验收：不合格" in body  # an inspection's result, not a payment's (失败)
    assert f'action="/payments/acceptance/{app.pk}/rectification/"' in body
    assert f'action="/payments/acceptance/{app.pk}/reject/"' in body
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == S.REJECTED


def test_another_township_cannot_act_and_the_inspector_only_reads(accepting: World) -> None:
    [app] = payable(accepting, 1)

    foreign = client_for(accepting, "reviewer_b").post(
        f"/payments/acceptance/{app.pk}/visit/", {"result": "passed"}
    )
    inspector = client_for(accepting, "inspector_a").get("/payments/acceptance/")

    assert foreign.status_code == 404
    assert not Acceptance.objects.filter(application=app).exists()
    assert f'id="app-{app.pk}"' in inspector.content.decode()
    assert "<form" not in inspector.content.decode().split("<main", 1)[-1].split("</main>")[0]


def test_the_county_draws_a_sample_and_rechecks_it_on_its_pages(accepting: World) -> None:
    apps = payable(accepting, 2)
    reviewer = client_for(accepting, "reviewer_t1")
    for app in apps:
        reviewer.post(
            f"/payments/acceptance/{app.pk}/visit/", {"result": "passed", "confirmed": "1"}
        )
    county = client_for(accepting, "approver_a")

    drawn = county.post(
        "/payments/samples/",
        {"program": str(accepting.program.pk), "area": COUNTY, "confirmed": "1"},
    )
    sample = AcceptanceSample.objects.get()
    page = county.get(f"/payments/samples/{sample.pk}/")
    recheck = county.post(
        f"/payments/samples/{sample.pk}/recheck/{apps[0].pk}/", {"result": "failed", "notes": ""}
    )
    done = county.post(
        f"/payments/samples/{sample.pk}/recheck/{apps[0].pk}/",
        {"result": "passed", "confirmed": "1"},
    )

    assert drawn.status_code == 302 and drawn["Location"] == f"/payments/samples/{sample.pk}/"
    assert 'data-redraw="same"' in page.content.decode()
    assert recheck.status_code == 400  # a failed re-check needs notes: nothing recorded
    assert done.status_code == 302
    assert SampledAcceptance.objects.get(application=apps[0]).result == "passed"
    listing = client_for(accepting, "inspector_a").get("/payments/samples/")
    assert f"/payments/samples/{sample.pk}/" in listing.content.decode()
    assert 'id="draw-sample"' not in listing.content.decode()


def test_drawing_with_nothing_accepted_is_refused_on_the_page(accepting: World) -> None:
    response = client_for(accepting, "approver_a").post(
        "/payments/samples/",
        {"program": str(accepting.program.pk), "area": COUNTY, "confirmed": "1"},
    )

    assert response.status_code == 400
    assert not AcceptanceSample.objects.exists()
