"""Backups that restore: the database and the stored files together, with a manifest of
SHA-256 hashes, and a restore that checks everything before it changes anything.

A backup is one directory, ``fupin-<UTC time>``, under ``FUPIN_BACKUP_DIR``:

- ``database.pgdump``: ``pg_dump --format=custom`` of a PostgreSQL database (or
  ``database.sqlite3``, SQLite's own online backup, for the embedded default);
- ``files/``: every file under ``MEDIA_ROOT`` (issued documents, attachments, uploads);
- ``manifest.json``: each file's size and SHA-256, the migrations the database had, and facts
  read in the very snapshot the dump was taken from (PostgreSQL exports it to ``pg_dump``):
  the head of every audit chain and the rows of the main tables.

It is written as ``.fupin-<time>.partial`` and renamed when whole, so a directory with a
manifest is a finished backup. The database is dumped before the files are copied: a row
naming a file commits only after the file is written (``common.files``), so every file the
dump names is on disk when the copy starts.

A restore reads the manifest, checks every file's size and hash, and checks that the target
database and media directory are new and empty, all before it writes anything; any problem
refuses the restore with a reason and changes nothing. Then it restores, copies the files
back (hashing them again), compares the restored database's chain heads and row counts with
the manifest's, brings the schema up to this code (``migrate``) and runs ``verify_audit``
(with the anchors, when given) and ``verify_files`` against what it restored."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any, cast

import dj_database_url
from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from common import clock
from common.files import sha256_of

FORMAT = 1
PREFIX = "fupin-"
MANIFEST = "manifest.json"
PG_DUMP = "database.pgdump"
SQLITE_COPY = "database.sqlite3"
FILES = "files"
CHUNK = 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent

# The tables whose rows the manifest counts, and a restore must find again.
COUNTED = (
    "audit_auditentry",
    "applications_household",
    "applications_person",
    "applications_application",
    "approvals_decision",
    "documents_storeddocument",
    "approvals_attachment",
    "payments_paymentline",
    "loans_loan",
)


class BackupError(Exception):
    """A backup or restore refused or failed; ``code`` says why, the message says it in full."""

    def __init__(self, code: str, message: str, *, refused: bool = True) -> None:
        super().__init__(message)
        self.code = code
        # True: refused before anything changed. False: failed midway, what it had made
        # removed again.
        self.refused = refused


@dataclass
class BackupMade:
    path: Path
    files: int
    bytes: int
    seconds: float
    manifest_sha256: str
    pruned: list[Path] = field(default_factory=list)


@dataclass
class Restored:
    database: str
    media_root: Path
    files: int
    seconds: float
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.checks)


# --- files and hashes ----------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_hashing(source: Path, target: Path) -> tuple[int, str]:
    """Copy, hashing what is read; flushed to disk. (size, SHA-256)."""
    digest = hashlib.sha256()
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as src, target.open("wb") as dst:
        for chunk in iter(lambda: src.read(CHUNK), b""):
            digest.update(chunk)
            dst.write(chunk)
            size += len(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    shutil.copystat(source, target)
    return size, digest.hexdigest()


def _hash(path: Path) -> tuple[int, str]:
    with path.open("rb") as stream:
        sha, size = sha256_of(stream)
    return size, sha


def _media_files(root: Path) -> Iterator[tuple[Path, str]]:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path, path.relative_to(root).as_posix()


# --- the database ------------------------------------------------------------------------


def _program(name: str) -> str:
    """A PostgreSQL client program, found on PATH (Debian's wrappers pick the version)."""
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            "no_client", f"{name} is not installed: install Debian's postgresql-client"
        )
    return path


def _pg_env(db: Mapping[str, Any]) -> dict[str, str]:
    """libpq's environment for a database of Django's settings (no password on a command line)."""
    env = dict(os.environ)
    for key, name in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER")):
        if db.get(key):
            env[name] = str(db[key])
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    if (db.get("OPTIONS") or {}).get("sslmode"):
        env["PGSSLMODE"] = str(db["OPTIONS"]["sslmode"])
    env["PGDATABASE"] = str(db["NAME"])
    return env


def _pg_connect(db: Mapping[str, Any], dbname: str | None = None) -> Any:
    import psycopg

    return psycopg.connect(
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        dbname=dbname or db["NAME"],
        sslmode=(db.get("OPTIONS") or {}).get("sslmode"),
        connect_timeout=10,
    )


def _facts(cursor: Any) -> dict[str, Any]:
    """What a restore must find again: the chain heads, the rows counted, the migrations."""
    cursor.execute("SELECT chain, seq, hash FROM audit_chainhead ORDER BY chain")
    heads = {chain: [int(seq), hash_] for chain, seq, hash_ in cursor.fetchall()}
    counts = {}
    for table in COUNTED:
        cursor.execute(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608 (our table names)
        counts[table] = int(cursor.fetchone()[0])
    cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
    migrations = [[app, name] for app, name in cursor.fetchall()]
    return {"audit_heads": heads, "rows": counts, "migrations": migrations}


def _dump_postgres(db: Mapping[str, Any], target: Path) -> dict[str, Any]:
    """pg_dump of the snapshot the facts are read in (exported, then handed to pg_dump)."""
    with closing(_pg_connect(db)) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        with conn.cursor() as cursor:
            facts = _facts(cursor)
        result = subprocess.run(  # noqa: S603 (a fixed program, no shell)
            [_program("pg_dump"), "--format=custom", f"--snapshot={snapshot}", f"--file={target}"],
            env=_pg_env(db),
            capture_output=True,
            text=True,
        )
        conn.rollback()
    if result.returncode != 0:
        raise BackupError("dump_failed", f"pg_dump failed: {result.stderr.strip()}")
    return facts


def _dump_sqlite(db: Mapping[str, Any], target: Path) -> dict[str, Any]:
    """SQLite's online backup: from a connection of its own to the database file (what is
    committed, whatever the site is doing), or from Django's for an in-memory database
    (the tests', outside any transaction)."""
    with closing(sqlite3.connect(target)) as copy:
        if cast(Any, connection).is_in_memory_db():
            connection.ensure_connection()
            connection.connection.backup(copy)
        else:
            with closing(sqlite3.connect(str(db["NAME"]), timeout=30)) as source:
                source.backup(copy)
        copy.commit()
        with closing(copy.cursor()) as cursor:
            return _facts(cursor)


def _git_version() -> str | None:
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


# --- backup --------------------------------------------------------------------------------


def backups_in(root: Path) -> list[Path]:
    """The finished backups under ``root``, oldest first."""
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.iterdir() if p.name.startswith(PREFIX) and (p / MANIFEST).is_file()
    )


STALE_PARTIAL = 24 * 3600  # seconds: an unfinished backup this old was killed


def _stale_partials_remove(root: Path) -> None:
    for old in root.glob(f".{PREFIX}*.partial"):
        if time.time() - old.stat().st_mtime > STALE_PARTIAL:
            shutil.rmtree(old, ignore_errors=True)


def backup_create(root: Path, *, keep: int | None = None) -> BackupMade:
    """Back up the default database and ``MEDIA_ROOT`` into a new directory under ``root``;
    with ``keep``, remove the oldest finished backups beyond that many afterwards."""
    started = time.perf_counter()
    db = settings.DATABASES["default"]
    root.mkdir(parents=True, exist_ok=True)
    stamp = clock.now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"{PREFIX}{stamp}"
    suffix = 1
    while (root / name).exists():
        suffix += 1
        name = f"{PREFIX}{stamp}-{suffix}"
    partial = root / f".{name}.partial"
    _stale_partials_remove(root)
    # The backup holds the whole database: readable by the site's user only.
    umask = os.umask(0o077)
    partial.mkdir()
    try:
        if connection.vendor == "postgresql":
            dump = PG_DUMP
            facts = _dump_postgres(db, partial / dump)
        elif connection.vendor == "sqlite":
            dump = SQLITE_COPY
            facts = _dump_sqlite(db, partial / dump)
        else:
            raise BackupError("engine", f"cannot back up a {connection.vendor} database")
        size, sha = _hash(partial / dump)
        entries: list[dict[str, Any]] = [{"path": dump, "size": size, "sha256": sha}]
        media = Path(settings.MEDIA_ROOT)
        for source, relative in _media_files(media):
            try:
                size, sha = _copy_hashing(source, partial / FILES / relative)
            except FileNotFoundError:
                continue  # removed since it was listed (a registry upload once applied)
            entries.append({"path": f"{FILES}/{relative}", "size": size, "sha256": sha})
        manifest = {
            "format": FORMAT,
            "created_at": clock.now().isoformat(),
            "engine": connection.vendor,
            "database": str(db["NAME"]),
            "dump": dump,
            "version": _git_version(),
            **facts,
            "files": entries,
        }
        body = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
        with (partial / MANIFEST).open("wb") as stream:
            stream.write(body)
            stream.flush()
            os.fsync(stream.fileno())
        _fsync_dir(partial)
        final = root / name
        partial.rename(final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        os.umask(umask)
    pruned = []
    if keep is not None and keep > 0:
        for old in backups_in(root)[:-keep]:
            shutil.rmtree(old)
            pruned.append(old)
    return BackupMade(
        path=final,
        files=len(entries) - 1,
        bytes=sum(e["size"] for e in entries),
        seconds=time.perf_counter() - started,
        manifest_sha256=hashlib.sha256(body).hexdigest(),
        pruned=pruned,
    )


# --- restore -------------------------------------------------------------------------------


def backup_read(path: Path) -> dict[str, Any]:
    """The manifest, every file it lists checked (size, SHA-256). Refuses, changing nothing."""
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise BackupError(
            "no_manifest", f"{path} holds no {MANIFEST}: not a backup, or one that never finished"
        )
    try:
        manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
        entries = manifest["files"]
        engine, dump = manifest["engine"], manifest["dump"]
    except (ValueError, KeyError, TypeError) as error:
        raise BackupError(
            "manifest_unreadable", f"{manifest_path} cannot be read: {error}"
        ) from error
    if manifest.get("format") != FORMAT:
        raise BackupError(
            "manifest_unreadable",
            f"{manifest_path} is of format {manifest.get('format')}, not {FORMAT}",
        )
    if engine not in ("postgresql", "sqlite") or dump not in [e.get("path") for e in entries]:
        raise BackupError("manifest_unreadable", f"{manifest_path} names no database dump")
    for entry in entries:
        relative = str(entry.get("path", ""))
        parts = relative.split("/")
        if (
            not relative
            or "\\" in relative
            or any(part in ("", ".", "..") for part in parts)
            or (relative != dump and parts[0] != FILES)
        ):
            raise BackupError(
                "manifest_unreadable", f"{relative!r} is not a path inside the backup's files"
            )
        file = path / relative
        if not file.is_file():
            raise BackupError("file_missing", f"{relative} is listed in the manifest but missing")
        size, sha = _hash(file)
        if size != entry.get("size") or sha != entry.get("sha256"):
            raise BackupError(
                "file_changed",
                f"{relative} does not match the manifest ({size} bytes, SHA-256 {sha[:16]}…): "
                "the backup is damaged or was altered",
            )
    known = MigrationLoader(None, ignore_no_migrations=True).disk_migrations
    unknown = [
        f"{app}.{name}" for app, name in manifest.get("migrations", []) if (app, name) not in known
    ]
    if unknown:
        raise BackupError(
            "backup_newer",
            "the backup's database has migrations this code does not know "
            f"({', '.join(unknown[:3])}"
            f"{'…' if len(unknown) > 3 else ''}): restore it with the code of version "
            f"{manifest.get('version') or 'it was made with'}",
        )
    return manifest


@contextmanager
def _pg_admin(db: Mapping[str, Any]) -> Iterator[Any]:
    with closing(_pg_connect(db, dbname="postgres")) as admin:
        admin.autocommit = True
        yield admin


def _pg_target_state(db: Mapping[str, Any]) -> str:
    """'absent', 'empty' or 'used'."""
    with _pg_admin(db) as admin:
        if not admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
        ).fetchone():
            return "absent"
    with closing(_pg_connect(db)) as target:
        tables = target.execute(
            "SELECT count(*) FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()[0]
    return "used" if tables else "empty"


def _pg_create(db: Mapping[str, Any]) -> None:
    import psycopg
    from psycopg import sql

    with _pg_admin(db) as admin:
        try:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
        except psycopg.Error as error:
            raise BackupError(
                "cannot_create",
                f"database {db['NAME']} cannot be created ({error}): create it empty first "
                f"(createdb -O {db.get('USER') or 'fupin'} {db['NAME']}), or let the role "
                "create databases",
            ) from error


def _undo(
    target: Mapping[str, Any],
    engine: str,
    created_database: bool,
    filled_database: bool,
    media_root: Path,
) -> None:
    """Remove what a failed restore made: the database it created, or what it restored into
    an empty one, and the files it wrote (the media directory was empty or absent before)."""
    if filled_database and not created_database:
        with closing(_pg_connect(target)) as restored:
            restored.autocommit = True
            restored.execute("DROP SCHEMA public CASCADE")
            restored.execute("CREATE SCHEMA public")
    if created_database:
        if engine == "postgresql":
            from psycopg import sql

            with _pg_admin(target) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(target["NAME"])
                    )
                )
        else:
            Path(target["NAME"]).unlink(missing_ok=True)
    if media_root.is_dir():
        for child in media_root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()


def _media_state(media_root: Path) -> bool:
    """True when the directory is absent or empty."""
    return not media_root.exists() or (media_root.is_dir() and not any(media_root.iterdir()))


def _verify(url: str, media_root: Path, anchors: Path | None) -> list[tuple[str, bool, str]]:
    """migrate, verify_audit (with the anchors) and verify_files against the restored site,
    each in its own process with the restored settings."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "FUPIN_MEDIA_ROOT": str(media_root),
        "DATABASE_CONN_MAX_AGE": "0",
    }
    commands = [
        ("migrate", ["migrate", "--noinput", "-v0"]),
        ("verify_audit", ["verify_audit", *(["--anchors", str(anchors)] if anchors else [])]),
        ("verify_files", ["verify_files"]),
    ]
    results = []
    for label, arguments in commands:
        result = subprocess.run(  # noqa: S603 (this interpreter, our manage.py)
            [sys.executable, str(ROOT / "manage.py"), *arguments],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        # The checks' own words; the system checks' warnings (on stderr) only with a failure.
        output = (
            result.stdout if result.returncode == 0 else result.stdout + result.stderr
        ).strip()
        results.append((label, result.returncode == 0, output))
        if result.returncode != 0:
            break
    return results


def backup_restore(
    path: Path, *, database_url: str, media_root: Path, anchors: Path | None = None
) -> Restored:
    """Restore the backup at ``path`` into a new (or empty) database and an empty media
    directory, then check it. Everything that can refuse is checked first."""
    started = time.perf_counter()
    manifest = backup_read(path)
    target = dj_database_url.parse(database_url)
    engine = (
        "postgresql"
        if "postgresql" in target["ENGINE"]
        else "sqlite"
        if "sqlite" in target["ENGINE"]
        else target["ENGINE"]
    )
    if engine != manifest["engine"]:
        raise BackupError(
            "engine_mismatch",
            f"the backup is of a {manifest['engine']} database and the target is {engine}",
        )
    if not _media_state(media_root):
        raise BackupError(
            "media_not_empty",
            f"{media_root} already holds files: restore into a new, empty directory",
        )
    if engine == "postgresql":
        state = _pg_target_state(target)
        if state == "used":
            raise BackupError(
                "target_not_empty",
                f"database {target['NAME']} already holds tables: restore into a new database, "
                "then point DATABASE_URL at it",
            )
    else:
        sqlite_path = Path(target["NAME"])
        if sqlite_path.exists() and sqlite_path.stat().st_size > 0:
            raise BackupError("target_not_empty", f"{sqlite_path} already exists")

    # From here on things change; a failure removes what this restore made.
    created_database = filled_database = False
    try:
        if engine == "postgresql":
            pg_restore = _program("pg_restore")
            if state == "absent":
                _pg_create(target)
                created_database = True
            result = subprocess.run(  # noqa: S603 (a fixed program, no shell)
                [
                    pg_restore,
                    "--exit-on-error",
                    "--single-transaction",
                    "--no-owner",
                    "--no-privileges",
                    f"--dbname={target['NAME']}",
                    str(path / manifest["dump"]),
                ],
                env=_pg_env(target),
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise BackupError(
                    "restore_failed", f"pg_restore failed: {result.stderr.strip()}", refused=False
                )
            filled_database = True
            with closing(_pg_connect(target)) as restored, restored.cursor() as cursor:
                facts = _facts(cursor)
                restored.rollback()
        else:
            sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            created_database = True
            _copy_hashing(path / manifest["dump"], sqlite_path)
            with closing(sqlite3.connect(sqlite_path)) as restored:
                facts = _facts(restored.cursor())

        files = 0
        media_root.mkdir(parents=True, exist_ok=True)
        base = media_root.resolve()
        prefix = f"{FILES}/"
        for entry in manifest["files"]:
            if not entry["path"].startswith(prefix):
                continue
            destination = media_root / entry["path"][len(prefix) :]
            if not destination.resolve().is_relative_to(base):  # checked by backup_read too
                raise BackupError("manifest_unreadable", f"{entry['path']} leaves {media_root}")
            _, sha = _copy_hashing(path / entry["path"], destination)
            if sha != entry["sha256"]:
                raise BackupError(
                    "file_changed", f"{entry['path']} changed while it was restored", refused=False
                )
            files += 1
    except BaseException as error:
        _undo(target, engine, created_database, filled_database, media_root)
        if isinstance(error, BackupError):
            error.refused = False
            raise
        if isinstance(error, Exception):
            raise BackupError(
                "restore_failed", f"{type(error).__name__}: {error}", refused=False
            ) from error
        raise

    restored_report = Restored(
        database=str(target["NAME"]), media_root=media_root, files=files, seconds=0.0
    )
    same = all(facts[key] == manifest.get(key) for key in ("audit_heads", "rows", "migrations"))
    restored_report.checks.append(
        (
            "manifest",
            same,
            "the chain heads, row counts and migrations match the manifest"
            if same
            else f"restored rows {facts['rows']}, heads {facts['audit_heads']}; the manifest "
            f"says rows {manifest.get('rows')}, heads {manifest.get('audit_heads')}",
        )
    )
    if same:
        restored_report.checks += _verify(database_url, media_root, anchors)
    restored_report.seconds = time.perf_counter() - started
    return restored_report
