"""What the load county's people do, over HTTP, as locust users (``make loadtest``).

- Cadres register a household, file its application, record the village's appraisal,
  submit it and post it publicly (the API, with their token), and open their village's page.
- Township reviewers open their queue (the page) and approve the five applications
  waiting longest in their township, one by one (the API).
- County approvers do the same at the county.
- The public reads a village's notice board; the inspector searches the audit trail.

Every chain step is named ``step …``; any answer but the one expected is a failure. Each
waiting application is taken by one user only (the queues of ``var/loadtest/county.json``),
so two users never race for one step. The run ends after ``LOADTEST_SECONDS`` (locust's
``--run-time``) or ``LOADTEST_MAX_REQUESTS`` requests, whichever comes first."""

from __future__ import annotations

import itertools
import json
import os
import random
from datetime import date, timedelta
from typing import Any

import gevent
from locust import FastHttpUser, between, events, task

from applications.idnumbers import id_check_digit

COUNTY = json.loads(open(os.environ.get("LOADTEST_COUNTY", "var/loadtest/county.json")).read())
MAX_REQUESTS = int(os.environ.get("LOADTEST_MAX_REQUESTS", "200000"))
# Through nginx the site is HTTPS: the proxy says so (config: SECURE_PROXY_SSL_HEADER).
PROXIED = {"X-Forwarded-Proto": "https"}
# LOADTEST_CONNECTION=close: a new connection per request, as from a proxy without upstream
# keep-alive (each request then goes to whichever web worker accepts it first).
if os.environ.get("LOADTEST_CONNECTION") == "close":
    PROXIED["Connection"] = "close"
# A reviewer opens the queue and decides the applications at its top, one after another.
DECISIONS_PER_QUEUE = 5
_serial = itertools.count()
_requests = itertools.count(1)


_runner: list[Any] = [None]


def _keep_runner(environment: Any, **_kwargs: Any) -> None:
    _runner[0] = environment.runner


def _bounded(**_kwargs: Any) -> None:
    """Stop the run once it has made ``MAX_REQUESTS`` requests."""
    if next(_requests) == MAX_REQUESTS and _runner[0] is not None:
        gevent.spawn(_runner[0].quit)


events.init.add_listener(_keep_runner)  # type: ignore[no-untyped-call]
events.request.add_listener(_bounded)  # type: ignore[no-untyped-call]


def _id_number() -> str:
    """A valid ID number no bulk household has (born in 1960–1999, another county's
    prefix)."""
    n = next(_serial)
    born = date(1960, 1, 1) + timedelta(days=n % 14_600)
    first17 = f"620921{born:%Y%m%d}{(n // 14_600) % 1000:03d}"
    return first17 + id_check_digit(first17)


def _created(response: Any) -> int | None:
    """The id of what a POST created (201), or None with the answer marked failed."""
    if response.status_code != 201:
        response.failure(f"{response.status_code}: {response.text[:200]}")
        return None
    return int(response.json()["id"])


class _Official(FastHttpUser):
    abstract = True
    wait_time = between(0.1, 0.5)
    who: dict[str, Any]

    def api_headers(self) -> dict[str, str]:
        return {**PROXIED, "Authorization": f"Token {self.who['token']}"}

    def page_headers(self) -> dict[str, str]:
        return {**PROXIED, "Cookie": f"sessionid={self.who['session']}"}

    def step(self, application: int, name: str) -> None:
        """A chain step through the API, answered 204 (``Prefer: return=minimal``)."""
        with self.client.post(
            f"/api/v1/applications/{application}/transitions/{name}/",
            json={},
            headers={**self.api_headers(), "Prefer": "return=minimal"},
            name=f"step {name}",
            catch_response=True,
        ) as response:
            if response.status_code != 204:
                response.failure(f"{response.status_code}: {response.text[:200]}")


class Cadre(_Official):
    weight = 4
    _next = itertools.count()

    def on_start(self) -> None:
        self.who = COUNTY["cadres"][next(self._next) % len(COUNTY["cadres"])]

    @task
    def file_and_post(self) -> None:
        headers = self.api_headers()
        with self.client.post(
            "/api/v1/households/",
            json={
                "area": self.who["area"],
                "head_name": random.choice("王张李刘杨马赵陈")
                + random.choice(["建国", "秀英", "志强"]),
                "head_id_number": _id_number(),
                "bank_card": "622848" + "".join(random.choices("0123456789", k=13)),
                "phone": "139" + "".join(random.choices("0123456789", k=8)),
                "household_type": "general",
                "poverty_causes": ["capital"],
            },
            headers=headers,
            name="household register",
            catch_response=True,
        ) as response:
            household = _created(response)
        if household is None:
            return
        with self.client.post(
            "/api/v1/applications/",
            json={
                "household": household,
                "program": COUNTY["program"],
                "items": [{"item": "pen", "quantity": 1}, {"item": "sheep", "quantity": 5}],
            },
            headers=headers,
            name="application file",
            catch_response=True,
        ) as response:
            application = _created(response)
        if application is None:
            return
        self.client.patch(
            f"/api/v1/applications/{application}/",
            json={
                "appraisal_date": date.today().isoformat(),
                "appraisal_attendees": 40,
                "appraisal_votes_for": 36,
                "appraisal_votes_against": 2,
            },
            headers=headers,
            name="appraisal record",
        )
        self.step(application, "submit")
        self.step(application, "start_posting")
        self.client.get("/cadre/", headers=self.page_headers(), name="cadre: village page")


class _Decider(_Official):
    """Opens the queue page, then decides the applications at its top one by one."""

    abstract = True
    officials = ""  # their key in county.json
    queue = ""  # the queue's name in the report
    decision = ""  # the step
    _next: itertools.count[int]

    def on_start(self) -> None:
        officials = COUNTY[self.officials]
        self.who = officials[next(self._next) % len(officials)]

    def waiting(self) -> list[int]:
        raise NotImplementedError

    @task
    def queue_and_decide(self) -> None:
        self.client.get("/review/queue/", headers=self.page_headers(), name=f"queue: {self.queue}")
        pool = self.waiting()
        for _ in range(DECISIONS_PER_QUEUE):
            if pool:
                self.step(pool.pop(0), self.decision)


class Reviewer(_Decider):
    weight = 4
    officials, queue, decision = "reviewers", "township", "township_approve"
    _next = itertools.count()

    def waiting(self) -> list[int]:
        return self.who["waiting"]  # type: ignore[no-any-return]


class Approver(_Decider):
    weight = 2
    officials, queue, decision = "approvers", "county", "county_approve"
    _next = itertools.count()

    def waiting(self) -> list[int]:
        return COUNTY["county_review"]  # type: ignore[no-any-return]


class Inspector(_Official):
    weight = 1

    def on_start(self) -> None:
        self.who = COUNTY["inspector"]

    @task
    def search(self) -> None:
        query = random.choice(
            [
                f"application={random.choice(COUNTY['county_review'] or [1])}",
                f"actor=load_reviewer_{random.randrange(8)}",
                "action=application.township_approve",
            ]
        )
        self.client.get(
            f"/inspect/audit/?{query}", headers=self.page_headers(), name="audit search"
        )


class Public(FastHttpUser):
    weight = 4
    wait_time = between(0.5, 2.0)

    @task
    def notice_board(self) -> None:
        village = random.choice(COUNTY["villages"])
        self.client.get(f"/notice/{village}/", headers=PROXIED, name="notice board")
