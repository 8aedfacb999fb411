"""The interfaces pages, jobs and sources rely on, declared so a type checker holds every part to them.

Each Protocol lists only what callers outside the implementing module use; the implementations
(ops_center.store.store.Store, incidents.IncidentService, pipeline.Pipeline, bus.Bus, rules.holder.RulesHolder,
hot_incidents.HotIncidents, ingest sources) satisfy them structurally. Types named here are imported
for the checker only, so this module sits at the bottom of the import order beside the vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from ops_center.core.lifecycle import Actor, BulkResult
    from ops_center.core.model import Ahead, DeadLetter, Event
    from ops_center.core.sla import SlaPolicy
    from ops_center.read.hot_incidents import HotColumns
    from rules.engine import RuleSet

T = TypeVar("T")
Params = list | tuple | dict | None


class StoreReads(Protocol):
    """Reads for screens and read models: each call gets its own cursor, never the writer's connection."""

    def cursor(self) -> duckdb.DuckDBPyConnection: ...

    def query_df(self, sql: str, params: Params = None) -> pd.DataFrame: ...

    def query(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]: ...

    def fault(self) -> str: ...


class StorePort(StoreReads, Protocol):
    """The one writer: a function run in one transaction on the writer thread, and an orderly close."""

    path: Path  # the store file; photos and backups live beside it

    def write(self, fn: Callable[[duckdb.DuckDBPyConnection], T], timeout: float | None = 60) -> T: ...

    def allocate_ids(self, conn: duckdb.DuckDBPyConnection, table: str, n: int = 1) -> int: ...

    def archive_changed(self) -> None: ...

    def flush(self, timeout: float | None = 60) -> None: ...

    def close(self) -> None: ...


class EventBus(Protocol):
    """Domain events after commit; a subscriber's failure is logged, never raised into the publisher."""

    def subscribe(self, handler: Callable[[object], None]) -> None: ...

    def subscribe_batch(self, handler: Callable[[list], None]) -> None: ...

    def publish(self, events: Iterable[object]) -> None: ...

    def drain(self, timeout: float = 10) -> None: ...

    def close(self) -> None: ...


class Intake(Protocol):
    """The one way in for events and dead letters, from every source and from replay."""

    def submit(self, event: Event, on_committed: Callable[[], None] | None = None) -> None: ...

    def submit_many(self, items: list[Event | DeadLetter], on_committed: Callable[[], None] | None = None,
                    ahead: Ahead | None = None) -> None: ...

    def dead_letter(self, source_id: str, topic: str | None, reason: str, raw: bytes, detail: str = "",
                    on_committed: Callable[[], None] | None = None) -> None: ...

    def flush(self, timeout: float = 30) -> None: ...

    def queued(self, source_id: str) -> int: ...


class PipelinePort(Intake, Protocol):
    """Intake plus the writer's lifecycle, which only the composition root drives."""

    def start(self) -> Any: ...

    def stop(self, timeout: float = 30) -> None: ...


class WorkOrderActions(Protocol):
    """The work order between the center and the units (issue 15); role, scope, unit and reasons checked behind it."""

    def dispatch(self, actor: Any, incident_id: int, version: int, lead_unit: str, co_units: Iterable[str] = (),
                 note: str = "") -> dict: ...

    def decide_return(self, actor: Any, assignment_id: int, decision: str, unit: str | None = None,
                      reason: str = "") -> dict: ...

    def accept(self, actor: Any, assignment_id: int) -> dict: ...

    def return_order(self, actor: Any, assignment_id: int, reason: str) -> dict: ...

    def feedback(self, actor: Any, assignment_id: int, note: str, photos: Iterable[str] = ()) -> dict: ...

    def request_extension(self, actor: Any, assignment_id: int, seconds: float, reason: str) -> int: ...

    def decide_extension(self, actor: Any, extension_id: int, approve: bool, note: str = "") -> dict: ...

    def hang(self, actor: Any, incident_id: int, version: int, kind: str, reason: str) -> dict: ...

    def verify(self, actor: Any, incident_id: int, version: int, passed: bool, note: str = "",
               photos: Iterable[str] = ()) -> dict: ...

    def remind(self, actor: Any, incident_id: int, note: str = "") -> list[int]: ...

    def supervise(self, actor: Any, incident_id: int, due_at: datetime, note: str) -> int | None: ...

    def close_supervision(self, actor: Any, supervision_id: int, note: str) -> dict: ...

    def extend_supervision(self, actor: Any, supervision_id: int, due_at: datetime, note: str) -> dict: ...

    def record_callback(self, actor: Any, incident_id: int, satisfaction: str, note: str = "") -> dict: ...


class IncidentActions(Protocol):
    """Every human action on an incident; role, scope and version are checked behind it."""

    policy: SlaPolicy

    def get(self, incident_id: int) -> dict: ...

    def timeline(self, incident_id: int, include_merged: bool = True) -> pd.DataFrame: ...

    def acknowledge(self, actor: Actor, incident_id: int, version: int, note: str = "") -> dict: ...

    def dispatch(self, actor: Actor, incident_id: int, version: int, department: str, level: str | None = None,
                 note: str = "") -> dict: ...

    def resolve(self, actor: Actor, incident_id: int, version: int, note: str = "") -> dict: ...

    def close(self, actor: Actor, incident_id: int, version: int, note: str = "") -> dict: ...

    def verify_fail(self, actor: Actor, incident_id: int, version: int, note: str = "") -> dict: ...

    def reopen(self, actor: Actor, incident_id: int, version: int, note: str = "") -> dict: ...

    def false_alarm(self, actor: Actor, incident_id: int, version: int, note: str = "") -> dict: ...

    def escalate(self, actor: Actor, incident_id: int, version: int, note: str = "") -> dict: ...

    def set_domain(self, actor: Actor, incident_id: int, version: int, domain: str, category: str | None = None,
                   note: str = "") -> dict: ...

    def add_note(self, actor: Actor, incident_id: int, version: int | None = None, note: str = "") -> dict: ...

    def merge(self, actor: Actor, incident_id: int, version: int, into_id: int, note: str = "") -> dict: ...

    def request_extension(self, actor: Actor, incident_id: int, version: int | None, seconds: float, reason: str,
                          note: str = "") -> int: ...

    def decide_extension(self, actor: Actor, incident_id: int, version: int, extension_id: int, approve: bool,
                         note: str = "") -> dict: ...

    def bulk_acknowledge(self, actor: Actor, items: Iterable[tuple[int, int]], note: str = "") -> list[BulkResult]: ...


class RulesPort(Protocol):
    """The running rule set, swapped whole on reload; readers take `.current` once per use."""

    current: RuleSet
    paths: tuple[Path, ...]
    version: int
    last_error: str | None

    def reload_if_changed(self) -> str | None: ...

    def reload_model(self) -> None: ...


class HotSet(Protocol):
    """The wall's in-memory set of open and recent incidents, kept current from the bus."""

    @property
    def version(self) -> int: ...

    def columns(self, now: datetime, *, fresh: bool = False) -> HotColumns: ...

    def view(self, key: Any, now: datetime, compute: Callable[[HotColumns, datetime], Any]) -> Any: ...

    def close(self) -> None: ...


class HealthRow(Protocol):
    """One source's health as the wall strip and the admin page show it."""

    @property
    def source_id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def last_message_at(self) -> datetime | None: ...

    @property
    def messages_per_min(self) -> float: ...

    @property
    def dead_letters_per_min(self) -> float: ...

    @property
    def dead_letters_total(self) -> int: ...


class RunningSource(Protocol):
    """What the composition root starts and stops: every ingest source, the outbound publisher, the store watch."""

    source_id: str
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def health(self) -> HealthRow: ...


HealthFn = Callable[[], Sequence[HealthRow]]
