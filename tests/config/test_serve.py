"""``make serve`` (``scripts/serve.sh``): refuses to start without its settings, naming each;
on PostgreSQL it runs gunicorn, task workers and the timers as in production, /healthz says
they live, and stopping it (or losing any one of them) stops them all."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "serve.sh"
BASH = shutil.which("bash") or "/bin/bash"
PS = shutil.which("ps") or "/bin/ps"
REQUIRED = (
    "DATABASE_URL",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "FUPIN_ID_KEY",
    "FUPIN_PUBLIC_URL",
)
KEYS = {
    "DJANGO_SECRET_KEY": "7NL6pt-cS9UbzH_yrXNAsTHpM3r0zz4XI17CavFnR28DWKawTX_IEK1LtNCC",
    "FUPIN_ID_KEY": "gY48UxuzHZTorMILiajvcumwCm6JGnxx-29ddWP33ck=",
    "DJANGO_ALLOWED_HOSTS": "fupin.example.org,127.0.0.1",
    "FUPIN_PUBLIC_URL": "https://fupin.example.org",
}


def clean_env(**env: str) -> dict[str, str]:
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "DJANGO_", "FUPIN_")) and k != "FUPIN_ENV_FILE"
    }
    return {**kept, **env}


def serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (a fixed script of this project)
        [BASH, str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_it_refuses_to_start_without_its_settings_naming_each() -> None:
    result = serve(clean_env())

    assert result.returncode == 2
    first = result.stderr.splitlines()[0]
    assert first.startswith("make serve: not started:")
    for name in REQUIRED:
        assert name in first
        assert any(line.strip().startswith(name) for line in result.stderr.splitlines()[1:])
    assert "deploy/fupin.env.example" in result.stderr


def test_it_names_only_what_is_missing(tmp_path: Path) -> None:
    settings_file = tmp_path / "fupin.env"
    settings_file.write_text("".join(f"{k}={v}\n" for k, v in KEYS.items() if k != "FUPIN_ID_KEY"))

    result = serve(clean_env(FUPIN_ENV_FILE=str(settings_file)))

    assert result.returncode == 2
    assert (
        result.stderr.splitlines()[0]
        == "make serve: not started: DATABASE_URL FUPIN_ID_KEY not set."
    )


def test_it_runs_on_postgresql_only() -> None:
    result = serve(clean_env(DATABASE_URL="sqlite:////tmp/x.sqlite3", **KEYS))

    assert result.returncode == 2
    assert "it runs on PostgreSQL, and DATABASE_URL is sqlite:" in result.stderr


def test_a_key_that_is_no_fernet_key_stops_it_with_the_reason() -> None:
    keys = {**KEYS, "FUPIN_ID_KEY": "not-a-key"}

    result = serve(clean_env(DATABASE_URL="postgres://nobody@127.0.0.1:1/none", **keys))

    assert result.returncode != 0
    assert "FUPIN_ID_KEY holds a value that is not a Fernet key" in result.stderr


# --- running it --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (127.0.0.1)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def session_processes(sid: int) -> list[str]:
    out = subprocess.run(  # noqa: S603
        [PS, "-o", "pid=,args=", "-s", str(sid)], capture_output=True, text=True
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


@pytest.fixture
def served(tmp_path: Path, flushable_ledger: None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    port = free_port()
    env = clean_env(
        DATABASE_URL=url,
        FUPIN_VAR_DIR=str(tmp_path / "var"),
        FUPIN_MEDIA_ROOT=str(tmp_path / "media"),
        FUPIN_BIND=f"127.0.0.1:{port}",
        FUPIN_WEB_WORKERS="2",
        FUPIN_TASK_WORKERS="2",
        FUPIN_ACCESS_LOG="",
        **KEYS,
    )
    log = (tmp_path / "serve.log").open("w+")
    process = subprocess.Popen(  # noqa: S603
        [BASH, str(SCRIPT)],
        cwd=ROOT,
        env=env,
        stdout=log,  # a file, never a pipe nobody drains
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    process.log = log  # type: ignore[attr-defined]
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status, _, body = get(f"{base}/healthz")
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(0.5)
        else:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            log.seek(0)
            pytest.fail(f"not healthy in time: {process.poll()}\n{log.read()[-3000:]}")
        yield process, base
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


@pytest.mark.postgres
@pytest.mark.slow
def test_it_serves_as_in_production_and_stops_whole(
    served: tuple[subprocess.Popen[str], str],
) -> None:
    process, base = served
    processes = session_processes(process.pid)

    status, _, body = get(f"{base}/healthz")
    assert status == 200, body
    # Production: plain HTTP is sent to HTTPS; behind nginx (X-Forwarded-Proto) it serves.
    status, headers, _ = get(f"{base}/accounts/login/", Host="fupin.example.org")
    assert status == 301 and headers["Location"].startswith("https://fupin.example.org/")
    status, headers, body = get(
        f"{base}/accounts/login/", Host="fupin.example.org", **{"X-Forwarded-Proto": "https"}
    )
    assert status == 200 and "Strict-Transport-Security" in headers
    assert b"csrfmiddlewaretoken" in body
    status, _, _ = get(f"{base}/accounts/login/", Host="evil.example.com")
    assert status == 400
    status, headers, _ = get(f"{base}/static/admin/css/base.css", **{"X-Forwarded-Proto": "https"})
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    assert sum("db_worker" in p for p in processes) == 2
    assert sum("process_timers --loop" in p for p in processes) == 1
    assert sum("gunicorn" in p for p in processes) == 3  # the arbiter and two workers

    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 143
    time.sleep(1)
    assert session_processes(process.pid) == []


@pytest.mark.postgres
@pytest.mark.slow
def test_losing_any_one_process_stops_them_all(
    served: tuple[subprocess.Popen[str], str],
) -> None:
    process, _ = served
    timers = next(p for p in session_processes(process.pid) if "process_timers" in p)

    os.kill(int(timers.split()[0]), signal.SIGKILL)

    assert process.wait(60) != 0
    time.sleep(1)
    assert session_processes(process.pid) == []
    process.log.seek(0)  # type: ignore[attr-defined]
    assert "a process ended" in process.log.read()  # type: ignore[attr-defined]
