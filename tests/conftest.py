"""Fixtures for the whole suite, and the PostgreSQL contract of the test run:

- ``FUPIN_REQUIRE_POSTGRES`` set: the session fails (never skips) unless the database is
  PostgreSQL and answers.
- Tests marked ``postgres`` are skipped on SQLite only when it is not set.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from pytest_django.plugin import blocking_manager_key
from rest_framework.test import APIClient

from audit import append_only
from tests.factories import SchemaExecutor, World, build_world, load_world, password_of

APPEND_ONLY_TABLES = (
    "audit_auditentry",
    "approvals_decision",
    "loans_fundmovement",
    "loans_repayment",
    "loans_repaymentimport",
)


def _postgres_required() -> bool:
    return os.environ.get("FUPIN_REQUIRE_POSTGRES", "").strip().lower() not in (
        "",
        "0",
        "false",
        "no",
    )


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def pytest_configure(config: pytest.Config) -> None:
    # WhiteNoise warns once per request that `collectstatic` has not filled var/static/;
    # the API tests do not serve static files.
    config.addinivalue_line("filterwarnings", "ignore:No directory at:UserWarning")


def pytest_sessionstart(session: pytest.Session) -> None:
    from django.conf import settings

    # Before any password is hashed (get_hashers() caches): the default hasher would
    # dominate the time of a suite that logs a user in for most API tests.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

    if not _postgres_required():
        return
    if not _is_postgres():
        pytest.exit(
            "FUPIN_REQUIRE_POSTGRES is set but the database is "
            f"{connection.vendor}: set DATABASE_URL=postgres://...",
            returncode=3,
        )
    import psycopg

    db = settings.DATABASES["default"]
    try:
        psycopg.connect(
            host=db.get("HOST") or None,
            port=db.get("PORT") or None,
            user=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            dbname="postgres",
            connect_timeout=5,
        ).close()
    except psycopg.Error as exc:
        pytest.exit(
            f"FUPIN_REQUIRE_POSTGRES is set but PostgreSQL is not reachable: {exc}",
            returncode=3,
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("DATABASE_REPLICA_URL"):
        no_replica = pytest.mark.skip(reason="needs a streaming replica (make replica-test)")
        for item in items:
            if item.get_closest_marker("replica"):
                item.add_marker(no_replica)
    if _is_postgres() or _postgres_required():
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...)")
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(skip)


# --- the append-only triggers, for tests that must get past them -----------------------


def _with_partitions(tables: tuple[str, ...]) -> list[str]:
    """The tables and the ledger's partitions (each with a TRUNCATE trigger of its own)."""
    from audit import partitions

    parts = partitions.partitions(connection) if partitions.PARENT in tables else []
    return [*tables, *parts]


def triggers_off(tables: tuple[str, ...] = APPEND_ONLY_TABLES) -> None:
    """What an attacker with rights on the database does first."""
    if _is_postgres():
        with connection.cursor() as cursor:
            # Deferred foreign-key checks pending in this transaction would block ALTER TABLE.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in _with_partitions(tables):
                cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER USER')
    else:
        for table in tables:
            append_only.uninstall(SchemaExecutor(), table)


def triggers_on(tables: tuple[str, ...] = APPEND_ONLY_TABLES) -> None:
    if _is_postgres():
        with connection.cursor() as cursor:
            for table in _with_partitions(tables):
                cursor.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER USER')
    else:
        for table in tables:
            append_only.install(SchemaExecutor(), table)


@pytest.fixture
def append_only_bypassed() -> Callable[[], AbstractContextManager[None]]:
    """``with append_only_bypassed(): ...`` runs SQL the triggers would refuse. Inside a
    test's transaction, so rolled back with it; switched back on at the end anyway."""

    @contextmanager
    def bypass() -> Iterator[None]:
        triggers_off(("audit_auditentry",))
        try:
            yield
        finally:
            triggers_on(("audit_auditentry",))

    return bypass


_restore_triggers_after_teardown = False


@pytest.fixture
def flushable_ledger(transactional_db: None) -> Generator[None]:
    """For ``transaction=True`` tests: Django empties the tables after such a test (DELETE
    on SQLite, TRUNCATE on PostgreSQL), which the append-only triggers refuse. They are
    switched off for that flush and back on right after it (``pytest_runtest_teardown``)."""
    global _restore_triggers_after_teardown
    yield
    triggers_off()
    _restore_triggers_after_teardown = True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    global _restore_triggers_after_teardown
    try:
        return (yield)
    finally:
        # After the last test the test database is already gone with the session fixtures.
        if _restore_triggers_after_teardown and nextitem is not None:
            _restore_triggers_after_teardown = False
            with item.config.stash[blocking_manager_key].unblock():
                triggers_on()
                _reseed_published_rates()  # a migration's rows, which the flush took too
                build_world()  # the flush took the shared data with it


def _reseed_published_rates() -> None:
    import importlib

    from django.apps import apps

    from loans.models import ReferenceRate

    if not ReferenceRate.objects.exists():
        importlib.import_module("loans.migrations.0002_published_rates").seed(apps, None)


# --- data ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Generator[None]:
    """The places, users and programs every test starts from, committed once; each test
    runs in a transaction rolled back at its end (``transaction=True`` tests rebuild it)."""
    with django_db_blocker.unblock():
        triggers_on()  # in case a reused database kept them off after a flush
        build_world()
    yield
    if _is_postgres():
        # The browser test's live server is stopped only after the test database is
        # dropped, and its request threads may still hold a connection, which PostgreSQL
        # will not drop a database under: end those sessions first.
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    """Uploaded and issued files go to the test's own directory, never to var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def world(db: None) -> World:
    return load_world()


@pytest.fixture
def api(world: World) -> Callable[..., APIClient]:
    """``api("cadre_v1")``: a client holding that user's token from the token endpoint."""

    def login(username: str, language: str | None = None) -> APIClient:
        client = APIClient()
        response = client.post(
            "/api/v1/auth/token/",
            {"username": username, "password": password_of(username)},
            format="json",
        )
        assert response.status_code == 200, response.content
        headers: dict[str, str] = {"HTTP_AUTHORIZATION": f"Token {response.json()['token']}"}
        if language:
            headers["HTTP_ACCEPT_LANGUAGE"] = language
        client.credentials(**headers)
        return client

    return login
