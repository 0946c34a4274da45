from __future__ import annotations

from typing import Any

from documents.selectors import normalize_code
from documents.services.verification import (
    CODE_LENGTH,
    verification_code_new,
    verification_url,
)


def test_verification_code_new_is_ten_base32_characters() -> None:
    codes = {verification_code_new() for _ in range(50)}

    assert len(codes) == 50
    for code in codes:
        assert len(code) == CODE_LENGTH
        assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        assert normalize_code(code) == code


def test_verification_url_uses_the_public_host_and_the_code(settings: Any) -> None:
    settings.FUPIN_PUBLIC_URL = "https://fupin.example.org/"

    assert verification_url("ABCDEFGHIJ") == (
        "https://fupin.example.org/documents/verify/ABCDEFGHIJ/"
    )
