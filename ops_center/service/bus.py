"""Domain events, published only after their transaction commits, delivered off the writer thread."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Base: every domain event names its incident and when it happened."""

    incident_id: int
    at: datetime

    @property
    def name(self) -> str:
        """Short wire name, e.g. 'created', used in the outbound MQTT topic."""
        return _NAMES[type(self)]

    def to_dict(self) -> dict:
        """Flat fields (no nested dataclasses here), without asdict's deep copy: this runs per outbound message."""
        names, values = _fields_of(type(self))
        data = dict(zip(names, values(self), strict=True))
        data["event"] = self.name
        data["at"] = _isoformat(self.at)
        return data


_FIELDS: dict[type, tuple[tuple[str, ...], Callable[[object], tuple]]] = {}


def _fields_of(cls: type) -> tuple[tuple[str, ...], Callable[[object], tuple]]:
    """A class's field names and one getter for all their values (a getattr per field cost ~2.5 µs an event).

    Every domain event has at least two fields (incident_id, at), so the getter always returns a tuple.
    """
    known = _FIELDS.get(cls)
    if known is None:
        names = tuple(f.name for f in fields(cls))
        known = _FIELDS[cls] = (names, attrgetter(*names))
    return known


_last_at: tuple[datetime | None, str] = (None, "")


def _isoformat(at: datetime) -> str:
    """A committed batch's events share its `at`: the same object is formatted once, not once per incident."""
    global _last_at
    last, text = _last_at  # one tuple read: a pair from another thread is still a matching pair
    if at is not last:
        text = at.isoformat()
        _last_at = (at, text)
    return text


@dataclass(frozen=True, slots=True)
class IncidentCreated(DomainEvent):
    domain: str
    category: str
    severity: str
    area_code: str
    level: str
    title: str
    source: str
    notify_domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IncidentUpdated(DomainEvent):
    """A repeat or correlated report bumped an open incident."""

    report_count: int
    source: str
    correlated: bool = False


@dataclass(frozen=True, slots=True)
class IncidentTransitioned(DomainEvent):
    from_status: str
    to_status: str
    actor: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class IncidentEscalated(DomainEvent):
    from_level: str
    to_level: str
    reason: str  # "ack_overdue" | "resolve_overdue" | "manual"
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class IncidentOverdue(DomainEvent):
    kind: str  # "acknowledge" | "resolve"


@dataclass(frozen=True, slots=True)
class IncidentWarned(DomainEvent):
    kind: str  # "acknowledge" | "resolve": the SLA warning threshold passed


@dataclass(frozen=True, slots=True)
class IncidentMerged(DomainEvent):
    into_id: int
    actor: str


@dataclass(frozen=True, slots=True)
class WorkOrderChanged(DomainEvent):
    """A unit or the center acted on a work order (签收, 退单, 改派/强派, 反馈, 延期, 挂账, 督办, 回访)."""

    action: str
    actor: str
    unit: str | None = None
    assignment_id: int | None = None


@dataclass(frozen=True, slots=True)
class UnitReminded(DomainEvent):
    """催办: a unit is reminded of a case (before its deadline, after it, or by hand), for SMS/企业微信 gateways."""

    unit: str
    kind: str  # "before" | "overdue" | "manual"
    assignment_id: int | None = None
    due_at: str | None = None  # ISO time of the resolve deadline


@dataclass(frozen=True, slots=True)
class EventsCommitted:
    """A pipeline batch committed: lets screens know fresh data exists without polling the DB."""

    at: datetime
    events: int
    incident_ids: tuple[int, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class ReportWritten:
    """A subscribed weekly report was written: outbound MQTT announces it on <prefix>/out/report/<subscription>."""

    at: datetime
    subscription: str
    name: str
    area: str
    week: str
    path: str
    created: int  # 受理数 of the week, so a subscriber sees the headline without opening the file

    def to_dict(self) -> dict:
        return {"event": "report_written", "at": self.at.isoformat(), "subscription": self.subscription,
                "name": self.name, "area": self.area, "week": self.week, "path": self.path, "created": self.created}


_NAMES = {
    IncidentCreated: "created",
    IncidentUpdated: "updated",
    IncidentTransitioned: "transitioned",
    IncidentEscalated: "escalated",
    IncidentOverdue: "overdue",
    IncidentWarned: "warned",
    IncidentMerged: "merged",
    WorkOrderChanged: "work_order",
    UnitReminded: "reminded",
}

Handler = Callable[[object], None]
BatchHandler = Callable[[list], None]
_STOP = object()


class Bus:
    """In-process publish/subscribe; handlers run on the bus thread, so a slow one never blocks a commit."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self._batch_handlers: list[BatchHandler] = []
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="bus", daemon=True)
        self._thread.start()

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def subscribe_batch(self, handler: BatchHandler) -> None:
        """handler(events) once per published batch, in order: for a subscriber whose cost per event is mostly
        per call (a lock, a clock read, a hand-over); a 100,000-row export publishes 100,000 events."""
        self._batch_handlers.append(handler)

    def publish(self, events: Iterable[object]) -> None:
        """Queue events for delivery; call only after the transaction that made them committed.

        One queue item per call: a batch that opened 2,000 incidents paid two locked queue operations each.
        """
        batch = list(events)
        if batch:
            self._queue.put(batch)

    def drain(self, timeout: float = 10) -> None:
        """Wait until every event published so far was delivered (tests, shutdown)."""
        done = threading.Event()
        self._queue.put(done)
        if not done.wait(timeout):
            raise TimeoutError("bus did not drain in time")

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(5)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            handlers = list(self._handlers)
            for event in item:
                for handler in handlers:
                    try:
                        handler(event)
                    except Exception:  # noqa: BLE001 - a failing subscriber is logged, never raised
                        log.exception("bus handler %r failed on %s", handler, type(event).__name__)
            for batch_handler in list(self._batch_handlers):
                try:
                    batch_handler(item)
                except Exception:  # noqa: BLE001 - as above
                    log.exception("bus handler %r failed on a batch of %d events", batch_handler, len(item))
