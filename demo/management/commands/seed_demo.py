"""``manage.py seed_demo``: the demo county of ``demo.seed`` (肃州区, modelled on seed 000),
loaded once; then the list of demo users."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from demo.seed import DEMO_PASSWORD, demo_loaded, demo_seed, demo_users


class Command(BaseCommand):
    help = (
        "Load the demo county (肃州区, modelled on seed 000): areas, households, the two "
        "programs, one user per role and applications in every state. Idempotent."
    )

    def handle(self, *args: Any, **opts: Any) -> None:
        started = time.perf_counter()
        if demo_loaded():
            self.stdout.write("The demo county is already loaded; nothing changed.")
        else:
            demo_seed(self.stdout.write)
            self.stdout.write(
                self.style.SUCCESS(f"Demo county loaded in {time.perf_counter() - started:.1f} s.")
            )
        rows = demo_users()
        self.stdout.write(
            f"\nDocuments print their verification address at {settings.FUPIN_PUBLIC_URL} "
            "(FUPIN_PUBLIC_URL)."
        )
        self.stdout.write(f"\nDemo users (password for all: {DEMO_PASSWORD}):")
        width = max(len(r[0]) for r in rows)
        for username, role, area in rows:
            self.stdout.write(f"  {username:<{width}}  {role:<28} {area}")
