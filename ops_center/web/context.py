"""The running application's parts, set once at start-up so Dash pages can reach them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ops_center.core.clock import utc_now
from ops_center.core.config import Config
from ops_center.read.hot_incidents import HotIncidents


@dataclass(frozen=True)
class AppContext:
    """Everything a screen or job needs; built by run.py (or a test), never mutated after."""

    cfg: Config
    config_path: Path
    store: Any  # ops_center.store.store.Store
    service: Any  # ops_center.service.incidents.IncidentService
    bus: Any  # ops_center.service.bus.Bus
    pipeline: Any = None  # ops_center.service.pipeline.Pipeline
    rules: Any = None  # rules.holder.RulesHolder, with .current (RuleSet)
    registry: Any = None  # ops_center.core.devices.DeviceRegistry
    sources: list = field(default_factory=list)  # started ingest sources (app.start fills it)
    health: Callable[[], list] = list  # -> list[SourceHealth]
    clock: Callable[[], datetime] = utc_now
    hot_incidents: Any = None  # ops_center.read.hot_incidents.HotIncidents: the wall's in-memory hot set

    def __post_init__(self) -> None:
        # Every context with a store and a bus (run.py's, a test's) gets the wall's hot set, subscribed here,
        # before create_app subscribes the data version: a redraw that sees a new version finds the changed
        # ids already noted. Frozen, so set once while constructing; nothing is read until the wall asks.
        if self.hot_incidents is None and self.store is not None and self.bus is not None:
            object.__setattr__(self, "hot_incidents", HotIncidents(self.store, clock=self.clock).attach(self.bus))


_context: AppContext | None = None


def set_context(ctx: AppContext) -> None:
    """Install the context once per process (tests may replace it with their own)."""
    global _context
    _context = ctx


def get_context() -> AppContext:
    if _context is None:
        raise RuntimeError("application context not set: build it with ops_center.wiring.app.build_context()")
    return _context
