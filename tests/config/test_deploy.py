"""What a county's administrator installs (``deploy/``) agrees with the code: every setting
the code reads is explained in the environment template, every command the units and cron
lines run exists, and nginx lets through what the site accepts and waits as long as it may
take."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

from django.core.management import get_commands

from applications.imports import MAX_IMPORT_BYTES
from tests.test_layout import APPS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SOURCES = ("config", *APPS)
# Read by the test suite only, or naming the template's file itself.
NOT_FOR_A_SITE = {"FUPIN_REQUIRE_POSTGRES", "FUPIN_ENV_FILE"}
_READ = re.compile(
    r"""(?:environ(?:\.get)?\(\s*|environ\[|_env_bool\(|_required\()\s*["']([A-Z][A-Z0-9_]+)["']"""
)


def settings_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for app in SOURCES:
        for path in (ROOT / app).rglob("*.py"):
            names |= set(_READ.findall(path.read_text(encoding="utf-8")))
    names |= set(
        re.findall(
            r"\$\{?(FUPIN_[A-Z_]+|DJANGO_[A-Z_]+|DATABASE_[A-Z_]+)",
            (ROOT / "scripts" / "serve.sh").read_text(),
        )
    )
    return names - NOT_FOR_A_SITE


def test_every_setting_the_code_reads_is_explained_in_the_template() -> None:
    template = (DEPLOY / "fupin.env.example").read_text()
    explained = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", template, flags=re.MULTILINE))
    read = settings_read_by_the_code()

    assert {"DATABASE_URL", "DJANGO_SECRET_KEY", "FUPIN_ID_KEY", "FUPIN_WEB_WORKERS"} <= read
    assert read - explained == set()


def test_every_command_the_units_and_cron_run_exists() -> None:
    texts = [p.read_text() for p in (DEPLOY / "systemd").iterdir()]
    texts.append((DEPLOY / "cron" / "fupin").read_text())
    used = set()
    for text in texts:
        used |= set(re.findall(r"manage\.py ([a-z_]+)", text))
        used |= set(re.findall(r"fupin-manage ([a-z_]+)", text))

    assert {"migrate", "db_worker", "process_timers", "audit_anchor", "backup"} <= used
    assert used - set(get_commands()) == set()


def test_nginx_takes_the_largest_upload_and_outwaits_gunicorn() -> None:
    site = (DEPLOY / "nginx" / "fupin.conf").read_text()
    body = re.search(r"client_max_body_size (\d+)m;", site)
    read_timeout = re.search(r"proxy_read_timeout (\d+)s;", site)
    gunicorn = runpy.run_path(str(ROOT / "config" / "gunicorn.py"))

    assert body is not None and read_timeout is not None
    assert int(body.group(1)) * 1024 * 1024 > MAX_IMPORT_BYTES
    assert int(read_timeout.group(1)) > gunicorn["timeout"]
    assert "location /media/" in site and "return 404;" in site


def test_every_location_of_the_site_reaches_gunicorn_but_files_on_disk() -> None:
    site = (DEPLOY / "nginx" / "fupin.conf").read_text()
    server = site[site.index("listen 443") :]
    blocks = dict(re.findall(r"location ([^{]+?) \{(.*?)\n    \}", server, flags=re.DOTALL))

    assert set(blocks) == {
        "/static/",
        "/media/",
        "= /healthz",
        "~ ^/(accounts/login/|api/v1/auth/token/)",
        "/",
    }
    for where, body in blocks.items():
        if where in ("/static/", "/media/"):
            assert "proxy_pass" not in body
        else:
            assert "proxy_pass http://fupin_web;" in body, where
            assert "allow" in body or "X-Forwarded-Proto $scheme" in body, where


def test_the_units_are_enabled_through_their_target() -> None:
    target = (DEPLOY / "systemd" / "fupin.target").read_text()
    for unit in ("fupin-web.service", "fupin-timers.service", "fupin-worker@.service"):
        assert "WantedBy=fupin.target" in (DEPLOY / "systemd" / unit).read_text()
    assert "Wants=fupin-web.service fupin-timers.service fupin-worker@1.service" in target
