"""Sources hand events here; a batcher commits them through the single writer, then acks and publishes."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import duckdb
import orjson

from ops_center.core.config import Config
from ops_center.core.domains import OPEN_STATUSES
from ops_center.core.log_limit import LogLimiter
from ops_center.core.model import Ahead, Event
from ops_center.core.plausible import IMPLAUSIBLE_TIME, implausible, plausible_window
from ops_center.core.ports import RulesPort
from ops_center.core.sla import SlaPolicy
from ops_center.service.batch import BatchResult, BatchWriter, DeadLetter, key_hash
from ops_center.service.bus import Bus, EventsCommitted, IncidentMerged, IncidentTransitioned
from ops_center.store.store import Store

__all__ = ["Pipeline", "SourceStats", "key_hash", "DeadLetter"]

log = logging.getLogger(__name__)
_STOP = object()


@dataclass(frozen=True, slots=True)
class SourceStats:
    """What the writer committed for one source so far: benches and tests wait on it (health is each source's Meter)."""

    accepted: int = 0
    duplicates: int = 0
    dead_letters: int = 0


class Pipeline:
    """The one way into the store for inputs: batched, deduplicated, acknowledged only after commit."""

    def __init__(self, store: Store, bus: Bus, cfg: Config, rules: RulesPort, policy: SlaPolicy,
                 clock: Callable[[], datetime],
                 *, max_queue: int = 200_000):
        self.store, self.bus, self.cfg, self.clock = store, bus, cfg, clock
        self.writer = BatchWriter(store, cfg, rules, policy, clock)
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._max_rows = cfg.store.batch_max_rows
        self._linger = cfg.store.flush_interval_ms / 1000
        self._window = plausible_window(cfg)
        self._share_rows = max(1, int(max_queue * cfg.ingest.source_share))
        self._queued: dict[str, int] = {}
        self._share_cond = threading.Condition()
        self._abort = threading.Event()
        self._errors = LogLimiter(log)
        self.restarts = 0  # times the batcher's watchdog restarted it
        self._counters: dict[str, SourceStats] = {}
        self._counters_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        bus.subscribe(self._on_bus)

    # --- the source-facing interface ------------------------------------------------------------

    def submit(self, event: Event, on_committed: Callable[[], None] | None = None) -> None:
        """Queue an accepted event; `on_committed` runs once it (or its duplicate) is committed."""
        self._put((self._screen(event), on_committed, None))

    def _implausible(self, event: Event) -> str:
        """Why the event's time cannot be right (the same window the MQTT parsers apply), or ''."""
        if event.source == "system":
            return ""
        return implausible(event.occurred_at, event.received_at, *self._window, name="occurred_at")

    def submit_many(self, items: list[Event | DeadLetter], on_committed: Callable[[], None] | None = None,
                    ahead: Ahead | None = None) -> None:
        """Queue a chunk (a receiver's, a file's) as one item; `on_committed` runs once all of it is committed.

        `ahead`: decisions for its events made before (a file's parser process), in the order of `items`.
        """
        self._put(([self._screen(item) for item in items], on_committed, ahead))

    def _screen(self, item: Event | DeadLetter) -> Event | DeadLetter:
        reason = self._implausible(item) if isinstance(item, Event) else ""
        if not reason:
            return item
        return DeadLetter(item.source_id, None, IMPLAUSIBLE_TIME, orjson.dumps(item, default=str), reason,
                          self.clock())

    def dead_letter(self, source_id: str, topic: str | None, reason: str, raw: bytes, detail: str = "",
                    on_committed: Callable[[], None] | None = None) -> None:
        """Queue input we could not accept, raw bytes and reason kept for the admin screen."""
        self._put((DeadLetter(source_id, topic, reason, bytes(raw or b""), detail, self.clock()), on_committed, None))

    def stats(self, source_id: str) -> SourceStats:
        with self._counters_lock:
            return self._counters.get(source_id) or SourceStats()

    def flush(self, timeout: float = 30) -> None:
        """Block until everything submitted before this call is committed."""
        done = threading.Event()
        self._put((None, done.set, None))
        if not done.wait(timeout):
            raise TimeoutError("pipeline did not flush in time")

    def _put(self, item: tuple) -> None:
        source_id, rows = _source_of(item), _rows(item)
        if source_id is not None and not self._take_share(source_id, rows):
            log.error("%s: over its pipeline share for 30 s; input dropped without ack (it is delivered again)",
                      source_id)
            return
        try:
            self._queue.put(item, timeout=30)
        except queue.Full:
            self._release_share(source_id, rows)
            log.error("pipeline queue full for 30 s; input dropped without ack (the broker will redeliver)")

    def _take_share(self, source_id: str, rows: int) -> bool:
        """Block a source that holds more than its share of the queue: it waits, the others go on."""
        with self._share_cond:
            ok = self._share_cond.wait_for(
                lambda: self._queued.get(source_id, 0) == 0 or self._queued[source_id] + rows <= self._share_rows,
                timeout=30)
            if ok:
                self._queued[source_id] = self._queued.get(source_id, 0) + rows
            return ok

    def _release_share(self, source_id: str | None, rows: int) -> None:
        if source_id is None:
            return
        with self._share_cond:
            self._queued[source_id] = self._queued.get(source_id, 0) - rows
            self._share_cond.notify_all()

    def queued(self, source_id: str) -> int:
        """Inputs of one source waiting in the queue (for health and tests)."""
        with self._share_cond:
            return self._queued.get(source_id, 0)

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> Pipeline:
        self.store.submit(self.writer.prepare)  # queued first, so the first batch does not pay for it
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        """Commit what is queued within `timeout`; past it, stop anyway: what is left was never acked."""
        if self._thread is None:
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("pipeline queue full at stop")
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._abort.set()
            self._thread.join(10)
            log.warning("pipeline stopped with %d inputs uncommitted (not acked: they are delivered again)",
                        self._queue.qsize())
        self._thread = None

    # --- the batcher -------------------------------------------------------------------------------------

    def _run(self) -> None:
        """The batcher's watchdog: whatever escapes a round is logged loudly and the batcher goes on.

        The inputs of that round were not acknowledged, so they come again (MQTT redelivery, file offset).
        """
        while True:
            try:
                self._batches()
                return
            except Exception:  # noqa: BLE001 - a dead batcher would silence every source at once
                self.restarts += 1
                log.critical("pipeline batcher failed; restarting it (its inputs stay unacknowledged)",
                             exc_info=True)

    def _batches(self) -> None:
        stopping = False
        while not stopping and not self._abort.is_set():
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if item is _STOP:
                break
            batch = [item]
            rows = _rows(item)
            deadline = time.monotonic() + self._linger
            while rows < self._max_rows:
                left = deadline - time.monotonic()
                if left <= 0:  # under load the queue never runs dry: the age of the batch decides
                    break
                try:
                    nxt = self._queue.get(timeout=left)
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
                batch.append(nxt)
                rows += _rows(nxt)
            for queued in batch:
                self._release_share(_source_of(queued), _rows(queued))
            try:
                self._commit(batch)
            except Exception as exc:  # noqa: BLE001 - the batcher must outlive a broken store; nothing is acked
                self._errors.error(_error_key(exc), "batch could not be committed at all; %d inputs left "
                                   "unacknowledged", len(batch))
                for payload, callback, _ in batch:
                    if payload is None and callback is not None:
                        callback()  # release flush() waiters

    def _commit(self, batch: list[tuple]) -> None:
        events: list[Event] = []
        dead: list[DeadLetter] = []
        decided: list[tuple | None] = []  # per event: (rule set identity, decisions made ahead) or None
        for payload, _, ahead in batch:
            for at, p in enumerate(payload if isinstance(payload, list) else (payload,)):
                if isinstance(p, Event):
                    events.append(p)
                    made = ahead.of(at) if ahead is not None else None
                    decided.append((ahead.ruleset, made) if made is not None else None)
                elif isinstance(p, DeadLetter):
                    dead.append(p)
        if events or dead:
            try:
                result: BatchResult = self.store.write(lambda conn: self.writer.apply(conn, events, dead, decided))
            except Exception as exc:  # noqa: BLE001 - isolate the bad input instead of stalling every source
                if _store_wide(exc):  # disk full, I/O error: no input is to blame, none is acked
                    raise
                self._errors.error(_error_key(exc), "batch of %d events / %d dead letters failed; retrying one "
                                   "by one", len(events), len(dead))
                result = self._commit_one_by_one(events, dead)
            self._count(result, dead)
            self.bus.publish([*result.domain_events, EventsCommitted(
                at=self.clock(), events=len(events), incident_ids=tuple(sorted(result.incident_ids)))])
        for _, callback, _ in batch:
            if callback is not None:
                try:
                    callback()
                except Exception:  # noqa: BLE001 - a failing ack must not stop the batcher
                    log.exception("on_committed callback failed")

    def _commit_one_by_one(self, events: list[Event], dead: list[DeadLetter]) -> BatchResult:
        """Commit each input alone; one the store still refuses becomes a dead letter, never a loss."""
        total = BatchResult()
        items: list[Event | DeadLetter] = [*events, *dead]
        for item in items:
            single_events, single_dead = ([item], []) if isinstance(item, Event) else ([], [item])
            try:
                part = self.store.write(partial(self.writer.apply, events=single_events, dead=single_dead))
            except Exception as exc:  # noqa: BLE001 - recorded as a dead letter below
                if _store_wide(exc):
                    raise
                self._errors.error(_error_key(exc), "input refused by the store; kept as a dead letter")
                raw = repr(item).encode()[:65536]
                source_id = item.source_id
                fallback = DeadLetter(source_id, None, "store_error", raw, str(exc)[:500], self.clock())
                part = self.store.write(partial(self.writer.apply, events=[], dead=[fallback]))
            total.domain_events.extend(part.domain_events)
            total.incident_ids |= part.incident_ids
            for name in ("accepted", "duplicates"):
                for key, n in getattr(part, name).items():
                    getattr(total, name)[key] = getattr(total, name).get(key, 0) + n
        return total

    def _count(self, result: BatchResult, dead: list[DeadLetter]) -> None:
        dead_by: dict[str, int] = {}
        for d in dead:
            dead_by[d.source_id] = dead_by.get(d.source_id, 0) + 1
        with self._counters_lock:
            for source_id in set(result.accepted) | set(result.duplicates) | set(dead_by):
                old = self._counters.get(source_id) or SourceStats()
                self._counters[source_id] = SourceStats(old.accepted + result.accepted.get(source_id, 0),
                                                        old.duplicates + result.duplicates.get(source_id, 0),
                                                        old.dead_letters + dead_by.get(source_id, 0))

    def _on_bus(self, event: object) -> None:
        if isinstance(event, IncidentTransitioned) and event.to_status not in OPEN_STATUSES:
            self.writer.note_closed(event.incident_id)
        elif isinstance(event, IncidentMerged):
            self.writer.note_closed(event.incident_id)


def _rows(item: tuple) -> int:
    """How many inputs one queue item carries: a receiver's chunk counts each of its events."""
    payload = item[0]
    return len(payload) if isinstance(payload, list) else 1


def _source_of(item: tuple) -> str | None:
    """The source an item's share is counted against (a flush marker counts against none)."""
    payload = item[0]
    first = payload[0] if isinstance(payload, list) and payload else payload
    return getattr(first, "source_id", None) if first is not None else None


def _store_wide(exc: BaseException) -> bool:
    """A failure of the store itself (I/O, disk full, invalidated instance), not of one input in the batch."""
    if isinstance(exc, (duckdb.IOException, duckdb.FatalException)):
        return True
    text = str(exc)
    return "Could not write file" in text or "No space left" in text or "database has been invalidated" in text


def _error_key(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
