"""The running application's parts, set once at start-up so Dash pages can reach them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ops_center.core.clock import utc_now
from ops_center.core.config import Config
from ops_center.core.devices import DeviceRegistry
from ops_center.core.ports import (
    EventBus,
    HealthFn,
    HealthRow,
    HotSet,
    IncidentActions,
    PipelinePort,
    RulesPort,
    RunningSource,
    StorePort,
    WorkOrderActions,
)


class RunningSources:
    """The context's one mutable part, said so by its type: app.start adds the sources it starts, stop ends them."""

    def __init__(self, sources: Iterable[RunningSource] = ()) -> None:
        self._sources: list[RunningSource] = list(sources)
        self._lock = threading.Lock()

    def append(self, source: RunningSource) -> None:
        with self._lock:
            self._sources.append(source)

    def extend(self, sources: Iterable[RunningSource]) -> None:
        with self._lock:
            self._sources.extend(sources)

    def __iter__(self) -> Iterator[RunningSource]:
        with self._lock:
            return iter(list(self._sources))  # a copy: the health strip may read while start() still adds

    def __len__(self) -> int:
        return len(self._sources)

    def health(self) -> list[HealthRow]:
        return [source.health() for source in self]


def no_health() -> list[HealthRow]:
    """A context without sources (a test, a bench) reports none."""
    return []


@dataclass(frozen=True)
class AppContext:
    """Everything a screen or job needs; built by build_context (or a test), its fields never reassigned.

    `sources` is the explicit mutable holder app.start fills; every other part is set at construction.
    """

    cfg: Config
    config_path: Path
    store: StorePort
    service: IncidentActions
    bus: EventBus
    pipeline: PipelinePort | None = None
    rules: RulesPort | None = None
    registry: DeviceRegistry | None = None
    sources: RunningSources = field(default_factory=RunningSources)
    health: HealthFn = no_health
    clock: Callable[[], datetime] = utc_now
    hot_incidents: HotSet | None = None  # the wall's in-memory hot set; build_context and web tests give one
    work_orders: WorkOrderActions | None = None  # the units' work order (issue 15); build_context gives one


_context: AppContext | None = None


def set_context(ctx: AppContext) -> None:
    """Install the context once per process (tests may replace it with their own)."""
    global _context
    _context = ctx


def get_context() -> AppContext:
    if _context is None:
        raise RuntimeError("application context not set: build it with ops_center.wiring.app.build_context()")
    return _context
