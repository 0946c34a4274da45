"""``FUPIN_PUBLIC_URL``, the address printed with a QR code on every document: production
refuses to start without it, and ``manage.py check`` says when it is wrong (an error) or
points to this machine only (a warning)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from documents.apps import check_public_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("url", "ids"),
    [
        ("https://fupin.example.gov.cn", []),
        ("http://10.0.3.7:8000", []),
        ("http://127.0.0.1:8000", ["documents.W001"]),
        ("http://localhost:8000/", ["documents.W001"]),
        ("", ["documents.E001"]),
        ("fupin.example.gov.cn", ["documents.E001"]),
        ("ftp://fupin.example.gov.cn", ["documents.E001"]),
    ],
)
def test_the_check_names_a_wrong_or_loopback_address(
    settings: Any, url: str, ids: list[str]
) -> None:
    settings.FUPIN_PUBLIC_URL = url

    assert [message.id for message in check_public_url()] == ids


def _production(**extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FUPIN_"))} | {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "example.org",
        "FUPIN_ID_KEY": Fernet.generate_key().decode(),
        **extra,
    }
    return subprocess.run(  # noqa: S603 - this interpreter, this project's manage.py
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_production_refuses_to_start_without_it_and_fails_the_deploy_check_on_loopback() -> None:
    missing = _production()
    assert missing.returncode != 0
    assert "FUPIN_PUBLIC_URL must be set when DJANGO_DEBUG is false" in missing.stderr

    loopback = _production(FUPIN_PUBLIC_URL="http://127.0.0.1:8000")
    assert loopback.returncode != 0
    assert "documents.W001" in loopback.stderr + loopback.stdout

    assert _production(FUPIN_PUBLIC_URL="https://fupin.example.gov.cn").returncode == 0
