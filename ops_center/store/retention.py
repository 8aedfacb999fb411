"""Retention: finished incidents older than a configured age move to monthly Parquet files, still read by the reports.

What moves: incidents in a final status (closed, false_alarm, merged) whose last change (`updated_at`) is older
than `after` and with no event received since (the dedup must still see it), with their timeline rows and events. Where: one file set per UTC month of creation in the archive
folder (`incidents-2026-01.<stamp>.parquet`, `incident_timeline-…`, `events-…`, zstd); a later run that finds
more incidents of an archived month rewrites that month's set (its rows plus the new ones) under a new stamp.

One commit point makes it crash-safe: the `archive_months` table. The files are written first (`.part`, fsynced,
renamed) from one read snapshot while the writer keeps committing; then one writer transaction checks that the
exported rows are still exactly what is stored, deletes them, points `archive_months` at the new set and
re-creates the `*_all` views (table UNION ALL the listed files) the reports read. Before that commit a new file
is an orphan nobody reads (the rows are still in DuckDB: nothing lost, nothing counted twice); after it, the
replaced set is. Every run starts by setting orphans aside, so a crash anywhere leaves nothing for a person to fix.

A replaced set is moved to `replaced/` (not deleted) and pruned after `keep_replaced`: a restored DuckDB backup
older than the run names the old set, and `refresh_views` at start moves it back (the newer set is then an
orphan whose new rows are in the restored tables).
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from ops_center.core.domains import STATUSES
from ops_center.core.ports import StorePort
from ops_center.store.archive_files import (
    KEEP_REPLACED,
    REPLACED,
    SUFFIX,
    fsync_dir,
    prune_replaced,
    set_aside,
    set_aside_unnamed,
    write_last_run,
)
from ops_center.store.store import to_db

log = logging.getLogger(__name__)

# Final statuses: nothing moves an incident out of them but a person's reopen, which `after` leaves time for.
ARCHIVED_STATUSES = ("closed", "false_alarm", "merged")
assert set(ARCHIVED_STATUSES) <= set(STATUSES)  # noqa: S101 - a renamed status must fail at import, not archive nothing
TABLES = ("incidents", "incident_timeline", "events")  # every one keyed by incident_id
# Sorted files with small row groups: a week's report reads the row groups of its days only (min/max statistics),
# an incident's detail those of its id.
SORT_KEYS = {"incidents": "created_at, incident_id", "incident_timeline": "incident_id, ts",
             "events": "incident_id, event_id"}
ROW_GROUP_ROWS = 32_768
_ONE_AT_A_TIME = threading.Lock()


class ArchiveError(RuntimeError):
    """An archive operation that could not be done; nothing was moved or lost."""


class ArchiveChanged(ArchiveError):
    """A month's incidents changed while they were exported; the month is left for the next run."""


@dataclass(frozen=True)
class ArchivedMonth:
    """One row of the manifest: the live file set of a month and the rows each file holds."""

    month: str
    files: dict[str, str]  # table -> file name in the archive folder
    rows: dict[str, int]  # table -> rows in that file
    last_created_at: datetime  # naive UTC, as stored: the views read no file for a period after it
    last_incident_id: int


@dataclass(frozen=True)
class ArchiveResult:
    """What one run moved (rows per table), which months it wrote, and which it left for the next run."""

    months: tuple[str, ...] = ()
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    skipped: tuple[str, ...] = ()
    orphans_removed: int = 0
    seconds: float = 0.0


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def manifest(src: StorePort | duckdb.DuckDBPyConnection) -> dict[str, ArchivedMonth]:
    """The archived months and their live files, by month."""
    sql = ("SELECT month, last_created_at, last_incident_id, "  # noqa: S608 - fixed table names
           + ", ".join(f"{t}_file, {t}" for t in TABLES) + " FROM archive_months ORDER BY month")
    rows = src.execute(sql).fetchall() if isinstance(src, duckdb.DuckDBPyConnection) else src.query(sql)
    out = {}
    for month, last_created, last_id, *cells in rows:
        files = {t: str(cells[2 * i]) for i, t in enumerate(TABLES)}
        counts = {t: int(cells[2 * i + 1]) for i, t in enumerate(TABLES)}
        out[month] = ArchivedMonth(month, files, counts, last_created, int(last_id))
    return out


def view_sql(table: str, files: list[Path], last_created_at: datetime | None = None, last_incident_id: int = 0) -> str:
    """`<table>_all`: the table, plus the archive's files of it when there are any (schemas joined by name).

    The archive's part carries its bounds as constants (incidents: the latest creation time; timeline and
    events: the highest incident id), so DuckDB plans an empty scan for a period or an incident after them:
    the wall's and console's reads of recent data never open a file. Parquet has no whole-second timestamps: with
    files, the views' timestamps are TIMESTAMP (µs, same values); casting them back would stop DuckDB pushing the
    period's filter into the files (measured: every archived row read, 3× slower).
    """
    if not files:
        return f"CREATE OR REPLACE VIEW {table}_all AS SELECT * FROM {table}"  # noqa: S608 - constant names
    listed = ", ".join(_literal(p) for p in files)
    bound = (f"created_at <= TIMESTAMP '{last_created_at:%Y-%m-%d %H:%M:%S}'" if table == "incidents"
             else f"incident_id <= {int(last_incident_id)}")
    # Names are this module's constants; paths are quoted literals of our own files, bounds
    # our own values: no user text reaches this SQL.
    return (f"CREATE OR REPLACE VIEW {table}_all AS SELECT * FROM {table} UNION ALL BY NAME "  # noqa: S608
            f"SELECT * FROM read_parquet([{listed}], union_by_name = true) WHERE {bound}")


def _create_views(conn: duckdb.DuckDBPyConnection, directory: Path, months: dict[str, ArchivedMonth]) -> None:
    last_created = max((m.last_created_at for m in months.values()), default=None)
    last_id = max((m.last_incident_id for m in months.values()), default=0)
    for table in TABLES:
        conn.execute(view_sql(table, [directory / m.files[table] for m in months.values()], last_created, last_id))


def refresh_views(store: StorePort, directory: Path) -> list[Path]:
    """Point the `*_all` views at `directory` (at start: the folder may have moved); returns missing files.

    A missing file is left out of the views and logged as an error: the reports of its month are short
    until it is put back (copy it from the site's copy of the archive folder and restart).
    """
    months = manifest(store)
    for name in (n for m in months.values() for n in m.files.values()):
        kept = directory / REPLACED / name
        if not (directory / name).is_file() and kept.is_file():  # a backup older than the run that replaced it
            os.replace(kept, directory / name)
            log.warning("archive: %s named by the store is back from %s/ (a restored backup predates its "
                        "replacement)", name, REPLACED)
    missing = [directory / m.files[t] for m in months.values() for t in TABLES if not (directory / m.files[t]).is_file()]
    if missing:
        log.error("archive: %d archived file(s) missing from %s (%s): their months are left out of the reports "
                  "until the files are put back", len(missing), directory, ", ".join(p.name for p in missing[:6]))
    present = {k: m for k, m in months.items() if all((directory / m.files[t]).is_file() for t in TABLES)}
    if months:
        def repoint(conn: duckdb.DuckDBPyConnection) -> None:
            _create_views(conn, directory, present)
            store.archive_changed()

        store.write(repoint)
    return missing


def remove_orphans(store: StorePort, directory: Path, now: datetime) -> int:
    """Move archive files the manifest does not name out of the way (a run stopped before or after its commit)."""
    live = {name for m in manifest(store).values() for name in m.files.values()}
    removed = set_aside_unnamed(directory, tuple(f"{t}-" for t in TABLES), live, now)
    if removed:
        log.warning("archive: %d file(s) in %s named by no month set aside to %s/ (an earlier run stopped half "
                    "way)", removed, directory, REPLACED)
    return removed


def candidates(store: StorePort, cutoff: datetime) -> pd.DataFrame:
    """Incidents in a final status last changed before `cutoff`, with no event received since: id, version,
    updated_at, month of creation.

    An input can join a finished incident without changing it (a 12345 update of a closed request adds a timeline
    row and its event only): its event must stay in the table the dedup reads until `cutoff`, which is at least
    `store.dedup_horizon` ago (config check), or a redelivery of it would be admitted a second time.
    """
    return store.query_df(
        "SELECT incident_id, version, updated_at, strftime(created_at, '%Y-%m') AS month FROM incidents "
        "WHERE list_contains(?::VARCHAR[], status) AND updated_at < ? AND incident_id NOT IN "
        "(SELECT incident_id FROM events WHERE received_at >= ? AND incident_id IS NOT NULL) ORDER BY incident_id",
        [list(ARCHIVED_STATUSES), to_db(cutoff), to_db(cutoff)])


def archive(store: StorePort, directory: Path, now: datetime, after: timedelta,
            keep_replaced: timedelta = KEEP_REPLACED) -> ArchiveResult:
    """Move every finished incident last changed more than `after` before `now` into the archive folder."""
    if after <= timedelta(0):
        raise ArchiveError(f"retention age must be positive, not {after}")
    with _ONE_AT_A_TIME:
        began = time.monotonic()
        directory.mkdir(parents=True, exist_ok=True)
        orphans = remove_orphans(store, directory, now)
        prune_replaced(directory, now, keep_replaced)
        todo = candidates(store, now - after)
        moved = dict.fromkeys(TABLES, 0)
        months, skipped = [], []
        stamp = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        for month, ids in todo.groupby("month", sort=True):
            try:
                rows = archive_month(store, directory, str(month), ids.drop(columns="month"), stamp, now)
            except ArchiveChanged as exc:
                log.warning("archive: %s; it is retried at the next run", exc)
                skipped.append(str(month))
                continue
            months.append(str(month))
            for table in TABLES:
                moved[table] += rows[table]
        result = ArchiveResult(tuple(months), moved, tuple(skipped), orphans, time.monotonic() - began)
        write_last_run(directory, {
            "finished_at": now.isoformat(), "months": list(result.months), "rows": result.rows,
            "skipped": list(result.skipped), "orphans_removed": result.orphans_removed,
            "seconds": round(result.seconds, 3)})
    log.info("archive: %s incidents, %s timeline rows, %s events moved to %s (%s) in %.1f s",
             f"{moved['incidents']:,}", f"{moved['incident_timeline']:,}", f"{moved['events']:,}", directory,
             ", ".join(months) or "nothing due", result.seconds)
    return result


def archive_month(store: StorePort, directory: Path, month: str, ids: pd.DataFrame, stamp: str,
                  now: datetime) -> dict[str, int]:
    """Export one month's due incidents (with the month's archived rows) as a new file set, then swap it in."""
    before = manifest(store).get(month)
    names = {t: f"{t}-{month}.{stamp}{SUFFIX}" for t in TABLES}
    written = export_month(store, directory, ids, before, names)
    added = {t: written[t] - (before.rows[t] if before else 0) for t in TABLES}
    def commit(conn: duckdb.DuckDBPyConnection) -> None:
        swap_in(conn, directory, month, ids, names, written, added, now)
        store.archive_changed()  # in the transaction: the writer's next batch sees the new archive's keys

    try:
        store.write(commit, timeout=None)
    except Exception:  # the transaction failed or never ran: the new files are named nowhere, nothing reads them
        # (not BaseException: an interrupted wait may still see the writer commit; a later run sorts that out)
        for name in names.values():
            (directory / name).unlink(missing_ok=True)
        raise
    if before:
        set_aside(directory, before.files.values(), now)
    return added


def export_month(store: StorePort, directory: Path, ids: pd.DataFrame, before: ArchivedMonth | None,
                 names: dict[str, str]) -> dict[str, int]:
    """Write the three files from one read snapshot (as `.part`, fsynced, renamed); rows written per table."""
    cur = store.cursor()
    written: dict[str, int] = {}
    try:
        cur.register("archive_ids", ids[["incident_id"]])
        cur.execute("BEGIN TRANSACTION")
        for table in TABLES:
            select = f"SELECT * FROM {table} WHERE incident_id IN (SELECT incident_id FROM archive_ids)"  # noqa: S608
            if before:
                select = (f"SELECT * FROM read_parquet({_literal(directory / before.files[table])}) "  # noqa: S608
                          f"UNION ALL BY NAME {select}")
            part = directory / (names[table] + ".part")
            count = cur.execute(f"COPY ({select} ORDER BY {SORT_KEYS[table]}) TO {_literal(part)} "
                                f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})").fetchall()
            written[table] = int(count[0][0])
        cur.execute("COMMIT")
        for table in TABLES:
            part = directory / (names[table] + ".part")
            with part.open("rb") as fh:
                os.fsync(fh.fileno())
            os.replace(part, directory / names[table])
    except BaseException:
        for name in names.values():
            (directory / (name + ".part")).unlink(missing_ok=True)
            (directory / name).unlink(missing_ok=True)
        raise
    finally:
        cur.close()
    fsync_dir(directory)
    return written


def swap_in(conn: duckdb.DuckDBPyConnection, directory: Path, month: str, ids: pd.DataFrame,
            names: dict[str, str], written: dict[str, int], added: dict[str, int], now: datetime) -> None:
    """The commit point (writer thread, one transaction): check, delete, name the new files, re-create the views."""
    conn.register("archive_ids", ids)
    try:
        same = conn.execute(
            "SELECT count(*) FROM incidents i JOIN archive_ids a ON i.incident_id = a.incident_id "
            "AND i.version = a.version AND i.updated_at = a.updated_at "
            "WHERE list_contains(?::VARCHAR[], i.status)", [list(ARCHIVED_STATUSES)]).fetchall()[0][0]
        stored = {t: conn.execute(f"SELECT count(*) FROM {t} WHERE incident_id IN "  # noqa: S608 - fixed names
                                  "(SELECT incident_id FROM archive_ids)").fetchall()[0][0] for t in TABLES}
        if same != len(ids) or stored != added:
            raise ArchiveChanged(f"month {month} changed during its export ({same} of {len(ids)} incidents "
                                 f"unchanged; rows stored {stored}, exported {added})")
        for table in TABLES:
            conn.execute(f"DELETE FROM {table} WHERE incident_id IN (SELECT incident_id FROM archive_ids)")  # noqa: S608
    finally:
        conn.unregister("archive_ids")
    last_created, last_id = conn.execute("SELECT max(created_at), max(incident_id) FROM read_parquet(?)",
                                         [str(directory / names["incidents"])]).fetchall()[0]
    conn.execute("DELETE FROM archive_months WHERE month = ?", [month])
    conn.execute(
        "INSERT INTO archive_months (month, " + ", ".join(f"{t}_file, {t}" for t in TABLES)  # noqa: S608
        + ", last_created_at, last_incident_id, written_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [month, *(v for t in TABLES for v in (names[t], written[t])), last_created, last_id, to_db(now)])
    _create_views(conn, directory, manifest(conn))


def unarchive(store: StorePort, directory: Path, month: str, now: datetime) -> dict[str, int]:
    """Put an archived month back into DuckDB (one transaction) and set its files aside; rows per table."""
    months = manifest(store)
    if month not in months:
        raise ArchiveError(f"month {month} is not archived (archived: {', '.join(months) or 'none'})")
    entry = months[month]
    paths = {t: directory / entry.files[t] for t in TABLES}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise ArchiveError(f"month {month}: archive file(s) missing: {', '.join(missing)}")

    def put_back(conn: duckdb.DuckDBPyConnection) -> None:
        for table, path in paths.items():
            conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet({_literal(path)})")  # noqa: S608
        conn.execute("DELETE FROM archive_months WHERE month = ?", [month])
        _create_views(conn, directory, manifest(conn))
        store.archive_changed()

    with _ONE_AT_A_TIME:
        store.write(put_back, timeout=None)
        set_aside(directory, entry.files.values(), now)
    log.info("archive: month %s put back into the store (%s)", month, entry.rows)
    return entry.rows
