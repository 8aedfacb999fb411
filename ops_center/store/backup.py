"""Online backup of the live store and a restore that never deletes what it replaces.

A backup is one consistent snapshot: a read cursor opens a transaction, counts every table, and copies
the whole database (tables, views, sequences) into a new DuckDB file with `COPY FROM DATABASE`, while
the writer keeps committing (DuckDB's MVCC: the copy sees the snapshot, the writer is not blocked).
The file is written as `.part`, re-opened read-only and its counts compared with the snapshot's before
it is renamed into place, so a listed backup is always a complete one. Only a running center can take
one (DuckDB lets one process hold the file): `run.py backup` asks it with SIGUSR1 (see run.py).
Restore runs with the center stopped: it checks the backup, moves the current file aside (never deletes
it) and puts the backup in its place; the next start migrates it if it is older.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

log = logging.getLogger(__name__)

PREFIX = "ops-center-"
SUFFIX = ".duckdb"
ALIAS = "ops_backup"
_ONE_AT_A_TIME = threading.Lock()  # the attach alias is shared by the instance's connections


class BackupError(RuntimeError):
    """A backup or restore that cannot be trusted; nothing was replaced."""


@dataclass(frozen=True)
class BackupResult:
    """Where the backup went, what it holds, and what was pruned to keep `keep` of them."""

    path: Path
    rows: dict[str, int]
    pruned: tuple[Path, ...] = ()


def backup_name(now: datetime) -> str:
    """Sortable by time in UTC, so the newest is the last in name order."""
    return f"{PREFIX}{now.strftime('%Y%m%dT%H%M%SZ')}{SUFFIX}"


def list_backups(directory: Path) -> list[Path]:
    """Complete backups in `directory`, oldest first (a `.part` is never listed)."""
    return sorted(p for p in directory.glob(f"{PREFIX}*{SUFFIX}") if p.is_file())


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _scalar(conn: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> Any:
    row = conn.execute(sql, params or []).fetchone()
    if row is None:
        raise BackupError(f"no answer from: {sql}")
    return row[0]


def _table_counts(conn: duckdb.DuckDBPyConnection, database: str) -> dict[str, int]:
    names = [r[0] for r in conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND NOT internal ORDER BY table_name",
        [database]).fetchall()]
    return {n: _scalar(conn, f'SELECT count(*) FROM "{database}".main."{n}"') for n in names}  # noqa: S608 - names from the catalog


def backup(cursor: duckdb.DuckDBPyConnection, directory: Path, now: datetime, keep: int = 7) -> BackupResult:
    """Copy the database `cursor` reads into `directory` as one snapshot; keep the newest `keep` backups."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / backup_name(now)
    if final.exists():
        raise BackupError(f"{final} exists already (one backup per second)")
    part = final.with_name(final.name + ".part")
    part.unlink(missing_ok=True)
    with _ONE_AT_A_TIME:
        rows = _copy(cursor, part, directory)
    verify(part, rows)
    with part.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(part, final)
    pruned = tuple(list_backups(directory)[:-keep])
    for old in pruned:
        old.unlink(missing_ok=True)
    log.info("backup written: %s (%s rows in %d tables; %d old pruned)", final, f"{sum(rows.values()):,}",
             len(rows), len(pruned))
    return BackupResult(final, rows, pruned)


def _copy(cursor: duckdb.DuckDBPyConnection, part: Path, directory: Path) -> dict[str, int]:
    """Counts and copy in one read transaction: the copy is exactly the snapshot the counts saw."""
    database = _scalar(cursor, "SELECT current_database()")
    try:
        cursor.execute("BEGIN TRANSACTION")
        rows = _table_counts(cursor, database)
        cursor.execute(f"ATTACH {_literal(part)} AS {ALIAS}")
        cursor.execute(f'COPY FROM DATABASE "{database}" TO {ALIAS}')
        cursor.execute("COMMIT")
    except duckdb.Error as exc:
        _rollback(cursor)
        part.unlink(missing_ok=True)
        raise BackupError(f"backup to {directory} failed: {exc}") from exc
    finally:
        _detach(cursor)
    return rows


def _rollback(cursor: duckdb.DuckDBPyConnection) -> None:
    try:
        cursor.execute("ROLLBACK")
    except duckdb.Error:  # the failed statement already ended the transaction
        log.debug("no transaction left to roll back after a failed backup")


def _detach(cursor: duckdb.DuckDBPyConnection) -> None:
    attached = _scalar(cursor, "SELECT count(*) FROM duckdb_databases() WHERE database_name = ?", [ALIAS])
    if attached:
        cursor.execute(f"DETACH {ALIAS}")


def verify(path: Path, rows: dict[str, int] | None = None) -> dict[str, int]:
    """Open a backup read-only and count its tables; with `rows`, they must be exactly those."""
    try:
        conn = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise BackupError(f"{path}: not a readable DuckDB file ({exc})") from exc
    try:
        database = _scalar(conn, "SELECT current_database()")
        found = _table_counts(conn, database)
    finally:
        conn.close()
    if "schema_version" not in found or "incidents" not in found:
        raise BackupError(f"{path}: not an ops-center store (no schema_version/incidents table)")
    if rows is not None and found != rows:
        diff = {t: (rows.get(t), found.get(t)) for t in set(rows) | set(found) if rows.get(t) != found.get(t)}
        raise BackupError(f"{path}: copy differs from the snapshot (table: snapshot, copy): {diff}")
    return found


def restore(source: Path, db_path: Path, now: datetime) -> Path | None:
    """Put a verified backup in place of the store file (center stopped); the old file is kept beside it."""
    verify(source)
    if db_path.exists():
        try:
            duckdb.connect(str(db_path)).close()  # takes the file lock: fails while a center holds it
        except duckdb.Error as exc:
            raise BackupError(f"{db_path} is in use (stop the center first): {exc}") from exc
    aside = None
    if db_path.exists():
        aside = db_path.with_name(f"{db_path.name}.before-restore-{now.strftime('%Y%m%dT%H%M%SZ')}")
        os.replace(db_path, aside)
    wal = db_path.with_name(db_path.name + ".wal")
    if wal.exists():
        os.replace(wal, (aside or db_path).with_name((aside or db_path).name + ".wal"))
    part = db_path.with_name(db_path.name + ".restoring")
    shutil.copyfile(source, part)
    with part.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(part, db_path)
    log.info("restored %s from %s (previous file kept as %s)", db_path, source, aside)
    return aside
