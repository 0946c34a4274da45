"""Settings read from the environment, checked in a fresh interpreter (the test process
has its settings already)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _setting(expression: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DJANGO_"))}
    result = subprocess.run(  # noqa: S603 (this interpreter, a fixed program)
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; "
            f"django.setup(); from django.conf import settings; print({expression})",
        ],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def test_postgres_connections_close_after_each_request_unless_production_says_otherwise() -> None:
    url = "postgres://fupin@127.0.0.1:5432/fupin"
    expression = 'settings.DATABASES["default"]["CONN_MAX_AGE"]'

    assert _setting(expression, DATABASE_URL=url) == "0"
    assert _setting(expression, DATABASE_URL=url, DATABASE_CONN_MAX_AGE="60") == "60"


def test_postgres_binds_and_prepares_statements_unless_told_not_to() -> None:
    url = "postgres://fupin@127.0.0.1:5432/fupin"
    replica = "postgres://fupin@127.0.0.1:5433/fupin"
    expression = (
        '[settings.DATABASES[a]["OPTIONS"].get(k) for a in ("default", "replica") '
        'for k in ("server_side_binding", "prepare_threshold")] + '
        '[getattr(settings.DATABASES[a]["OPTIONS"].get("cursor_factory"), "__name__", None) '
        'for a in ("default", "replica")]'
    )
    prepared = "[True, 2, True, 2, 'BoundedServerBindingCursor', 'BoundedServerBindingCursor']"

    assert _setting(expression, DATABASE_URL=url, DATABASE_REPLICA_URL=replica) == prepared
    assert (
        _setting(expression, DATABASE_URL=url, DATABASE_REPLICA_URL=replica, DATABASE_PREPARED="1")
        == prepared
    )
    for off in ("false", "0"):
        assert _setting(
            expression, DATABASE_URL=url, DATABASE_REPLICA_URL=replica, DATABASE_PREPARED=off
        ) == ("[None, None, None, None, None, None]")
    sqlite = 'settings.DATABASES["default"]["OPTIONS"].get("server_side_binding")'
    assert _setting(sqlite) == "None"
    assert _setting(sqlite, DATABASE_PREPARED="true") == "None"


def test_production_counts_in_the_database_cache_every_web_process_shares() -> None:
    production = {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "x" * 50,
        "FUPIN_ID_KEY": "gY48UxuzHZTorMILiajvcumwCm6JGnxx-29ddWP33ck=",
        "FUPIN_PUBLIC_URL": "https://example.org",
    }
    expression = 'settings.CACHES["default"]["BACKEND"]'

    assert _setting(expression) == "django.core.cache.backends.locmem.LocMemCache"
    assert _setting(expression, **production) == "django.core.cache.backends.db.DatabaseCache"


def test_the_servers_entry_points_load_the_site() -> None:
    from config.asgi import application as asgi
    from config.wsgi import application as wsgi

    assert callable(wsgi) and callable(asgi)
