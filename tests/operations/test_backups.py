"""Backups that restore (``operations.backups``; ``manage.py backup`` and ``restore``): the
database and the stored files with a manifest of SHA-256 hashes; a restore that refuses a
damaged or mismatched backup before it changes anything, and checks what it restored: the
chain heads and row counts against the manifest, ``verify_audit`` with the anchors taken
before the backup, and every stored file's hash (``verify_files``)."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection

from applications.models import Application, Household, Program
from audit.models import AuditEntry
from demo.world import SUBSIDY_CODE
from documents.models import StoredDocument
from documents.services.issuing import agreement_issue
from operations.backups import (
    MANIFEST,
    BackupError,
    _pg_connect,
    backup_create,
    backup_read,
    backup_restore,
    backups_in,
)
from tests.factories import S, World, upload_signed_agreement

# A backup reads what is committed (pg_dump, like SQLite's online backup, never sees a
# test's open transaction): each test commits its data and the tables are emptied after it.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("flushable_ledger")]


def run(name: str, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=out)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue()
    return 0, out.getvalue()


def _pg_drop(name: str) -> None:
    from psycopg import sql

    with closing(_pg_connect(connection.settings_dict, dbname="postgres")) as admin:
        admin.autocommit = True
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _pg_exists(name: str) -> bool:
    with closing(_pg_connect(connection.settings_dict, dbname="postgres")) as admin:
        return bool(
            admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        )


class Target:
    """A new database to restore into, removed afterwards."""

    def __init__(self, tmp_path: Path) -> None:
        self.postgres = connection.vendor == "postgresql"
        db = connection.settings_dict
        if self.postgres:
            self.name = f"{db['NAME']}_restored_{uuid.uuid4().hex[:8]}"
            host = db["HOST"] or "127.0.0.1"
            self.url = f"postgres://{db['USER']}@{host}:{db['PORT'] or 5432}/{self.name}"
        else:
            self.name = str(tmp_path / "restored.sqlite3")
            self.url = f"sqlite:///{self.name}"
        self.media = tmp_path / "restored-media"

    def exists(self) -> bool:
        return _pg_exists(self.name) if self.postgres else Path(self.name).exists()

    def drop(self) -> None:
        if self.postgres:
            _pg_drop(self.name)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    made = Target(tmp_path)
    try:
        yield made
    finally:
        made.drop()


def with_files(world: World) -> tuple[Application, StoredDocument]:
    app = world.application(S.APPROVED)
    document = agreement_issue(actor=world.user("cadre_v1"), application_id=app.pk)
    upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)
    return app, document


# --- the backup ----------------------------------------------------------------------------


def test_a_backup_holds_the_database_and_every_stored_file_with_its_hash(
    world: World, tmp_path: Path, settings: Any
) -> None:
    _, document = with_files(world)

    made = backup_create(tmp_path / "backups")

    manifest = json.loads((made.path / MANIFEST).read_text())
    assert made.path.name.startswith("fupin-") and made.files == 2
    assert manifest["engine"] == connection.vendor
    paths = {entry["path"]: entry for entry in manifest["files"]}
    assert manifest["dump"] in paths
    entry = paths[f"files/{document.file.name}"]
    assert (entry["sha256"], entry["size"]) == (document.sha256, document.size)
    assert (made.path / "files" / document.file.name).read_bytes() == Path(
        settings.MEDIA_ROOT, document.file.name
    ).read_bytes()
    assert ["audit", "0001_initial"] in manifest["migrations"]
    assert set(manifest["rows"]) >= {"audit_auditentry", "applications_household"}
    assert backup_read(made.path) == manifest
    assert not list((tmp_path / "backups").glob(".*partial"))


def test_keep_removes_the_oldest_backups_only_after_a_new_one_is_whole(
    world: World, tmp_path: Path
) -> None:
    root = tmp_path / "backups"
    first = backup_create(root).path
    second = backup_create(root).path

    third = backup_create(root, keep=2)

    assert backups_in(root) == [second, third.path]
    assert third.pruned == [first]


def test_the_command_says_where_and_how_much(world: World, tmp_path: Path) -> None:
    code, out = run("backup", "--to", str(tmp_path / "b"))

    assert code == 0, out
    assert out.startswith(f"backed up to {tmp_path / 'b'}/fupin-")
    assert "manifest SHA-256 " in out


# --- refusals: checked before anything changes ---------------------------------------------


@pytest.fixture
def made(world: World, tmp_path: Path) -> Path:
    with_files(world)
    return backup_create(tmp_path / "backups").path


def refused(made: Path, target: Target, **kwargs: Any) -> str:
    with pytest.raises(BackupError) as error:
        backup_restore(
            made,
            database_url=kwargs.pop("url", target.url),
            media_root=kwargs.pop("media", target.media),
            **kwargs,
        )
    return error.value.code


def test_an_altered_file_refuses_the_restore_and_nothing_is_made(
    made: Path, target: Target
) -> None:
    stored = next(p for p in (made / "files" / "documents").rglob("*") if p.is_file())
    stored.write_bytes(stored.read_bytes()[:-1] + b"\x00")

    assert refused(made, target) == "file_changed"
    assert not target.exists() and not target.media.exists()


def test_an_altered_dump_refuses_the_restore(made: Path, target: Target) -> None:
    manifest = json.loads((made / MANIFEST).read_text())
    with open(made / manifest["dump"], "ab") as stream:
        stream.write(b"\x00")

    assert refused(made, target) == "file_changed"
    assert not target.exists()


def test_a_missing_file_refuses_the_restore(made: Path, target: Target) -> None:
    next(p for p in (made / "files" / "attachments").rglob("*") if p.is_file()).unlink()

    assert refused(made, target) == "file_missing"
    assert not target.exists()


def test_a_backup_that_never_finished_is_refused(made: Path, target: Target) -> None:
    (made / MANIFEST).unlink()

    assert refused(made, target) == "no_manifest"


def test_a_manifest_pointing_outside_the_backup_is_refused(made: Path, target: Target) -> None:
    manifest = json.loads((made / MANIFEST).read_text())
    manifest["files"].append({"path": "../../etc/passwd", "size": 1, "sha256": "0"})
    (made / MANIFEST).write_text(json.dumps(manifest))

    assert refused(made, target) == "manifest_unreadable"


def test_a_backup_of_newer_code_is_refused(made: Path, target: Target) -> None:
    manifest = json.loads((made / MANIFEST).read_text())
    manifest["migrations"].append(["applications", "9999_from_the_future"])
    (made / MANIFEST).write_text(json.dumps(manifest))

    assert refused(made, target) == "backup_newer"
    assert not target.exists()


def test_a_database_in_use_is_never_overwritten(made: Path, target: Target, tmp_path: Path) -> None:
    db = connection.settings_dict
    if target.postgres:
        host = db["HOST"] or "127.0.0.1"
        url = f"postgres://{db['USER']}@{host}:{db['PORT'] or 5432}/{db['NAME']}"
    else:
        used = tmp_path / "used.sqlite3"
        used.write_bytes(b"SQLite format 3\x00")
        url = f"sqlite:///{used}"
    households = Household.objects.count()

    assert refused(made, target, url=url) == "target_not_empty"
    assert Household.objects.count() == households


def test_a_media_directory_with_files_is_never_overwritten(
    made: Path, target: Target, tmp_path: Path
) -> None:
    target.media.mkdir()
    (target.media / "keep.txt").write_text("mine")

    assert refused(made, target) == "media_not_empty"
    assert not target.exists()
    assert (target.media / "keep.txt").read_text() == "mine"


def test_a_target_of_another_engine_is_refused(made: Path, target: Target, tmp_path: Path) -> None:
    other = (
        f"sqlite:///{tmp_path / 'x.sqlite3'}"
        if target.postgres
        else "postgres://postgres@127.0.0.1:5432/never_made"
    )

    assert refused(made, target, url=other) == "engine_mismatch"


def test_the_command_refuses_with_exit_2_and_the_reason(made: Path, target: Target) -> None:
    (made / MANIFEST).unlink()

    code, out = run(
        "restore", str(made), "--database-url", target.url, "--media-root", str(target.media)
    )

    assert code == 2
    assert out.startswith("restore refused (no_manifest): ")


# --- the drill: back up, restore into a new database, check ---------------------------------


def anchor(tmp_path: Path) -> Path:
    path = tmp_path / "anchors.jsonl"
    code, out = run("audit_anchor", "--file", str(path))
    assert code == 0, out
    return path


@pytest.mark.slow
def test_restore_drill_on_the_tests_world(world: World, tmp_path: Path, target: Target) -> None:
    with_files(world)
    anchors = anchor(tmp_path)
    made = backup_create(tmp_path / "backups")

    restored = backup_restore(
        made.path, database_url=target.url, media_root=target.media, anchors=anchors
    )

    assert [(label, ok) for label, ok, _ in restored.checks] == [
        ("manifest", True),
        ("migrate", True),
        ("verify_audit", True),
        ("verify_files", True),
    ], restored.checks
    outputs = {label: output for label, _, output in restored.checks}
    assert "every application matches its history" in outputs["verify_audit"]
    assert "anchors match the ledger" in outputs["verify_audit"]
    assert outputs["verify_files"] == "OK: 2 stored files match their hashes."
    assert restored.files == 2


@pytest.mark.slow
def test_a_damaged_document_fails_the_restores_check(
    world: World, tmp_path: Path, target: Target
) -> None:
    _, document = with_files(world)
    with open(document.file.path, "r+b") as stream:  # damaged on the disk before the backup
        stream.write(b"%PDF-9")
    made = backup_create(tmp_path / "backups")

    code, out = run(
        "restore", str(made.path), "--database-url", target.url, "--media-root", str(target.media)
    )

    assert code == 1
    assert "verify_audit: OK" in out
    assert f"verify_files: FAILED FAILED: document {document.pk}" in out


@pytest.mark.postgres
@pytest.mark.slow
def test_restore_drill_of_the_seeded_demo_on_postgresql(
    world: World, tmp_path: Path, target: Target
) -> None:
    """The demo county (``seed_demo``) with an agreement issued and a signed scan uploaded,
    anchored, backed up, restored into a new database: the anchors taken before the backup
    verify against the restored ledger, every application replays, every stored file
    matches its hash, and the restored rows are the original's."""
    Program.objects.filter(code=SUBSIDY_CODE).update(code="tests-" + SUBSIDY_CODE)
    code, out = run("seed_demo")
    assert code == 0, out
    approved = Application.objects.filter(program__code=SUBSIDY_CODE, status=S.APPROVED).first()
    assert approved is not None
    if not StoredDocument.objects.filter(application=approved).exists():
        cadre = get_user_model().objects.get(username="cadre_sibacun")
        agreement_issue(actor=cadre, application_id=approved.pk)
    anchors = anchor(tmp_path)
    made = backup_create(tmp_path / "backups")
    entries, households = AuditEntry.objects.count(), Household.objects.count()

    code, out = run(
        "restore",
        str(made.path),
        "--database-url",
        target.url,
        "--media-root",
        str(target.media),
        "--anchors",
        str(anchors),
    )

    assert code == 0, out
    for check in ("manifest: OK", "migrate: OK", "verify_audit: OK", "verify_files: OK"):
        assert check in out
    with closing(_pg_connect({**connection.settings_dict, "NAME": target.name})) as restored:
        assert restored.execute("SELECT count(*) FROM audit_auditentry").fetchone()[0] == entries
        assert (
            restored.execute("SELECT count(*) FROM applications_household").fetchone()[0]
            == households
        )
    assert StoredDocument.objects.count() >= 1


@pytest.mark.postgres
def test_the_manifest_is_read_in_the_snapshot_that_is_dumped(
    world: World, tmp_path: Path, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A household registered while the backup runs (after the snapshot is taken, before its
    facts are read) is in neither the dump nor the manifest: they agree, and the restore's
    comparison passes."""
    from operations import backups

    facts = backups._facts
    late: list[Household] = []

    def facts_after_a_write(cursor: Any) -> dict[str, Any]:
        late.append(world.household())  # committed by Django's own connection meanwhile
        return facts(cursor)

    monkeypatch.setattr(backups, "_facts", facts_after_a_write)
    made = backup_create(tmp_path / "backups")
    monkeypatch.setattr(backups, "_facts", facts)

    restored = backup_restore(made.path, database_url=target.url, media_root=target.media)

    assert restored.checks[0][:2] == ("manifest", True), restored.checks[0]
    manifest = json.loads((made.path / MANIFEST).read_text())
    assert manifest["rows"]["applications_household"] == Household.objects.count() - 1
    assert late


def test_a_manifest_entry_climbing_out_of_files_is_refused(made: Path, target: Target) -> None:
    """``files/../database.pgdump`` is inside the backup, but would be restored beside the
    media directory rather than in it."""
    manifest = json.loads((made / MANIFEST).read_text())
    dump = next(e for e in manifest["files"] if e["path"] == manifest["dump"])
    manifest["files"].append({**dump, "path": f"files/../{dump['path']}"})
    (made / MANIFEST).write_text(json.dumps(manifest))

    assert refused(made, target) == "manifest_unreadable"
    assert not (target.media.parent / dump["path"]).exists()


def test_a_restore_failing_midway_removes_what_it_made(
    made: Path, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database restored, then the disk fills while the files are copied back: the new
    database is dropped and the files written so far removed; exit 1, not a refusal."""
    from operations import backups

    copy = backups._copy_hashing
    copied: list[Path] = []

    def copy_until_the_disk_is_full(source: Path, destination: Path) -> tuple[int, str]:
        if copied and destination.is_relative_to(target.media):
            raise OSError(28, "No space left on device")
        copied.append(destination)
        return copy(source, destination)

    monkeypatch.setattr(backups, "_copy_hashing", copy_until_the_disk_is_full)

    code, out = run(
        "restore", str(made), "--database-url", target.url, "--media-root", str(target.media)
    )

    assert code == 1
    assert out.startswith("restore failed (restore_failed): OSError: [Errno 28] No space left")
    assert copied  # the database (and on PostgreSQL a first file) was made before it failed
    assert not target.exists()
    assert list(target.media.iterdir()) == []


def test_sqlites_online_backup_copies_the_committed_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded default (``make run``'s ``var/db.sqlite3``): copied by a connection of
    its own, while the site may be writing; the facts read from the copy."""
    import sqlite3

    from operations import backups

    source = tmp_path / "db.sqlite3"
    with closing(sqlite3.connect(source)) as db:
        db.execute("CREATE TABLE audit_chainhead (chain TEXT, seq INTEGER, hash TEXT)")
        db.execute("INSERT INTO audit_chainhead VALUES ('620902', 7, 'ab')")
        for table in backups.COUNTED:
            db.execute(f'CREATE TABLE "{table}" (id INTEGER)')
        db.execute('INSERT INTO "applications_household" VALUES (1), (2)')
        db.execute("CREATE TABLE django_migrations (app TEXT, name TEXT)")
        db.execute("INSERT INTO django_migrations VALUES ('audit', '0001_initial')")
        db.commit()
        db.execute('INSERT INTO "applications_household" VALUES (3)')  # not committed

        class FileDatabase:
            def is_in_memory_db(self) -> bool:
                return False

        monkeypatch.setattr(backups, "connection", FileDatabase())
        facts = backups._dump_sqlite({"NAME": str(source)}, tmp_path / "copy.sqlite3")

    assert facts["audit_heads"] == {"620902": [7, "ab"]}
    assert facts["rows"]["applications_household"] == 2
    assert facts["migrations"] == [["audit", "0001_initial"]]
    with closing(sqlite3.connect(tmp_path / "copy.sqlite3")) as copy:
        assert copy.execute("SELECT count(*) FROM applications_household").fetchone()[0] == 2
