"""Read locust's figures of each run (``<prefix>_stats.csv``) and print, per action, the
requests, the throughput and p50/p95/p99, then the chain steps per second and the aims.

``python -m benchmarks.loadtest.report LABEL=PREFIX ...``; exits 1 when a run had a failed
request, an exception in a user's task or no chain step at all (the aims on speed are
reported, not enforced: they depend on the machine)."""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass

STEPS_AIM = 100.0  # chain steps per second over HTTP, on this 2-core machine
QUEUE_P95_AIM = 200.0  # ms


@dataclass
class Row:
    name: str
    requests: int
    failures: int
    per_second: float
    p50: float
    p95: float
    p99: float


def rows_of(prefix: str) -> list[Row]:
    with open(f"{prefix}_stats.csv", newline="", encoding="utf-8") as f:
        return [
            Row(
                name=r["Name"],
                requests=int(r["Request Count"]),
                failures=int(r["Failure Count"]),
                per_second=float(r["Requests/s"]),
                p50=float(r["50%"] or 0),
                p95=float(r["95%"] or 0),
                p99=float(r["99%"] or 0),
            )
            for r in csv.DictReader(f)
        ]


def main(argv: list[str]) -> int:
    runs = [arg.split("=", 1) for arg in argv]
    if not runs or any(len(r) != 2 for r in runs):
        print("usage: python -m benchmarks.loadtest.report LABEL=PREFIX ...", file=sys.stderr)
        return 2
    failed = False
    for label, prefix in runs:
        rows = rows_of(prefix)
        print(f"\n### {label}\n")
        print("| action | requests | per second | p50 / p95 / p99 ms | failures |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r.name} | {r.requests:,} | {r.per_second:.1f} | "
                f"{r.p50:.0f} / {r.p95:.0f} / {r.p99:.0f} | {r.failures} |"
            )
        steps = sum(r.per_second for r in rows if r.name.startswith("step "))
        queue_p95 = max((r.p95 for r in rows if r.name.startswith("queue")), default=0.0)
        total = next((r for r in rows if r.name == "Aggregated"), None)
        failures = total.failures if total else sum(r.failures for r in rows)
        # An exception in a user's task (not a request that failed) is counted apart.
        with open(f"{prefix}_exceptions.csv", newline="", encoding="utf-8") as f:
            errors = sum(int(r["Count"]) for r in csv.DictReader(f))
        if errors:
            print(f"\n{errors} exception(s) in the users' tasks: see {prefix}_exceptions.csv")
        took_steps = any(r.requests for r in rows if r.name.startswith("step "))
        if not took_steps:
            print("\nno chain step was taken: the run measured nothing")
        failed |= failures > 0 or errors > 0 or not took_steps
        print(
            f"\nchain steps per second: {steps:.1f} (aim ≥ {STEPS_AIM:.0f}: "
            f"{'met' if steps >= STEPS_AIM else 'not met'}); queue pages p95 {queue_p95:.0f} ms "
            f"(aim ≤ {QUEUE_P95_AIM:.0f}: {'met' if queue_p95 <= QUEUE_P95_AIM else 'not met'}); "
            f"failed requests: {failures} (aim 0: {'met' if failures == 0 else 'NOT MET'})"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
