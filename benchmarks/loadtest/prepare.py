"""The load county: the bench's county (eight townships of ten villages, the subsidy
program, built through the services by ``benchmarks.run.world_create``), a cadre in each of
twenty villages, a reviewer in each township, two county approvers and an inspector, and
applications bulk-loaded with their whole history and processes (``bulk_applications``):
most of them waiting in the townships' and the county's queues, the rest on the notice
boards or paid. Writes what locust needs (``var/loadtest/county.json``): each user's API
token and page session, the waiting applications by queue, the villages and the program.

``python -m benchmarks.loadtest.prepare`` with ``DATABASE_URL`` naming a database whose name
ends in ``_load`` (it is dropped and made again)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

LOAD_URL = "postgres://postgres@127.0.0.1:5432/fupin_load"
# Where the bulk applications stand: mostly waiting for the reviewers and the approvers.
LOAD_WEIGHTS = [
    ("township_review", 45),
    ("county_review", 35),
    ("posted", 10),
    ("disbursed", 10),
]
CADRE_VILLAGES = 20


def main() -> None:
    url = os.environ.setdefault("DATABASE_URL", LOAD_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    count = int(os.environ.get("LOADTEST_APPLICATIONS", "30000"))
    out = Path(os.environ.get("LOADTEST_OUT", "var/loadtest/county.json"))
    started = time.perf_counter()

    from benchmarks.run import recreate_database

    recreate_database(url, suffix="_load")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction
    from django.test import Client
    from knox.models import AuthToken

    from applications.models import Application
    from applications.roles import Role
    from benchmarks.run import (
        COUNTY,
        TOWNSHIPS,
        VILLAGES,
        bulk_applications,
        world_create,
    )
    from demo.world import Grant, grants_give

    call_command("migrate", verbosity=0, interactive=False)
    world = world_create()
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.get(username="bench_admin")  # world_create's
    grants = [
        Grant(f"load_cadre_{i:02d}", Role.VILLAGE_CADRE, v)
        for i, v in enumerate(VILLAGES[:CADRE_VILLAGES])
    ]
    grants += [
        Grant(f"load_reviewer_{i}", Role.TOWNSHIP_REVIEWER, t) for i, t in enumerate(TOWNSHIPS)
    ]
    grants += [Grant(f"load_approver_{i}", Role.COUNTY_APPROVER, COUNTY) for i in range(2)]
    grants += [Grant("load_inspector", Role.INSPECTOR, COUNTY)]
    with transaction.atomic():
        users = grants_give(actor=admin, grants=grants)  # no passwords: tokens and sessions
    print(
        f"[{time.perf_counter() - started:4.0f} s] bulk-loading {count:,} applications", flush=True
    )
    bulk_applications(world, count, weights=LOAD_WEIGHTS)

    def credentials(username: str) -> dict[str, str]:
        user = users[username]
        _token, key = AuthToken.objects.create(user)
        client = Client()
        client.force_login(user)
        return {"token": key, "session": client.cookies["sessionid"].value}

    waiting = Application.objects.values_list("pk", "area_code")
    township_review: dict[str, list[int]] = {t: [] for t in TOWNSHIPS}
    for pk, area in waiting.filter(status=Application.Status.TOWNSHIP_REVIEW).order_by("pk"):
        township_review[area[:9] + "000"].append(pk)
    county_review = list(
        waiting.filter(status=Application.Status.COUNTY_REVIEW)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    county = {
        "program": world.program_id,
        "villages": VILLAGES,
        "cadres": [
            {"area": g.area_code, **credentials(g.username)}
            for g in grants
            if g.role == Role.VILLAGE_CADRE
        ],
        "reviewers": [
            {
                "area": g.area_code,
                **credentials(g.username),
                "waiting": township_review[g.area_code],
            }
            for g in grants
            if g.role == Role.TOWNSHIP_REVIEWER
        ],
        "approvers": [credentials(g.username) for g in grants if g.role == Role.COUNTY_APPROVER],
        "county_review": county_review,
        "inspector": credentials("load_inspector"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(county))
    print(
        f"[{time.perf_counter() - started:4.0f} s] {Application.objects.count():,} applications: "
        f"{sum(len(v) for v in township_review.values()):,} in the townships' queues, "
        f"{len(county_review):,} in the county's; wrote {out}",
        flush=True,
    )


if __name__ == "__main__":
    main()
