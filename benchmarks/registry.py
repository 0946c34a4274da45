"""``make bench ARGS=registry``: the registry in and out of sheets (issue 16) on PostgreSQL,
in the bench database of ``benchmarks.run``.

1. A registry sheet of 100,000 households (FUPIN_BENCH_IMPORT_HOUSEHOLDS), four people each
   (about 400,000 person rows), in the template's layout, for the villages of the bench's
   first township: as ``.xlsx`` (written by XlsxWriter, as Excel would keep it) and as CSV
   in GB18030.
2. Measured, each in a process of its own so that its peak memory is its own (the child's
   ``VmHWM``, Django included):
   (a) the dry run of the workbook and of the CSV file, as the township's reviewer, through
       ``household_import_start`` (run where it is called: the bench sets the inline limit
       above the file's size);
   (b) the real run of the workbook: every household and person written, ID and card
       numbers encrypted, one audit entry per household, all in one transaction;
   (c) the export of those households as ``.xlsx`` and as CSV, masked, and as ``.xlsx``
       with full numbers (every ID and card decrypted), written to a file.
   Then ``verify_audit`` must pass on the county's chain.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.run import World

HOUSEHOLDS = int(os.environ.get("FUPIN_BENCH_IMPORT_HOUSEHOLDS", "100000"))
PEOPLE = 4  # the head and three members
RELATIONS = ["配偶", "子女", "父母"]


def say(message: str) -> None:
    print(f"[registry] {message}", flush=True)


def sheet_rows(world: World) -> list[list[str]]:
    from benchmarks.run import TOWNSHIPS, VILLAGES

    villages = [v for v in VILLAGES if v.startswith(TOWNSHIPS[0][:9])]
    rows: list[list[str]] = []
    for n in range(HOUSEHOLDS):
        head = world.name()
        rows.append(
            [
                str(n + 1),
                villages[n % len(villages)],
                head,
                world.id_number(),
                "户主",
                "一般贫困户",
                "因病、缺资金",
                world.card(),
                head,
                world.phone(),
            ]
        )
        for relation in RELATIONS[: PEOPLE - 1]:
            rows.append([str(n + 1), "", world.name(), world.id_number(), relation])
    return rows


def write_files(rows: list[list[str]], work: Path) -> tuple[Path, Path]:
    import xlsxwriter

    from applications.registry_sheet import HEADERS

    xlsx = work / "registry.xlsx"
    book = xlsxwriter.Workbook(str(xlsx), {"constant_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet()
    for c, header in enumerate(HEADERS):
        sheet.write_string(0, c, header)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            sheet.write_string(r, c, value)
    book.close()
    path = work / "registry.csv"
    with path.open("w", encoding="gb18030", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADERS)
        writer.writerows(rows)
    return xlsx, path


def in_child(*args: str) -> dict[str, Any]:
    process = subprocess.Popen(  # noqa: S603 - our own module, our own arguments
        [sys.executable, "-m", "benchmarks.registry", *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "FUPIN_IMPORT_INLINE_BYTES": str(1 << 40)},
    )
    assert process.stdout is not None
    out = process.stdout.read()
    if process.wait() != 0:
        raise SystemExit(f"bench child {args} failed ({process.returncode}):\n{out}")
    return dict(json.loads(out.strip().splitlines()[-1]))


def import_file(path: str, dry_run: str) -> dict[str, Any]:
    """In the child: the import of one file by the township's reviewer."""
    from django.contrib.auth import get_user_model

    from applications.imports import household_import_start

    reviewer = get_user_model().objects.get(username="reviewer")
    t = time.perf_counter()
    with open(path, "rb") as file:
        job = household_import_start(
            actor=reviewer, file=file, file_name=os.path.basename(path), dry_run=dry_run == "dry"
        )
    return {
        "seconds": time.perf_counter() - t,
        "status": job.status,
        "rows": job.rows_read,
        "households": job.households_found,
        "problems": job.problem_count,
        "first_problems": job.problems[:3],
        "created": job.households_created,
        "error": job.error,
    }


def export_file(fmt: str, reveal: str, target: str) -> dict[str, Any]:
    """In the child: the export of the reviewer's households, written to ``target``."""
    from django.contrib.auth import get_user_model

    from applications.exports import households_export
    from applications.roles import REVEAL_PERMISSION
    from applications.services import role_grant
    from benchmarks.run import TOWNSHIPS
    from common.sheets import XLSX_SHEET_ROWS, csv_lines, xlsx_file

    reviewer = get_user_model().objects.get(username="reviewer")
    if reveal == "full":
        role_grant(actor=None, username="reviewer", role=REVEAL_PERMISSION, area_code=TOWNSHIPS[0])
    t = time.perf_counter()
    out = households_export(actor=reviewer, params={}, fmt=fmt, reveal=reveal == "full")
    rows = 0

    def counted() -> Any:
        nonlocal rows
        for row in out.rows:
            rows += 1
            yield row

    if fmt == "csv":
        with open(target, "w", encoding="utf-8") as file:
            for line in csv_lines(out.header, counted()):
                file.write(line)
    else:
        file_, _cut = xlsx_file(
            out.header,
            counted(),
            title=out.title,
            max_rows=XLSX_SHEET_ROWS,
            text_columns=out.text_columns,
            widths=out.widths,
        )
        with file_, open(target, "wb") as copy:
            copy.write(file_.read())
    return {"seconds": time.perf_counter() - t, "rows": rows, "bytes": os.path.getsize(target)}


def registry_run(world: World) -> list[list[str]]:
    from applications.models import Household, Person

    rows: list[list[str]] = [["registry sheets (PostgreSQL)", "figure"]]
    work = Path(tempfile.mkdtemp(prefix="fupin-bench-"))
    say(f"writing a sheet of {HOUSEHOLDS:,} households ({HOUSEHOLDS * PEOPLE:,} person rows)")
    data = sheet_rows(world)
    xlsx, csv_path = write_files(data, work)
    del data
    sizes = f"{xlsx.stat().st_size / 1e6:.1f} MB .xlsx, {csv_path.stat().st_size / 1e6:.1f} MB CSV"
    say(f"files: {sizes}")
    rows.append(["the sheet", f"{HOUSEHOLDS:,} households, {HOUSEHOLDS * PEOPLE:,} rows; {sizes}"])
    for label, path in (("xlsx", xlsx), ("CSV (GB18030)", csv_path)):
        say(f"dry run of the {label} file")
        m = in_child("import", str(path), "dry")
        if m["problems"] or m["households"] != HOUSEHOLDS:
            raise SystemExit(f"the dry run found problems: {m}")
        rows.append([f"dry run, {label}", f"{m['seconds']:.1f} s, peak {m['peak_mb']:.0f} MB"])
    say("real run of the xlsx file")
    m = in_child("import", str(xlsx), "real")
    if m["created"] != HOUSEHOLDS:
        raise SystemExit(f"the real run did not register every household: {m}")
    rows.append(
        [
            "real run, xlsx (encrypted, audited, one transaction)",
            f"{m['seconds']:.1f} s, peak {m['peak_mb']:.0f} MB",
        ]
    )
    rows.append(
        [
            "registry after the import",
            f"{Household.objects.count():,} households, {Person.objects.count():,} persons",
        ]
    )
    for fmt, reveal in (("xlsx", "masked"), ("csv", "masked"), ("xlsx", "full")):
        say(f"export as {fmt}, {reveal}")
        m = in_child("export", fmt, reveal, str(work / f"export-{reveal}.{fmt}"))
        rows.append(
            [
                f"export of {HOUSEHOLDS:,} households, {fmt}, {reveal} numbers",
                f"{m['seconds']:.1f} s, {m['rows']:,} rows, {m['bytes'] / 1e6:.1f} MB, "
                f"peak {m['peak_mb']:.0f} MB",
            ]
        )
    say("verify_audit")
    t = time.perf_counter()
    from django.core.management import call_command

    call_command("verify_audit", verbosity=0)
    rows.append(["verify_audit afterwards", f"passed in {time.perf_counter() - t:.0f} s"])
    return rows


def main() -> None:
    """The child's entry: ``import PATH dry|real`` or ``export FORMAT masked|full TARGET``."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from benchmarks.crosscheck import peak_mb

    command, *args = sys.argv[1:]
    result = import_file(*args) if command == "import" else export_file(*args)
    result["peak_mb"] = peak_mb()
    print(json.dumps(result, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
