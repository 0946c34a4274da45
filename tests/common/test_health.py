"""``/healthz`` (``common.health`` behind ``common.middleware.HealthCheck``): 200 only when the
database answers, the timers and a task worker have shown life recently and the disk has room;
503 naming the failing check otherwise. The worker is pinged by the timers."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.test import Client
from django_tasks_db.models import DBTaskResult

from common import clock, health
from common.health import PING_SENT, TIMERS, WORKER, heartbeat_record, worker_ping_send
from common.models import Heartbeat

pytestmark = pytest.mark.django_db


def healthz(**extra: Any) -> tuple[int, dict[str, Any]]:
    response = Client().get("/healthz", **extra)
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    return response.status_code, response.json()


def all_alive() -> None:
    heartbeat_record(TIMERS)
    heartbeat_record(WORKER)


def test_everything_alive_answers_200() -> None:
    all_alive()

    status, body = healthz()

    assert status == 200
    assert body["ok"] is True
    assert body["checks"]["database"]["ok"] is True
    assert 0 <= body["checks"]["timers"]["age_seconds"] <= 5
    assert body["checks"]["worker"]["ok"] is True
    assert body["checks"]["disk"]["free_mb"] > 0


def test_a_new_site_whose_timers_never_ran_answers_503() -> None:
    status, body = healthz()

    assert status == 503
    assert body["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["timers"] == {
        "ok": False,
        "last": None,
        "age_seconds": None,
        "limit_seconds": 300,
    }
    assert body["checks"]["worker"]["ok"] is False


def test_timers_silent_past_the_limit_answer_503_with_their_age(settings: Any) -> None:
    settings.FUPIN_HEALTH_STALE_SECONDS = 120
    with clock.frozen_at(clock.now() - timedelta(seconds=121)):
        heartbeat_record(TIMERS)
    heartbeat_record(WORKER)

    status, body = healthz()

    assert status == 503
    assert body["checks"]["timers"]["ok"] is False
    assert body["checks"]["timers"]["age_seconds"] >= 121
    assert body["checks"]["worker"]["ok"] is True


def test_a_full_disk_answers_503(settings: Any) -> None:
    all_alive()
    settings.FUPIN_HEALTH_DISK_MIN_MB = 10**12

    status, body = healthz()

    assert status == 503
    assert body["checks"]["disk"]["ok"] is False
    assert body["checks"]["disk"]["min_mb"] == 10**12


def test_a_database_that_does_not_answer_gives_503_not_500(monkeypatch: pytest.MonkeyPatch) -> None:
    class Down:
        vendor = "postgresql"

        def cursor(self) -> Any:
            raise OperationalError("connection refused")

    monkeypatch.setattr(health, "connection", Down())

    status, body = healthz()

    assert status == 503
    assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    assert body["checks"]["timers"]["ok"] is False


def test_it_answers_the_monitoring_by_any_host_over_plain_http(settings: Any) -> None:
    """Production: hosts checked, HTTP redirected to HTTPS; the monitoring asks
    http://127.0.0.1/healthz all the same."""
    settings.ALLOWED_HOSTS = ["fupin.example.org"]
    settings.SECURE_SSL_REDIRECT = True
    all_alive()

    status, body = healthz(HTTP_HOST="127.0.0.1")
    page = Client().get("/accounts/login/", HTTP_HOST="127.0.0.1")

    assert status == 200
    assert page.status_code == 400  # the rest of the site still checks the host


def test_only_get_and_head() -> None:
    assert Client().post("/healthz").status_code == 405
    assert Client().head("/healthz").status_code in (200, 503)
    assert Client().get("/healthz/").status_code == 404  # only the path nginx lets through


def test_a_ping_is_queued_for_the_worker_and_not_again_while_it_waits(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

    assert worker_ping_send() is True
    assert worker_ping_send() is False  # the first still waits: no pile-up

    assert DBTaskResult.objects.filter(task_path="common.tasks.worker_ping").count() == 1
    assert not Heartbeat.objects.filter(name=WORKER).exists()


def test_an_unanswered_ping_is_sent_again_after_the_limit(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    with clock.frozen_at(clock.now() - timedelta(seconds=301)):
        assert worker_ping_send() is True

    assert worker_ping_send() is True
    assert DBTaskResult.objects.filter(task_path="common.tasks.worker_ping").count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_worker_running_the_ping_records_its_heartbeat(
    settings: Any, flushable_ledger: None
) -> None:
    """A real worker (it closes its connection when done: outside the test's transaction)."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    worker_ping_send()

    call_command("db_worker", "--batch", "--no-startup-delay", stdout=io.StringIO())

    beats = dict(Heartbeat.objects.values_list("name", "beat_at"))
    assert beats[WORKER] >= beats[PING_SENT]
    assert worker_ping_send() is True  # answered: the next run pings again


def test_process_timers_records_its_run_and_pings_the_worker(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}

    call_command("process_timers", stdout=io.StringIO())

    status, body = healthz()
    assert status == 200, body
    assert body["checks"]["timers"]["ok"] and body["checks"]["worker"]["ok"]


def test_a_ping_that_cannot_be_queued_is_logged_and_reported_unsent(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Refused:
        def enqueue(self) -> None:
            raise OperationalError("the task table is locked")

    monkeypatch.setattr("common.tasks.worker_ping", Refused())

    assert worker_ping_send() is False
    assert "the worker's ping could not be queued" in caplog.text
