"""The DuckDB store: one writer thread owns the write connection; readers get their own cursors."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, overload

import duckdb
import pandas as pd
import pyarrow as pa

from ops_center.store.archive_refs import ArchivedRefs
from ops_center.store.schema import migrate

log = logging.getLogger(__name__)
T = TypeVar("T")

# Tables whose ids the writer hands out from in-memory counters (seeded from max(id) once).
_ID_COLUMNS = {
    "incidents": "incident_id",
    "events": "event_id",
    "dead_letters": "dead_letter_id",
    "audit_log": "audit_id",
    "suppressions": "suppression_id",
    "extensions": "extension_id",
    "assignments": "assignment_id",
    "feedback": "feedback_id",
    "verifications": "verification_id",
    "reminders": "reminder_id",
    "supervisions": "supervision_id",
    "callbacks": "callback_id",
    "fed_outbox": "seq",  # rolled back with its transaction: the federation sequence has no gaps
}


# Incident data keeps whole seconds (TIMESTAMP_S) and coordinates to 1e-6° (≈ 0.1 m): finer values are
# noise for a city operations center, and compress to half the bytes (docs/bench.md, footprint).
COORDINATE_DECIMALS = 6


def to_db(dt: datetime | None) -> datetime | None:
    """Aware datetime -> naive UTC in whole seconds, the form the timestamp columns hold (TIMESTAMP_S)."""
    if dt is None:
        return None
    if dt.tzinfo is UTC:  # the common case, and a hot path of the pipeline
        return dt.replace(tzinfo=None, microsecond=0)
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r} reached the store; pass an aware datetime")
    return dt.astimezone(UTC).replace(tzinfo=None, microsecond=0)


@overload
def from_db(value: None) -> None: ...


@overload
def from_db(value: datetime) -> datetime | None: ...  # NaT gives None


def from_db(value: datetime | None) -> datetime | None:
    """Naive UTC from a TIMESTAMP column -> aware UTC datetime."""
    if value is None or pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_APPEND_TABLES = frozenset({*_ID_COLUMNS, "readings", "incident_timeline", "devices", "areas", "users"})


def append(conn: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame | pa.Table) -> None:
    """Bulk-insert a DataFrame or Arrow table by column name (missing columns take their defaults): the fast path."""
    if table not in _APPEND_TABLES:
        raise ValueError(f"unknown table {table!r}")
    view = f"_append_{table}"
    conn.register(view, df)
    try:
        conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {view}")  # noqa: S608 - fixed names only
    finally:
        try:
            conn.unregister(view)
        except duckdb.Error:  # an aborted transaction refuses even this; the insert's own error matters
            log.debug("unregister %s after a failed insert", view, exc_info=True)


class StoreClosed(RuntimeError):
    """The store was closed; nothing more can be written."""


_STOP = object()
EXIT_STORE_FATAL = 75  # EX_TEMPFAIL: the service manager restarts us (deploy/ops-center.service)
ERROR_SHOWN_S = 120  # a failed write stays visible in health this long


def exit_for_restart(exc: BaseException) -> None:
    """DuckDB invalidated the instance (disk full, I/O error): nothing can be written until it is reopened.

    Nothing uncommitted was acknowledged, so the quickest safe way back is a fresh process: exit at
    once with EXIT_STORE_FATAL and let systemd (Restart=on-failure) start us again; the restart
    replays the WAL and the sources resume (MQTT redelivers what was not acked, files resume at their
    saved offset). While the disk stays full the start-up fails and systemd keeps retrying.
    """
    log.critical("store: DuckDB instance invalidated (%s); exiting with code %d for the service manager to "
                 "restart", str(exc).splitlines()[0][:300], EXIT_STORE_FATAL)
    logging.shutdown()
    os._exit(EXIT_STORE_FATAL)


def is_fatal(exc: BaseException) -> bool:
    """An invalidated database instance: every later statement fails until it is reopened."""
    return isinstance(exc, duckdb.FatalException) or "database has been invalidated" in str(exc)


class Store:
    """A DuckDB file with a single writer thread; `write(fn)` is the only way to change it."""

    def __init__(self, path: str | Path, *, threads: int | None = None, memory_limit: str | None = None,
                 on_fatal: Callable[[BaseException], None] = exit_for_restart):
        self.path = Path(path)
        self._on_fatal = on_fatal
        self.fatal: str = ""  # set once the instance is invalidated
        self._last_error: tuple[float, str] | None = None  # (monotonic, message) of the latest failed write
        self.path.parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, str | bool | int | float | list[str]] = {"threads": threads} if threads else {}
        if memory_limit:  # store.memory_limit; None (tools, tests): DuckDB's own default, 80 % of RAM
            config["memory_limit"] = memory_limit
        self._conn = duckdb.connect(str(self.path), config=config)
        self.schema_version = migrate(self._conn)
        self._counters: dict[str, int] = {}
        # Called as hook(conn, incident_ids) at the end of every transaction that changes incidents (federation's
        # outbox, ops_center/service/outbox.py); None, the default, costs nothing.
        self.change_hook: Callable[[duckdb.DuckDBPyConnection, Iterable[int]], object] | None = None
        self._changed: set[int] = set()  # ids reported in the running transaction (writer thread only)
        # The archive's 12345 request keys, for the writer's hotline lookup (writer thread only).
        self.archived_refs = ArchivedRefs()
        self._queue: queue.Queue = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()
        self._writer = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._writer.start()

    # --- writing -------------------------------------------------------------------------

    def submit(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> Future[T]:
        """Queue `fn(conn)` to run in one transaction on the writer thread; returns a Future."""
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise StoreClosed("store is closed")
            self._queue.put((fn, future))
        return future

    def write(self, fn: Callable[[duckdb.DuckDBPyConnection], T], timeout: float | None = 60) -> T:
        """Run `fn(conn)` in one transaction on the writer thread and return its result (or raise)."""
        if threading.current_thread() is self._writer:
            raise RuntimeError("store.write called from the writer thread; call fn(conn) directly")
        return self.submit(fn).result(timeout)

    def allocate_ids(self, conn: duckdb.DuckDBPyConnection, table: str, n: int = 1) -> int:
        """Reserve n consecutive ids for `table` (writer thread only); returns the first."""
        if table not in self._counters:
            column = _ID_COLUMNS[table]
            # Identifiers come from the fixed map above, never from input.
            last = conn.execute(f"SELECT coalesce(max({column}), 0) FROM {table}").fetchall()[0][0]  # noqa: S608
            self._counters[table] = int(last)
        first = self._counters[table] + 1
        self._counters[table] += n
        return first

    def archive_changed(self) -> None:
        """Called by retention in the writer transaction that changes the archive's files: the batches after it
        reload the archived request keys."""
        self.archived_refs.invalidate()

    def incidents_changed(self, conn: duckdb.DuckDBPyConnection, incident_ids: Iterable[int]) -> None:
        """Every writer of incident rows calls this, in its transaction, with the ids it changed; the hook runs
        once just before COMMIT, so it sees what the whole transaction wrote (timeline rows written after)."""
        if self.change_hook is not None:
            self._changed.update(int(i) for i in incident_ids)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            counters = dict(self._counters)
            try:
                self._conn.execute("BEGIN TRANSACTION")
                self._changed.clear()
                result = fn(self._conn)
                if self._changed and self.change_hook is not None:
                    self.change_hook(self._conn, sorted(self._changed))
                    self._changed.clear()
                self._conn.execute("COMMIT")
                self._last_error = None
            except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
                try:
                    self._conn.execute("ROLLBACK")
                except duckdb.Error:
                    log.debug("rollback after failed write also failed", exc_info=True)
                self._counters = counters
                if isinstance(exc, duckdb.Error):
                    self._last_error = (time.monotonic(), str(exc).splitlines()[0][:300])
                future.set_exception(exc)
                if is_fatal(exc) and not self.fatal:
                    self.fatal = str(exc).splitlines()[0][:300]
                    self._on_fatal(exc)
            else:
                future.set_result(result)

    def fault(self) -> str:
        """Why writing is failing now ('' when the latest writes succeed): for source health and the wall."""
        if self.fatal:
            return f"数据库实例失效，等待重启：{self.fatal}"
        if self._last_error is None or time.monotonic() - self._last_error[0] > ERROR_SHOWN_S:
            return ""
        return f"写入失败：{self._last_error[1]}"

    # --- reading -------------------------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A fresh connection to the same database, for one reader thread; close it when done."""
        return self._conn.cursor()

    def query_df(self, sql: str, params: list | tuple | dict | None = None) -> pd.DataFrame:
        """Run a read query on its own cursor and return a DataFrame."""
        cur = self.cursor()
        try:
            return cur.execute(sql, params or []).df()
        finally:
            cur.close()

    def query(self, sql: str, params: list | tuple | dict | None = None) -> list[tuple[Any, ...]]:
        """Run a read query on its own cursor and return the rows."""
        cur = self.cursor()
        try:
            return cur.execute(sql, params or []).fetchall()
        finally:
            cur.close()

    # --- lifecycle -----------------------------------------------------------------------

    def flush(self, timeout: float | None = 60) -> None:
        """Wait until everything queued before this call is committed."""
        self.write(lambda conn: None, timeout)

    def close(self) -> None:
        """Commit what is queued, checkpoint and close; later writes raise StoreClosed."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._writer.join()
        try:
            self._conn.execute("CHECKPOINT")
        except duckdb.Error as exc:  # committed data is durable in the WAL; the next start replays it
            log.error("store: checkpoint at close failed (%s); the WAL is replayed at the next start",
                      str(exc).splitlines()[0][:300])
        finally:
            try:
                self._conn.close()
            except duckdb.Error:
                log.debug("store: close after a failed checkpoint", exc_info=True)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
