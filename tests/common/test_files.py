from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage

from common.files import stored_file


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    return tmp_path


def test_stored_file_keeps_the_file_when_the_block_succeeds() -> None:
    with stored_file("x/a.bin", b"data") as name:
        pass

    assert default_storage.exists(name)
    with default_storage.open(name) as handle:
        assert handle.read() == b"data"


def test_stored_file_removes_the_file_when_the_block_fails() -> None:
    seen: list[str] = []
    with pytest.raises(RuntimeError):
        with stored_file("x/b.bin", b"data") as name:
            seen.append(name)
            raise RuntimeError("the row did not commit")

    assert seen and not default_storage.exists(seen[0])


def test_sha256_of_reads_the_rest_of_a_stream_in_chunks() -> None:
    import hashlib
    import io

    from common.files import sha256_of

    body = b"x" * (3 << 20) + b"tail"
    stream = io.BytesIO(b"head" + body)
    stream.read(4)

    assert sha256_of(stream) == (hashlib.sha256(body).hexdigest(), len(body))
    assert sha256_of(io.BytesIO()) == (hashlib.sha256(b"").hexdigest(), 0)
