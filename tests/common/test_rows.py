"""``common.rows``: many rows written in a few statements: ``rows_update`` (each row its own
values: VALUES on PostgreSQL, executemany elsewhere; or one value for all) and
``rows_insert`` (COPY on PostgreSQL, executemany elsewhere)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from applications.models import Household
from common.rows import rows_insert, rows_update
from tests.factories import World

pytestmark = pytest.mark.django_db


def test_each_row_gets_its_own_values_and_nothing_else_changes(world: World) -> None:
    households = [world.household() for _ in range(3)]
    untouched = world.household()
    for n, household in enumerate(households):
        household.phone = f"1390000000{n}"
        household.bank_card_holder = ["张三", None, "李四·阿不都"][n] or ""

    with CaptureQueriesContext(connection) as queries:
        rows_update(households, ["phone", "bank_card_holder"])

    stored = {h.pk: (h.phone, h.bank_card_holder) for h in Household.objects.all()}
    assert [stored[h.pk] for h in households] == [
        ("13900000000", "张三"),
        ("13900000001", ""),
        ("13900000002", "李四·阿不都"),
    ]
    before = Household.objects.get(pk=untouched.pk)
    assert stored[untouched.pk] == (before.phone, before.bank_card_holder)
    assert len(queries) <= 2


def test_the_same_values_for_every_row_are_one_statement(world: World) -> None:
    app = world.application()
    other = world.application()
    for a in (app, other):
        a.amount = Decimal("1234.50")

    with CaptureQueriesContext(connection) as queries:
        rows_update([app, other], ["amount"])

    assert len([q for q in queries if q["sql"].startswith("UPDATE")]) == 1
    app.refresh_from_db()
    other.refresh_from_db()
    assert app.amount == other.amount == Decimal("1234.50")


def test_a_name_that_is_not_a_column_is_refused(world: World) -> None:
    with pytest.raises(ValueError, match="not a column"):
        rows_update([world.household()], ["members"])


def test_rows_insert_writes_new_rows_with_their_types_in_one_statement(world: World) -> None:
    from datetime import UTC, date, datetime

    from loans.models import ReferenceRate

    rows = [
        (
            "lpr_1y",
            date(2031, 1, 20),
            Decimal("2.9500"),
            "测试来源 A",
            None,
            datetime(2031, 1, 20, tzinfo=UTC),
        ),
        (
            "lpr_5y",
            date(2031, 1, 20),
            Decimal("3.4500"),
            "测试来源 B",
            None,
            datetime(2031, 1, 20, tzinfo=UTC),
        ),
    ]
    fields = ("kind", "effective_from", "rate", "source", "created_by_id", "created_at")
    with CaptureQueriesContext(connection) as queries:
        written = rows_insert(ReferenceRate, fields, iter(rows))

    assert written == 2
    stored = ReferenceRate.objects.filter(effective_from=date(2031, 1, 20)).order_by("kind")
    assert [(r.kind, r.rate, r.source) for r in stored] == [
        ("lpr_1y", Decimal("2.9500"), "测试来源 A"),
        ("lpr_5y", Decimal("3.4500"), "测试来源 B"),
    ]
    assert len(queries) <= 1


def test_rows_insert_keeps_the_databases_constraints(world: World) -> None:
    from datetime import UTC, date, datetime

    from django.db import IntegrityError, transaction

    from loans.models import ReferenceRate

    row = ("lpr_1y", date(2031, 2, 20), Decimal("99.0000"), "越界", None, datetime.now(UTC))
    fields = ("kind", "effective_from", "rate", "source", "created_by_id", "created_at")
    with pytest.raises(IntegrityError), transaction.atomic():
        rows_insert(ReferenceRate, fields, [row])
    assert not ReferenceRate.objects.filter(effective_from=date(2031, 2, 20)).exists()
