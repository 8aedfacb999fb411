"""The wall's hot set in memory, so a redraw reads ~40 k rows instead of scanning every stored incident."""

# Open incidents and the last day's others (status is not sorted, so zone maps cannot prune a scan for the
# open ones). The bus handler only notes which incidents changed and wakes a catch-up thread, which re-reads
# those rows in one id-pruned query, merges them into a new immutable snapshot and draws the views screens
# asked for (HotIncidents.view); a full reload every few minutes is the safety net. Readers never wait for
# DuckDB: under ingest each DuckDB call waits for the GIL once per task (~50 ms a query, measured), and so
# does each numpy pass over the rows, so what does not depend on `now` is computed once per snapshot.
# Columns are numpy arrays, strings as codes into append-only vocabularies.

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ops_center.read.kpis import DailyCreated, daily_created
from ops_center.service.bus import DomainEvent, EventsCommitted, IncidentMerged
from ops_center.store.store import to_db

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)  # closed incidents the wall still counts (sparklines, 今日新增)
MARGIN = timedelta(hours=1)  # loaded beyond the window, so it can slide between reloads
RELOAD_EVERY = timedelta(minutes=5)  # safety net: a full reload however the bus behaved
MERGE_EVERY = 0.2  # seconds: under ingest the catch-up thread merges at most this often
IDLE_AFTER = 60.0  # seconds without a reader: stop catching up (the next read reloads)
VIEW_MAX_AGE = timedelta(seconds=2)  # a view computed this long before a read is computed again
DAILY_MAX_AGE = timedelta(minutes=1)  # the 7-day series (one DuckDB scan) is queried again after this

OPEN = ("new", "acknowledged", "dispatched")
CODED = ("status", "domain", "severity", "area_code", "street_code")
TIMES = ("created_at", "ack_due_at", "resolve_due_at")
_COLUMNS = ("incident_id, status, domain, severity, title, area_code, street_code, lat, lon, created_at, "
            "ack_due_at, resolve_due_at, overdue, ack_overdue, supervised, escalations, hung_kind IS NOT NULL AS hung")
# Two scans joined by UNION ALL: the second is pruned to recent row groups by created_at, one OR-ed filter is not.
_LOAD_SQL = f"""
SELECT {_COLUMNS} FROM incidents WHERE status IN ('new', 'acknowledged', 'dispatched')
UNION ALL
SELECT {_COLUMNS} FROM incidents
WHERE created_at >= $cutoff AND status NOT IN ('new', 'acknowledged', 'dispatched', 'merged')
"""  # noqa: S608 - constant column list
# The BETWEEN lets zone maps skip every row group outside the changed ids' range.
_CHANGED_SQL = f"""
SELECT {_COLUMNS} FROM incidents
WHERE incident_id BETWEEN $lo AND $hi AND incident_id = ANY($ids)
"""  # noqa: S608 - constant column list


class Vocab:
    """Strings <-> small ints for one column; append-only, so codes stay valid across merges."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._codes: dict[str, int] = {}

    def encode(self, column: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """Codes of an Arrow string column; NULL is -1."""
        encoded = pc.dictionary_encode(column)
        chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
        parts = [self._chunk(chunk) for chunk in chunks]
        return np.concatenate(parts) if parts else np.empty(0, np.int32)

    def _chunk(self, chunk: pa.DictionaryArray) -> np.ndarray:
        lookup = np.array([self._code(v) for v in chunk.dictionary.to_pylist()] + [-1], dtype=np.int32)
        indices = chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        return lookup[indices]

    def _code(self, value: str) -> int:
        code = self._codes.get(value)
        if code is None:
            code = self._codes[value] = len(self.values)
            self.values.append(value)
        return code


@dataclass
class _View:
    """One memoized compute(snapshot, now) of a snapshot, and when a reader last asked for it."""

    compute: Callable[[HotColumns, datetime], Any]
    at: datetime
    value: Any
    asked: float = 0.0


@dataclass(frozen=True)
class HotColumns:
    """One immutable snapshot: numpy columns, coded strings decoded through `vocab`; `live` marks current rows."""

    arrays: dict[str, np.ndarray]
    vocab: dict[str, tuple[str, ...]]
    version: int = 0  # which snapshot of its HotIncidents this is
    urgent: np.ndarray | None = None  # live open rows by P1, next deadline (NULL last), newest, id: see _derived
    views: dict[Any, _View] = field(default_factory=dict, compare=False)  # see HotIncidents.view

    def __len__(self) -> int:
        return len(self.arrays["incident_id"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def among(self, name: str, values: Iterable[str]) -> np.ndarray:
        """Mask: the coded column holds one of `values` (NULL never does)."""
        wanted = set(values)
        return self._lookup(name, [v in wanted for v in self.vocab[name]])

    def prefixed(self, name: str, prefix: str) -> np.ndarray:
        """Mask: starts_with(column, prefix), as SQL has it (NULL is false)."""
        return self._lookup(name, [v.startswith(prefix) for v in self.vocab[name]])

    def decode(self, name: str, codes: np.ndarray) -> np.ndarray:
        """Codes back to an object array of strings (None for NULL)."""
        return np.array([*self.vocab[name], None], dtype=object)[codes]

    def _lookup(self, name: str, flags: Sequence[bool]) -> np.ndarray:
        table = np.array([*flags, False], dtype=bool)  # the extra False answers for -1 (NULL)
        return table[self.arrays[name]]


class HotIncidents:
    """Thread-safe in-memory hot set: `columns(now)` returns the latest snapshot, a catch-up thread keeps it current."""

    def __init__(self, store, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 reload_every: timedelta = RELOAD_EVERY):
        self.store, self.clock = store, clock
        self.reload_every = reload_every
        self._merge_lock = threading.Lock()  # one load or merge at a time (each is one DuckDB read)
        self._dirty_lock = threading.Lock()  # the bus thread only ever waits for this one
        self._dirty: set[int] = set()
        self._watching = False
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_read = 0.0
        self._cols: HotColumns | None = None
        self._vocab: dict[str, Vocab] = {}
        self._cutoff: datetime | None = None
        self._loaded_at: datetime | None = None
        self.daily = DailyCache(store)

    def attach(self, bus) -> HotIncidents:
        bus.subscribe_batch(self.on_events)
        return self

    def close(self) -> None:
        """Stop the catch-up thread (before the store closes under it)."""
        self._closing.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)

    # --- bus thread ----------------------------------------------------------------------

    def on_events(self, events: list) -> None:
        """Bus handler: note the incidents a commit touched and wake the catch-up thread; nothing more."""
        ids: set[int] = set()
        committed = False  # a commit wakes the catch-up thread even when it touched no incident (its safety net)
        for event in events:
            if isinstance(event, DomainEvent):
                ids.add(event.incident_id)
                ids.update(_also_touched(event))
                committed = True
            elif isinstance(event, EventsCommitted):
                ids.update(event.incident_ids)
                committed = True
        if not committed:
            return
        with self._dirty_lock:
            if not self._watching:  # nothing loaded: the first read loads everything fresh anyway
                return
            self._dirty.update(ids)
        self._wake.set()

    # --- readers -------------------------------------------------------------------------

    def columns(self, now: datetime, *, fresh: bool = False) -> HotColumns:
        """The latest snapshot, at most one catch-up behind the bus; `fresh` first merges all it announced."""
        idle, self._last_read = time.monotonic() - self._last_read > IDLE_AFTER, time.monotonic()
        cols = self._cols
        # The safety-net reload is the catch-up thread's; a reader reloads only what it cannot do without.
        cutoff = self._cutoff
        if fresh or idle or cols is None or cutoff is None or self._thread is None or now - WINDOW < cutoff:
            with self._merge_lock:
                cols = self._catch_up_once(now)
            self._start_catching_up()
        return cols

    def view(self, key: Any, now: datetime, compute: Callable[[HotColumns, datetime], Any]) -> Any:
        """compute(snapshot, now), memoized per snapshot: the catch-up thread recomputes it with every merge."""
        # So a screen polling under ingest finds its view built off the request path, at most VIEW_MAX_AGE old.
        cols = self.columns(now)
        entry = cols.views.get(key)
        if entry is None or not timedelta(0) <= now - entry.at < VIEW_MAX_AGE:
            entry = cols.views[key] = _View(compute, now, compute(cols, now))
        entry.asked = time.monotonic()
        return entry.value

    def _needs_reload(self, now: datetime, cutoff: datetime) -> bool:
        if self._loaded_at is None:
            return True
        if now - WINDOW < cutoff:  # the clock went back past what is loaded
            return True
        return not (self._loaded_at <= now < self._loaded_at + self.reload_every)

    def _catch_up_once(self, now: datetime) -> HotColumns:
        cols, cutoff = self._cols, self._cutoff
        if cols is None or cutoff is None or self._needs_reload(now, cutoff):
            return self._reload(now)
        return self._merge_changed(cols, cutoff)

    def _reload(self, now: datetime) -> HotColumns:
        with self._dirty_lock:
            self._watching = True
            self._dirty.clear()  # cleared before the read: later commits are announced later
        cutoff = now - WINDOW - MARGIN
        self._vocab = {name: Vocab() for name in CODED}
        cols = self._install(self._snapshot(self._read(_LOAD_SQL, {"cutoff": to_db(cutoff)})))
        self._cutoff, self._loaded_at = cutoff, now
        log.debug("hot set loaded: %d incidents", len(cols))
        return cols

    def _merge_changed(self, cols: HotColumns, cutoff: datetime) -> HotColumns:
        with self._dirty_lock:
            ids, self._dirty = self._dirty, set()
        if not ids:
            return cols
        wanted = np.array(sorted(ids), dtype=np.int64)
        try:
            fresh = self._read(_CHANGED_SQL, {"lo": int(wanted[0]), "hi": int(wanted[-1]), "ids": wanted.tolist()})
        except Exception:
            with self._dirty_lock:
                self._dirty |= ids  # try again on the next catch-up
            raise
        return self._install(_merged(cols, self._snapshot(fresh), cutoff))  # base columns; derived anew

    def _install(self, cols: HotColumns) -> HotColumns:
        new = _derived(replace(cols, version=self.version + 1, views={}))
        now, recent = self.clock(), time.monotonic() - IDLE_AFTER
        for key, old in list(self._cols.views.items() if self._cols is not None else ()):  # readers may add some
            if old.asked > recent:  # views someone still reads are ready with the snapshot
                try:
                    new.views[key] = _View(old.compute, now, old.compute(new, now), old.asked)
                except Exception:  # noqa: BLE001 - logged; a reader computes it again itself
                    log.exception("wall hot set: view %r failed", key)
        self._cols = new
        return new

    @property
    def version(self) -> int:
        """The latest snapshot's version: the wall redraws when it moves."""
        cols = self._cols
        return cols.version if cols is not None else 0

    # --- the catch-up thread ---------------------------------------------------------------

    def _start_catching_up(self) -> None:
        with self._dirty_lock:
            if self._thread is None and not self._closing.is_set():
                self._thread = threading.Thread(target=self._catch_up, name="wall-hot-set", daemon=True)
                self._thread.start()

    def _catch_up(self) -> None:
        """Merge what the bus announced (at most every MERGE_EVERY), reload when due; end once no one reads."""
        while not self._closing.is_set():
            self._wake.wait(self.reload_every.total_seconds())
            self._wake.clear()
            if self._closing.is_set() or time.monotonic() - self._last_read > IDLE_AFTER:
                break
            try:
                with self._merge_lock:
                    self._catch_up_once(self.clock())
            except Exception:  # noqa: BLE001 - logged; the ids stay dirty for the next round
                log.exception("wall hot set: catching up with the bus failed")
            self._closing.wait(MERGE_EVERY)
        with self._merge_lock, self._dirty_lock:  # unwatched: stop collecting ids; the next read reloads in full
            self._watching, self._thread, self._loaded_at = False, None, None
            self._dirty.clear()

    def _snapshot(self, table: pa.Table) -> HotColumns:
        arrays = {name: self._vocab[name].encode(table[name]) for name in CODED}
        arrays["incident_id"] = table["incident_id"].to_numpy()
        arrays["title"] = np.array(table["title"].to_pylist(), dtype=object)
        for name in ("lat", "lon"):
            arrays[name] = table[name].to_numpy().astype(np.float64)  # NULL -> NaN
        for name in TIMES:
            arrays[name] = table[name].to_numpy().astype("datetime64[us]")  # NULL -> NaT
        for name in ("overdue", "ack_overdue", "supervised", "hung"):  # the wall only ever reads coalesce(flag, false)
            arrays[name] = pc.fill_null(table[name], False).to_numpy().astype(bool)
        arrays["escalations"] = pc.fill_null(table["escalations"], 0).to_numpy().astype(np.int32)
        arrays["live"] = np.ones(table.num_rows, dtype=bool)
        return HotColumns(arrays, {name: tuple(v.values) for name, v in self._vocab.items()})

    def _read(self, sql: str, params: dict) -> pa.Table:
        cur = self.store.cursor()  # fresh, fetched in full, closed: DuckDB 2.0 keeps no result open on it
        try:
            return cur.sql(sql, params=params).to_arrow_table()
        finally:
            cur.close()


class DailyCache:
    """kpis.daily_created per area, queried at most once a minute and again on a new local day, never per redraw."""

    # Past days barely move (a late false alarm or merge); today's bar comes live from the hot set
    # (kpis.created_since), so only 昨日同期's cut can lag, by at most DAILY_MAX_AGE.
    def __init__(self, store, max_age: timedelta = DAILY_MAX_AGE) -> None:
        self.store, self.max_age = store, max_age
        self._lock = threading.Lock()
        self._entries: dict[tuple, tuple[datetime, DailyCreated]] = {}

    def get(self, now: datetime, tz: str, area: str | None, days: int = 7) -> DailyCreated:
        key = (area, tz, days)
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None:
            at, value = entry
            if timedelta(0) <= now - at < self.max_age and value.days[-1] == _local_date(now, tz):
                return value
        value = daily_created(self.store, now, tz, days, area)  # outside the lock: a slow scan blocks no other area
        with self._lock:
            self._entries = {k: v for k, v in self._entries.items() if timedelta(0) <= now - v[0] < self.max_age}
            self._entries[key] = (now, value)
        return value


def _local_date(now: datetime, tz: str):
    return now.astimezone(ZoneInfo(tz)).date()


def _also_touched(event: DomainEvent) -> tuple[int, ...]:
    """Other incidents an event changed: a merge also updates its target."""
    return (event.into_id,) if isinstance(event, IncidentMerged) else ()


def _merged(old: HotColumns, fresh: HotColumns, cutoff: datetime) -> HotColumns:
    """Changed rows overwritten in place (no longer hot: not live), new hot ones appended, on copies."""
    # Copies and a small scatter, not a filter of every column: those fancy indexes wait for the GIL under ingest.
    hot = _hot_mask(fresh, cutoff)
    sorter = np.argsort(old["incident_id"])
    ordered = old["incident_id"][sorter]
    at = np.minimum(np.searchsorted(ordered, fresh["incident_id"]), max(len(ordered) - 1, 0))
    found = ordered[at] == fresh["incident_id"] if len(ordered) else np.zeros(len(fresh), dtype=bool)
    where, added = sorter[at[found]], ~found & hot
    arrays = {}
    for name in fresh.arrays:
        column, new = old[name], fresh[name] if name != "live" else hot
        arrays[name] = np.concatenate([column, new[added]])
        arrays[name][where] = new[found]
    return HotColumns(arrays, fresh.vocab)


def _hot_mask(cols: HotColumns, cutoff: datetime) -> np.ndarray:
    """Open, or not merged and created since `cutoff`: the rows _LOAD_SQL would read."""
    recent = cols["created_at"] >= np.datetime64(to_db(cutoff), "us")
    return cols.among("status", OPEN) | (recent & ~cols.among("status", ("merged",)))


_NEVER, _ALWAYS = np.iinfo(np.int64).max, np.iinfo(np.int64).min


def _derived(cols: HotColumns) -> HotColumns:
    """Add what the wall needs that does not depend on `now`, once per snapshot, off the request path."""
    # late_at: overdue from this instant on (flagged: always; closed or no deadline: never). Overdue at $now is
    # SQL's status IN open AND (overdue OR ack_overdue OR (status = 'new' AND ack_due_at < $now) OR
    # (resolve_due_at < $now AND NOT hung)), which is late_at < now, or NULL (late_unknown) when a deadline it
    # needs is NULL. A hung case (挂账) is never late on its resolve deadline.
    a = dict(cols.arrays)
    is_open, is_new = cols.among("status", OPEN), cols.among("status", ("new",))
    ack, res = a["ack_due_at"].astype(np.int64), a["resolve_due_at"].astype(np.int64)
    no_ack, no_res = np.isnat(a["ack_due_at"]), np.isnat(a["resolve_due_at"]) & ~a["hung"]
    late_at = np.minimum(np.where(is_new & ~no_ack, ack, _NEVER), np.where(no_res | a["hung"], _NEVER, res))
    flagged = a["overdue"] | a["ack_overdue"]
    a["late_at"] = np.where(is_open, np.where(flagged, _ALWAYS, late_at), _NEVER)
    a["late_unknown"] = is_open & ~flagged & ((is_new & no_ack) | no_res)
    a["open"] = a["live"] & is_open
    a["closed"] = a["live"] & ~is_open & ~cols.among("status", ("merged",))
    a["created"] = a["created_at"].astype(np.int64)
    a["due"] = np.where(is_new, a["ack_due_at"], a["resolve_due_at"])
    streets = len(cols.vocab["street_code"]) + 1
    a["group"] = (a["domain"].astype(np.int64) * streets + a["street_code"] + 1) * 2 + is_open
    idx = np.flatnonzero(a["open"])
    due, no_due = a["due"][idx].astype(np.int64), np.isnat(a["due"][idx])
    # np.lexsort sorts by its last key first; DuckDB puts NULLs last whatever the direction.
    order = np.lexsort((-a["incident_id"][idx], -a["created"][idx], np.where(no_due, 0, due), no_due,
                        ~cols.among("severity", ("P1",))[idx]))
    return replace(cols, arrays=a, urgent=idx[order])
