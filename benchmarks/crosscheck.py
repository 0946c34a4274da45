"""``make bench ARGS=crosscheck``: the inspectors' cross-checks (issue 15) on PostgreSQL, in
the bench database of ``benchmarks.run``.

1. Households with one application each and their history (``benchmarks.run``'s bulk
   loader), three more members each by ``COPY``: 10,000 households (about 40,000 persons),
   later 100,000 (about 400,000).
2. Six departments' lists, 1,000,000 rows in all, uploaded through
   ``crosscheck.services.reference_list_upload`` as the files a department sends: the
   public servants as a 200,000-row ``.xlsx`` workbook, the others as CSV in GB18030. About
   one row in two hundred is a person of the registry, the rest are not.
3. Measured, each in a process of its own so that its peak memory is its own (the child's
   ``VmHWM``, the high-water mark of its resident memory since it started, Django's own
   included; not ``wait4``'s ``ru_maxrss``, which counts the parent's memory copied at the
   fork):
   (a) the upload of the 200,000-row workbook, and of a 200,000-row CSV file;
   (b) a full scan of the county (every rule), at 10,000 and at 100,000 households: the
       median of three runs, the leads found and leads per second.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.run import World

LIST_ROWS = int(os.environ.get("FUPIN_BENCH_LIST_ROWS", "200000"))
# Kind → rows; 1,000,000 in all at the default.
KIND_ROWS = {
    "public_servant": LIST_ROWS,
    "vehicle": LIST_ROWS,
    "property": LIST_ROWS,
    "business": LIST_ROWS,
    "deceased": LIST_ROWS // 2,
    "moved_out": LIST_ROWS // 2,
}
# FUPIN_BENCH_HOUSEHOLDS: other scales, for a quick try of the stage ("2000,5000").
SCALES = [int(n) for n in os.environ.get("FUPIN_BENCH_HOUSEHOLDS", "10000,100000").split(",")]
MATCH_EVERY = 200  # one row in this many is a person of the registry
SCANS = 3
EXTRA_MEMBERS = 3


def say(message: str) -> None:
    print(f"[crosscheck] {message}", flush=True)


@dataclass
class Measured:
    seconds: float
    peak_mb: float
    result: dict[str, Any]


def in_child(*args: str) -> Measured:
    """Run ``python -m benchmarks.crosscheck <args>`` and read its answer (JSON on its last
    line, with its peak resident memory)."""
    process = subprocess.Popen(  # noqa: S603 - our own module, our own arguments
        [sys.executable, "-m", "benchmarks.crosscheck", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    out = process.stdout.read()
    if process.wait() != 0:
        raise SystemExit(f"bench child {args} failed ({process.returncode}):\n{out}")
    result = json.loads(out.strip().splitlines()[-1])
    return Measured(result.pop("seconds"), result.pop("peak_mb"), result)


def peak_mb() -> float:
    """This process's resident memory high-water mark (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- the registry ------------------------------------------------------------------------


def members_add(world: World, household_ids: list[int]) -> None:
    """Three members for each household, by ``COPY``. Their ciphertext is one token for
    all: nothing in a scan reads it."""
    from django.db import transaction

    from applications import idnumbers
    from applications.models import Person
    from benchmarks.run import copy_rows, next_id, reset_sequence

    cipher = idnumbers.encrypt("bench")
    rows = []
    pk = next_id(Person)
    relations = ["spouse", "child", "parent"]
    for household in household_ids:
        for relation in relations[:EXTRA_MEMBERS]:
            number = world.id_number()
            rows.append(
                {
                    "id": pk,
                    "household_id": household,
                    "name": world.name(),
                    "relation": relation,
                    "id_cipher": cipher,
                    "id_hash": idnumbers.lookup_hash(number),
                    "id_masked": idnumbers.mask_id_number(number),
                }
            )
            pk += 1
    with transaction.atomic():
        copy_rows(Person, rows)
    reset_sequence(Person)


def registry_grow(world: World, households: int) -> None:
    from applications.models import Household
    from benchmarks.run import bulk_applications

    before = set(Household.objects.values_list("pk", flat=True))
    missing = households - len(before)
    if missing <= 0:
        return
    say(f"bulk-loading {missing:,} households with their applications")
    bulk_applications(world, missing)
    new = sorted(set(Household.objects.values_list("pk", flat=True)) - before)
    members_add(world, new)


# --- the lists ------------------------------------------------------------------------------


class Stranger:
    """People who are not in the registry: valid ID numbers of another county."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        from applications.idnumbers import id_check_digit

        self.n += 1
        born = date(1940, 1, 1) + timedelta(days=self.n % 25_000)
        first17 = f"620921{born:%Y%m%d}{self.n // 25_000:03d}"
        return first17 + id_check_digit(first17)


def registry_number(n: int) -> str:
    """The ID number the bench's world gives its ``n``-th person (``World.id_number``):
    the lists name people of the registry at its largest scale, so a scan of a smaller
    county finds the share of them registered so far."""
    from applications.idnumbers import id_check_digit

    born = date(1950, 1, 1) + timedelta(days=n % 14_600)
    first17 = f"620902{born:%Y%m%d}{n // 14_600:03d}"
    return first17 + id_check_digit(first17)


def list_rows(kind: str, count: int, stranger: Stranger) -> list[list[Any]]:
    import random

    rng = random.Random(kind)
    people = SCALES[-1] * (1 + EXTRA_MEMBERS)
    rows: list[list[Any]] = []
    for i in range(count):
        number = registry_number(rng.randrange(people)) if i % MATCH_EVERY == 0 else stranger()
        name = "王" + "明强军华英"[i % 5]
        day = (date(2026, 1, 1) - timedelta(days=rng.randrange(0, 1500))).isoformat()
        rows.append([number, name, *_columns(kind, i, rng, day)])
    return rows


def _columns(kind: str, i: int, rng: Any, day: str) -> list[str]:
    if kind == "public_servant":
        return ["某县某局"]
    if kind == "vehicle":
        return [f"甘F{i % 100000:05d}", str(rng.choice([8000, 45000, 120000]))]
    if kind == "property":
        return ["某小区", rng.choice(["商品房", "商铺", "自建房"])]
    if kind == "business":
        return ["某商贸部", rng.choice(["存续", "注销", "吊销"])]
    return [day]


def csv_file(kind: str, rows: list[list[Any]], path: Path) -> None:
    from crosscheck.formats import headers_of

    with path.open("w", encoding="gb18030", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(headers_of(kind))
        writer.writerows(rows)


def xlsx_file(kind: str, rows: list[list[Any]], path: Path) -> None:
    from openpyxl import Workbook

    from crosscheck.formats import headers_of

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(headers_of(kind))
    for row in rows:
        sheet.append(row)
    book.save(path)


def upload(kind: str, path: str, as_of: str) -> dict[str, Any]:
    """In the child: upload one file as the inspector."""
    from django.contrib.auth import get_user_model

    from crosscheck.services import reference_list_upload

    inspector = get_user_model().objects.get(username="inspector")
    t = time.perf_counter()
    with open(path, "rb") as file:
        reference = reference_list_upload(
            actor=inspector,
            kind=kind,
            source="基准测试",
            as_of=date.fromisoformat(as_of),
            file=file,
            file_name=os.path.basename(path),
        )
    return {
        "seconds": time.perf_counter() - t,
        "kept": reference.rows_kept,
        "skipped": reference.rows_skipped,
    }


def scan() -> dict[str, Any]:
    """In the child: one full scan of the county, as the system."""
    from crosscheck.services import scan_now

    t = time.perf_counter()
    done = scan_now(county="620902")
    return {
        "seconds": time.perf_counter() - t,
        "leads": done.leads_found,
        "counts": done.counts,
        "status": done.status,
    }


# --- the stage ------------------------------------------------------------------------------


def crosscheck_run(world: World) -> list[list[str]]:
    from applications.models import Household, Person

    stranger = Stranger()
    rows: list[list[str]] = [["cross-checks (PostgreSQL)", "figure"]]
    work = Path(tempfile.mkdtemp(prefix="fupin-bench-"))
    registry_grow(world, SCALES[0])
    # The lists: the workbook is measured, the others are uploaded to be there.
    say(f"writing the lists ({sum(KIND_ROWS.values()):,} rows)")
    files: dict[str, Path] = {}
    for kind, count in KIND_ROWS.items():
        data = list_rows(kind, count, stranger)
        path = work / (f"{kind}.xlsx" if kind == "public_servant" else f"{kind}.csv")
        (xlsx_file if kind == "public_servant" else csv_file)(kind, data, path)
        files[kind] = path
    # A second file of the public servants, as CSV, for the CSV upload's figure.
    csv_servants = work / "public_servant.csv"
    csv_file(
        "public_servant",
        list_rows("public_servant", KIND_ROWS["public_servant"], stranger),
        csv_servants,
    )

    say("uploading the lists")
    measured = in_child("upload", "public_servant", str(files["public_servant"]), "2026-10-01")
    rows.append(
        [
            f"upload of a {KIND_ROWS['public_servant']:,}-row .xlsx list",
            f"{measured.seconds:.1f} s, peak {measured.peak_mb:.0f} MB",
        ]
    )
    measured = in_child("upload", "public_servant", str(csv_servants), "2026-09-01")
    rows.append(
        [
            f"upload of a {KIND_ROWS['public_servant']:,}-row CSV list (GB18030)",
            f"{measured.seconds:.1f} s, peak {measured.peak_mb:.0f} MB",
        ]
    )
    for kind in KIND_ROWS:
        if kind != "public_servant":
            in_child("upload", kind, str(files[kind]), "2026-10-01")
    from crosscheck.models import ReferenceRow

    rows.append(["reference rows kept (all lists)", f"{ReferenceRow.objects.count():,}"])

    for target in SCALES:
        label = f"{target // 1000}k"
        registry_grow(world, target)
        households, persons = Household.objects.count(), Person.objects.count()
        say(f"[{label}] scanning {households:,} households, {persons:,} persons, three times")
        runs = [in_child("scan") for _ in range(SCANS)]
        median = statistics.median(r.seconds for r in runs)
        leads = runs[-1].result["leads"]
        rows.append(
            [
                f"full scan, {households:,} households ({persons:,} persons)",
                f"{median:.1f} s (median of {SCANS}), peak {max(r.peak_mb for r in runs):.0f} MB",
            ]
        )
        rows.append(
            [f"leads found at {label} / leads per second", f"{leads:,} / {leads / median:,.0f}"]
        )
        say(f"[{label}] per rule: {runs[-1].result['counts']}")
    return rows


def main() -> None:
    """The child's entry: ``upload KIND PATH AS_OF`` or ``scan``; prints JSON."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    command, *args = sys.argv[1:]
    result = upload(*args) if command == "upload" else scan()
    result["peak_mb"] = peak_mb()
    print(json.dumps(result, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
