"""The stored files checked against the hashes the database holds for them: every issued
document and every attachment (their SHA-256 is also in the audit trail). After a restore,
and whenever an administrator wants to know that the disk still holds what was stored."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.core.files.storage import default_storage

from approvals.models import Attachment
from common.files import sha256_of
from documents.models import StoredDocument


def file_sha256(name: str) -> str:
    with default_storage.open(name, "rb") as stream:
        return sha256_of(stream)[0]


@dataclass
class FilesReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _stored() -> Iterator[tuple[str, str, str, int]]:
    """(what, file name, SHA-256, size) of every stored file the database vouches for."""
    for pk, name, sha256, size in (
        StoredDocument.objects.order_by("pk")
        .values_list("pk", "file", "sha256", "size")
        .iterator(chunk_size=2000)
    ):
        yield f"document {pk}", name, sha256, size
    for pk, name, sha256, size in (
        Attachment.objects.order_by("pk")
        .values_list("pk", "file", "sha256", "size")
        .iterator(chunk_size=2000)
    ):
        yield f"attachment {pk}", name, sha256, size


def stored_files_check() -> FilesReport:
    """Each issued document and attachment: present, of its size, of its hash."""
    report = FilesReport()
    for what, name, sha256, size in _stored():
        report.checked += 1
        if not default_storage.exists(name):
            report.problems.append(f"{what}: {name} is missing")
            continue
        if default_storage.size(name) != size:
            report.problems.append(
                f"{what}: {name} has {default_storage.size(name)} bytes, not {size}"
            )
            continue
        if file_sha256(name) != sha256:
            report.problems.append(f"{what}: {name} does not match its SHA-256")
    return report
