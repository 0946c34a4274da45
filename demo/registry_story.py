"""The demo's registry sheets: 四坝村's cadre checks a sheet of three newly identified
households. The first check finds two problems (an ID number's check digit, and a card in
the wife's name); the corrected sheet checks clean and waits for the cadre's confirmation.
Nothing is registered, so the demo's registry stays as ``demo.seed`` built it."""

from __future__ import annotations

import csv
import io
import random
from datetime import date, timedelta
from typing import Any

from applications.idnumbers import id_check_digit
from applications.imports import household_import_start
from applications.models import HouseholdImport
from applications.registry_sheet import HEADERS

VILLAGE = "620902100200"  # 四坝村


def _number(rng: random.Random, used: set[str]) -> str:
    while True:
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 20000))
        first17 = f"620902{born:%Y%m%d}{rng.randrange(800, 999):03d}"
        if first17 not in used:
            used.add(first17)
            return first17 + id_check_digit(first17)


def _sheet(rng: random.Random) -> list[list[str]]:
    used: set[str] = set()
    people = [
        ("1", "祁永福", "户主", "一般贫困户", "因病、缺资金", "6228480402564890018", "13993712345"),
        ("1", "马秀兰", "配偶", "", "", "", ""),
        ("1", "祁小军", "子女", "", "", "", ""),
        ("2", "杜建国", "户主", "低保贫困户", "因残", "6217004230015678213", "13893754321"),
        ("2", "杜桂花", "父母", "", "", "", ""),
        (
            "3",
            "鲁春花",
            "户主",
            "特困供养贫困户",
            "缺劳力、因病",
            "6228480402569913344",
            "09372612345",
        ),
    ]
    rows = []
    for key, name, relation, kind, causes, card, phone in people:
        rows.append(
            [
                key,
                VILLAGE,
                name,
                _number(rng, used),
                relation,
                kind,
                causes,
                card,
                name if card else "",
                phone,
            ]
        )
    return rows


def _csv(rows: list[list[str]]) -> io.BytesIO:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    writer.writerows(rows)
    return io.BytesIO(out.getvalue().encode("gb18030"))


def registry_story(cadre: Any, rng: random.Random) -> list[HouseholdImport]:
    rows = _sheet(rng)
    wrong = [list(r) for r in rows]
    number = wrong[1][3]
    wrong[1][3] = number[:17] + ("0" if number[17] != "0" else "1")
    wrong[3][8] = "杜桂花"  # the card in the mother's name
    first = household_import_start(
        actor=cadre, file=_csv(wrong), file_name="四坝村新识别农户.csv", dry_run=True
    )
    second = household_import_start(
        actor=cadre, file=_csv(rows), file_name="四坝村新识别农户（改正后）.csv", dry_run=True
    )
    return [first, second]
