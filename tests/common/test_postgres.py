"""Prepared statements (``DATABASE_PREPARED``, on by default) on a real PostgreSQL connection:
what the protocol cannot carry is quoted into the statement's text; the rest is prepared."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import OperationalError, connection
from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]
    DatabaseWrapper,
    ServerBindingCursor,
)

from applications.models import Area
from common.postgres import BoundedServerBindingCursor

# The other connection reads the places the session committed (tests.conftest).
pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

# One more value in an IN list than a bound statement may carry.
MANY = 65_536


def _connection(cursor_factory: type) -> DatabaseWrapper:
    settings = {**connection.settings_dict}
    settings["OPTIONS"] = {
        **settings["OPTIONS"],
        "server_side_binding": True,
        "prepare_threshold": 2,
        "cursor_factory": cursor_factory,
    }
    return DatabaseWrapper(settings, alias="prepared")


@pytest.fixture
def prepared() -> Iterator[DatabaseWrapper]:
    wrapper = _connection(BoundedServerBindingCursor)
    yield wrapper
    wrapper.close()


def _areas_in(wrapper: DatabaseWrapper, codes: list[str]) -> int:
    """The ORM's statement for a long ``IN`` list, run on ``wrapper``."""
    sql, params = Area.objects.filter(code__in=codes).values("pk").query.sql_with_params()
    with wrapper.cursor() as cursor:
        cursor.execute(sql, params)
        return len(cursor.fetchall())


def test_a_statement_with_more_parameters_than_the_protocol_carries_runs(
    prepared: DatabaseWrapper,
) -> None:
    known = list(Area.objects.values_list("code", flat=True)[:2])
    codes = [f"9{n:011d}" for n in range(MANY - 2)] + known

    for _ in range(3):  # enough for a statement to be prepared, had it been counted
        assert _areas_in(prepared, codes) == 2
    with prepared.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone() == (0,)  # quoted, never prepared
    assert prepared.connection.prepare_threshold == 2  # as it was


def test_djangos_own_binding_cursor_cannot_run_it() -> None:
    stock = _connection(ServerBindingCursor)
    try:
        with pytest.raises(OperationalError, match="65535"):
            _areas_in(stock, [f"9{n:011d}" for n in range(MANY)])
    finally:
        stock.close()


def test_a_statement_run_again_is_prepared(prepared: DatabaseWrapper) -> None:
    known = list(Area.objects.values_list("code", flat=True)[:2])
    for _ in range(3):
        assert _areas_in(prepared, known) == 2

    with prepared.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%applications_area%"],
        )
        assert cursor.fetchone() == (1,)


def test_a_statement_matching_a_pattern_is_never_prepared(prepared: DatabaseWrapper) -> None:
    # A kept plan would not scan the prefix's range of the index (common.postgres).
    county = Area.objects.filter(code__startswith="620902")
    sql, params = county.values("pk").query.sql_with_params()
    with prepared.cursor() as cursor:
        for _ in range(3):
            cursor.execute(sql, params)
            assert len(cursor.fetchall()) == county.count() > 1
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone() == (0,)
