"""The published reference rates, seeded.

- Benchmark lending rates (贷款基准利率) of the People's Bank of China, in force from
  2015-10-24 (中国人民银行，2015年10月23日《中国人民银行决定下调金融机构人民币贷款和存款
  基准利率并进一步推进利率市场化改革》): up to one year 4.35%, one to five years 4.75%. No
  change since; from 2019-08-20 new loans are priced on the LPR instead.
- Loan prime rates (贷款市场报价利率) published by the National Interbank Funding Center
  (全国银行间同业拆借中心, on behalf of the People's Bank) on the 20th of each month from
  2019-08-20: the months in which either rate changed, each rate from the day it was
  published.

Each row names its source; later rates are added through the API (audited)."""

from datetime import date
from decimal import Decimal
from typing import Any

from django.db import migrations

PBOC = "中国人民银行：2015年10月24日起执行的金融机构人民币贷款基准利率"
CFETS = "全国银行间同业拆借中心受权公布的贷款市场报价利率（LPR）"

BENCHMARK = [
    ("benchmark_1y", date(2015, 10, 24), "4.35"),
    ("benchmark_1_5y", date(2015, 10, 24), "4.75"),
]
# (date published, 1-year LPR, over-5-year LPR)
LPR = [
    (date(2019, 8, 20), "4.25", "4.85"),
    (date(2019, 9, 20), "4.20", "4.85"),
    (date(2019, 11, 20), "4.15", "4.80"),
    (date(2020, 2, 20), "4.05", "4.75"),
    (date(2020, 4, 20), "3.85", "4.65"),
    (date(2021, 12, 20), "3.80", "4.65"),
    (date(2022, 1, 20), "3.70", "4.60"),
    (date(2022, 5, 20), "3.70", "4.45"),
    (date(2022, 8, 22), "3.65", "4.30"),
    (date(2023, 6, 20), "3.55", "4.20"),
    (date(2023, 8, 21), "3.45", "4.20"),
    (date(2024, 2, 20), "3.45", "3.95"),
    (date(2024, 7, 22), "3.35", "3.85"),
    (date(2024, 10, 21), "3.10", "3.60"),
    (date(2025, 5, 20), "3.00", "3.50"),
]


def seed(apps: Any, schema_editor: Any) -> None:
    ReferenceRate = apps.get_model("loans", "ReferenceRate")
    rows = [
        ReferenceRate(kind=k, effective_from=d, rate=Decimal(r), source=PBOC)
        for k, d, r in BENCHMARK
    ]
    last: dict[str, str] = {}
    for day, one_year, five_year in LPR:
        for kind, rate in (("lpr_1y", one_year), ("lpr_5y", five_year)):
            if last.get(kind) != rate:  # a row where the rate changed
                rows.append(
                    ReferenceRate(kind=kind, effective_from=day, rate=Decimal(rate), source=CFETS)
                )
                last[kind] = rate
    ReferenceRate.objects.bulk_create(rows)


def unseed(apps: Any, schema_editor: Any) -> None:
    apps.get_model("loans", "ReferenceRate").objects.filter(created_by=None).delete()


class Migration(migrations.Migration):
    dependencies = [("loans", "0001_reference_rates")]

    operations = [migrations.RunPython(seed, unseed)]
