"""The application context is built once and never reassigned; the started sources live in their own holder."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from ingest.health import SourceHealth
from ops_center.web.context import AppContext, RunningSources
from ops_center.wiring.app import build_context


class _Source:
    def __init__(self, source_id: str):
        self.source_id = self.name = source_id
        self.started = False

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    def health(self) -> SourceHealth:
        return SourceHealth(self.source_id, self.source_id, "running" if self.started else "stopped",
                            None, 0.0, 0.0, 0)


@pytest.fixture
def ctx(cfg, config_path, db_path, fixed_now):
    built = build_context(cfg, config_path, db_path=db_path, clock=lambda: fixed_now)
    yield built
    built.hot_incidents.close()
    built.bus.close()
    built.store.close()


def test_fields_cannot_be_reassigned(ctx):
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.sources = RunningSources()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.hot_incidents = None  # type: ignore[misc]


def test_build_context_builds_every_part_up_front(ctx):
    assert ctx.pipeline is not None and ctx.rules is not None and ctx.registry is not None
    assert ctx.hot_incidents is not None and ctx.hot_incidents.version == 0  # nothing read until the wall asks
    assert list(ctx.sources) == []


def test_health_follows_the_sources_added_after_construction(ctx, fixed_now):
    first, second = _Source("a"), _Source("b")
    ctx.sources.append(first)
    ctx.sources.extend([second])
    first.start()
    rows = {h.source_id: h.state for h in ctx.health() if h.source_id in ("a", "b")}
    assert rows == {"a": "running", "b": "stopped"}
    assert len(ctx.sources) == 2


def test_a_bare_context_reports_no_health(cfg, config_path):
    bare = AppContext(cfg=cfg, config_path=config_path, store=None, service=None, bus=None)  # type: ignore[arg-type]
    assert bare.health() == [] and bare.hot_incidents is None and isinstance(bare.clock(), datetime)
