"""Reads that may lag go to the read replica (``common.replica``); writes, and every read
inside a write, never do. The router's rule is tested here without a replica; the tests
marked ``replica`` run against a real PostgreSQL streaming replica (``make replica-test``,
``scripts/replica-test.sh``), pausing its replay to make the lag visible."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import pytest
from django.db import connections, transaction
from django.test import Client, RequestFactory

from applications.models import Application, Household
from audit.models import AuditEntry
from common import replica
from common.errors import Code, ServiceError
from common.replica import (
    ReplicaRouter,
    replica_alias,
    replica_caught_up,
    replica_reads,
    replica_reads_view,
)
from tests.factories import S, World

router = ReplicaRouter()


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replica, "replica_configured", lambda: True)


# --- the rule, without a replica ---------------------------------------------------------


def test_without_a_replica_everything_reads_the_primary() -> None:
    with replica_reads():
        assert router.db_for_read(Household) is None
    assert replica_alias() == "default"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_reads_go_to_the_replica_only_inside_replica_reads(configured: None) -> None:
    assert router.db_for_read(Household) is None
    with replica_reads():
        assert router.db_for_read(Household) == "replica"
    assert router.db_for_read(Household) is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_a_read_inside_a_transaction_of_the_primary_stays_there(configured: None) -> None:
    with replica_reads(), transaction.atomic():
        assert router.db_for_read(Household) == "default"


def test_writes_always_go_to_the_primary(configured: None) -> None:
    with replica_reads():
        assert router.db_for_write(Household) == "default"
    assert router.allow_migrate("replica", "applications") is False
    assert router.allow_migrate("default", "applications") is True


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_a_view_reads_the_replica_for_get_and_head_only(configured: None) -> None:
    seen: list[str | None] = []

    @replica_reads_view
    def view(request: Any) -> None:
        seen.append(router.db_for_read(Household))

    for method in ("get", "head", "post"):
        view(getattr(RequestFactory(), method)("/"))

    assert seen == ["replica", "replica", None]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_after_a_post_the_same_user_reads_the_primary_for_a_while(configured: None) -> None:
    from django.contrib.sessions.backends.db import SessionStore
    from django.http import HttpResponse

    from common.replica import StickToPrimaryAfterWrites

    seen: list[str | None] = []

    @replica_reads_view
    def view(request: Any) -> HttpResponse:
        seen.append(router.db_for_read(Household))
        return HttpResponse()

    site = StickToPrimaryAfterWrites(view)
    mine, theirs = SessionStore(), SessionStore()
    for method, session in (("get", mine), ("post", mine), ("get", mine), ("get", theirs)):
        request = getattr(RequestFactory(), method)("/")
        request.session = session
        site(request)

    assert seen == ["replica", None, None, "replica"]
    assert float(mine[replica._PRIMARY_UNTIL]) > time.time() + 10
    assert replica._PRIMARY_UNTIL not in theirs


def test_without_a_replica_a_scan_reads_the_primary_at_once() -> None:
    assert replica_caught_up(timeout=0) is True


# --- against a real streaming replica (make replica-test) -----------------------------------


def _primary_lsn() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        return str(cursor.fetchone()[0])


@contextmanager
def replay_paused() -> Iterator[None]:
    """The standby stops applying the primary's changes: its lag, made visible."""
    import psycopg

    settings = connections["replica"].settings_dict
    with closing(
        psycopg.connect(
            host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname="postgres"
        )
    ) as standby:
        standby.autocommit = True
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            yield
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")
            assert replica_caught_up(timeout=30), "the standby did not catch up"


def caught_up() -> None:
    with replay_paused():
        pass


# Data must be committed to stream: each test commits, and the tables are emptied after it.
REPLICA = [
    pytest.mark.replica,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, databases=["default", "replica"]),
    pytest.mark.usefixtures("flushable_ledger"),
]


def replica_test(function: Any) -> Any:
    for mark in REPLICA:
        function = mark(function)
    return function


@replica_test
def test_the_replica_is_a_standby_streaming_this_database() -> None:
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), current_database()")
        in_recovery, name = cursor.fetchone()

    assert in_recovery is True
    assert name == connections["default"].settings_dict["NAME"]
    assert (
        connections["replica"].settings_dict["PORT"] != connections["default"].settings_dict["PORT"]
    )


@replica_test
def test_the_inspectors_search_page_reads_the_replica(world: World) -> None:
    caught_up()
    inspector = Client()
    inspector.force_login(world.user("inspector_a"))
    with replay_paused():
        household = world.household()  # committed on the primary, not yet replayed
        url = f"/inspect/audit/?household={household.pk}"
        while_behind = inspector.get(url)
        on_the_primary = AuditEntry.objects.filter(
            object_type="household", object_id=str(household.pk)
        ).count()
    caught_up()
    after = inspector.get(url)

    marker = f'href="?household={household.pk}"'
    assert on_the_primary == 1
    assert while_behind.status_code == 200 and marker not in while_behind.content.decode()
    assert marker in after.content.decode()


@replica_test
def test_a_write_path_never_acts_on_what_the_replica_still_shows(world: World) -> None:
    """While the replica still shows a draft, the primary holds it submitted: the same
    step again, even inside ``replica_reads``, is refused from the primary's state."""
    from approvals.services.transitions import application_transition

    app = world.application(S.DRAFT)
    caught_up()
    with replay_paused():
        world.walk(app, S.SUBMITTED)
        with replica_reads():
            shown = Application.objects.get(pk=app.pk).status  # what a page may show
            with transaction.atomic():
                acted_on = Application.objects.get(pk=app.pk).status  # what a write reads
            with pytest.raises(ServiceError) as refused:
                application_transition(
                    actor=world.user("cadre_v1"), application_id=app.pk, name="submit"
                )

    assert (shown, acted_on) == (S.DRAFT, S.SUBMITTED)
    assert refused.value.code == Code.WRONG_STATE
    app.refresh_from_db()
    assert app.status == S.SUBMITTED


@replica_test
def test_the_dashboard_reads_the_replica(world: World) -> None:
    from workflows.services import tallies_refresh

    tallies_refresh()
    caught_up()
    client = Client()
    client.force_login(world.user("approver_a"))
    before = client.get("/api/v1/dashboard/").json()
    with replay_paused():
        world.household()
        tallies_refresh()
        while_behind = client.get("/api/v1/dashboard/").json()
    caught_up()
    after = client.get("/api/v1/dashboard/").json()

    assert while_behind == before
    assert after["as_of"] != before["as_of"]


@replica_test
def test_healthz_reports_the_replicas_lag(world: World, settings: Any) -> None:
    caught_up()
    current = Client().get("/healthz").json()["checks"]["replica"]
    settings.FUPIN_HEALTH_REPLICA_LAG_MB = 0
    with replay_paused():
        for _ in range(3):
            world.household()
        behind = Client().get("/healthz").json()["checks"]["replica"]

    assert current["ok"] is True and current["standby"] is True
    assert behind["lag_bytes"] > 0 and behind["ok"] is False


@replica_test
def test_a_scan_waits_for_the_replica_to_replay_what_was_written(world: World) -> None:
    caught_up()
    with replay_paused():
        world.household()
        assert replica_caught_up(timeout=0.5) is False  # a scan then reads the primary
    assert replica_caught_up(timeout=5) is True
