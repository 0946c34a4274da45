"""Files beside rows. Storage is not transactional: the file is written first and removed
again when the row does not commit, so a stored row always has its file, and a rolled-back
row leaves no orphan behind."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage


@contextmanager
def stored_file(path: str, content: bytes | IO[bytes]) -> Iterator[str]:
    """Store ``content`` under ``path`` (the storage may pick another free name) and yield
    the stored name for the block that inserts its row. If the block raises (the insert or
    its transaction failed), the file is deleted and the error goes on."""
    body = ContentFile(content) if isinstance(content, bytes) else File(content)
    name = default_storage.save(path, body)
    try:
        yield name
    except BaseException:
        default_storage.delete(name)
        raise


def sha256_of(stream: IO[bytes]) -> tuple[str, int]:
    """The SHA-256 (hex) and the size of what is left to read in ``stream``, read a
    megabyte at a time."""
    digest, size = hashlib.sha256(), 0
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
