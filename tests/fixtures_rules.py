"""Shared pytest fixtures for the rules tests: the shipped rule set, an event factory, ad-hoc rule files."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ops_center.core.config import Config
from ops_center.core.model import Event
from rules.engine import RuleSet


class BatchlessRuleSet:
    """What a stub rule set needs besides `evaluate`: the per-batch calls the writer and backtest make, answered
    as a RuleSet without a text model and without keyword contexts made up front."""

    identity = ("stub rules", None)  # no file digest: decisions made ahead by a real RuleSet never match it

    @staticmethod
    def predictions(events: list[Event]) -> list[None]:
        return [None] * len(events)

    @staticmethod
    def contexts(events: list[Event]) -> list[None]:
        return [None] * len(events)


ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "rules" / "shipped"
T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday 10:00 Asia/Shanghai
GRID = "510108002002001"


def make_event(source: str = "sensor", at: datetime = T0, **kw) -> Event:
    """An Event with sensible defaults; pass only what the test is about."""
    kw.setdefault("area_code", GRID)
    return Event(source=source, source_id=f"test_{source}", natural_key=kw.pop("natural_key", f"k-{at.isoformat()}"),
                 occurred_at=at, received_at=at, **kw)


def text(t: str, source: str = "hotline", **kw) -> Event:
    return make_event(source, text=t, **kw)


def reading(kind: str, device_id: str = "D1", at: datetime = T0, **kw) -> Event:
    return make_event("sensor", at=at, kind=kind, device_id=device_id, **kw)


@pytest.fixture(scope="session")
def shipped(cfg: Config) -> RuleSet:
    return RuleSet.load([SHIPPED], cfg)


@pytest.fixture
def rules_from(tmp_path: Path, cfg: Config) -> Callable[..., RuleSet]:
    """Write YAML (dedented) to a file in tmp_path and load it as a rule set."""

    def load(yaml_text: str, name: str = "rules.yaml") -> RuleSet:
        path = tmp_path / name
        path.write_text(textwrap.dedent(yaml_text), encoding="utf-8")
        return RuleSet.load([path], cfg)

    return load
