"""Replay stored events through a rule set and count the incidents it would create; touches nothing."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import starmap
from typing import Any

import orjson
import pandas as pd

from ops_center.model import Event
from ops_center.open_index import cell_of
from rules.correlate import Candidate, find_match
from rules.engine import RuleSet, RuleState

EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(Event))  # positional construction follows this order


@dataclass
class BacktestSummary:
    """What the replayed rule set would have done, plus per-event results for the diff."""

    events: int = 0
    decisions: int = 0
    created: int = 0
    bumped: int = 0
    correlated: int = 0
    cleared: int = 0
    incidents_by_domain: Counter = field(default_factory=Counter)
    incidents_by_rule: Counter = field(default_factory=Counter)
    event_rule_ids: list = field(default_factory=list)  # first decision's rule id per event, in replay order
    event_domains: list = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.elapsed_s if self.elapsed_s > 0 else float("inf")


def _column(df: pd.DataFrame, name: str) -> list:
    if name not in df.columns:
        return [None] * len(df)
    col = df[name]
    return col.astype(object).where(col.notna(), None).tolist()  # NaN / NA → None, as Event expects


def _times(df: pd.DataFrame, name: str) -> list[datetime]:
    ts = pd.to_datetime(df[name])
    ts = ts.dt.tz_localize(UTC) if ts.dt.tz is None else ts.dt.tz_convert(UTC)
    return list(ts.dt.to_pydatetime())


def _fields(raw: Any) -> dict:
    if raw is None or raw == "{}":
        return {}
    parsed = orjson.loads(raw) if isinstance(raw, (str, bytes)) else raw
    return parsed if isinstance(parsed, dict) else {}


def events_from_df(df: pd.DataFrame) -> list[Event]:
    """Rows of the `events` table (naive UTC timestamps) → Events, column-wise and positional for speed."""
    if not len(df):
        return []
    cols: dict[str, list] = {name: _column(df, name) for name in EVENT_FIELDS
                             if name not in ("occurred_at", "received_at", "fields")}
    cols["occurred_at"] = _times(df, "occurred_at")
    cols["received_at"] = _times(df, "received_at") if "received_at" in df.columns else cols["occurred_at"]
    cols["fields"] = [_fields(raw) for raw in _column(df, "fields")]
    for name, empty in (("source_id", ""), ("natural_key", ""), ("text", "")):
        cols[name] = [empty if v is None else v for v in cols[name]]
    return list(starmap(Event, zip(*(cols[name] for name in EVENT_FIELDS), strict=True)))


def replay(df_events: pd.DataFrame, ruleset: RuleSet, *, distance_m: float | None = None,
           window: timedelta | None = None) -> BacktestSummary:
    """Evaluate events in time order with dedup, correlation and clears simulated in memory."""
    corr = ruleset.cfg.rules.correlation
    distance_m = corr.distance_m if distance_m is None else distance_m
    window = corr.window if window is None else window
    started = time.perf_counter()
    if "occurred_at" in df_events.columns and len(df_events):
        df_events = df_events.sort_values("occurred_at", kind="stable")
    events = events_from_df(df_events) if len(df_events) else []
    summary = BacktestSummary(events=len(events))
    state = RuleState()
    by_key: dict[str, list] = {}  # dedup key -> [incident id, last report]
    places = _Places(window)
    next_id = 1
    for ev in events:
        decisions = ruleset.evaluate(ev, state)
        summary.decisions += len(decisions)
        first = next((d for d in decisions if not d.clears), None)
        summary.event_rule_ids.append(first.rule_id if first else None)
        summary.event_domains.append(first.domain if first else None)
        for d in decisions:
            if d.clears:
                if d.dedup_key and by_key.pop(d.dedup_key, None) is not None:
                    summary.cleared += 1
                continue
            open_ = by_key.get(d.dedup_key) if d.dedup_key else None
            if open_ is not None and ev.occurred_at - open_[1] <= (d.dedup_window or timedelta(0)):
                open_[1] = ev.occurred_at
                summary.bumped += 1
                continue
            match = find_match(ev, d, places.near(d.domain, ev), distance_m, window)
            if match is not None:
                summary.correlated += 1
                continue
            incident_id, next_id = next_id, next_id + 1
            summary.created += 1
            summary.incidents_by_domain[d.domain] += 1
            summary.incidents_by_rule[d.rule_id] += 1
            if d.dedup_key:
                by_key[d.dedup_key] = [incident_id, ev.occurred_at]
            if (ev.lat is not None and ev.lon is not None) or ev.area_code:
                places.add(Candidate(incident_id, d.domain, ev.lat, ev.lon, ev.occurred_at, (ev.source,), ev.area_code))
    summary.elapsed_s = time.perf_counter() - started
    return summary


class _Places:
    """Would-be incidents by (domain, map cell) and (domain, area), kept only while inside the window."""

    def __init__(self, window: timedelta):
        self.window = window
        self.pools: dict[tuple, list[Candidate]] = {}

    @staticmethod
    def _keys(domain: str, lat: float | None, lon: float | None, area: str | None, around: bool) -> list[tuple]:
        keys: list[tuple] = [(domain, area)] if area else []
        if lat is not None and lon is not None:
            row, col = cell_of(lat, lon)
            steps = (-1, 0, 1) if around else (0,)
            keys += [(domain, (row + dr, col + dc)) for dr in steps for dc in steps]
        return keys

    def near(self, domain: str, ev: Event) -> list[Candidate]:
        out: list[Candidate] = []
        cutoff = ev.occurred_at - self.window
        for key in self._keys(domain, ev.lat, ev.lon, ev.area_code, around=True):
            pool = self.pools.get(key)
            if pool:
                if pool[0].last_report_at < cutoff:  # appended in time order: drop the expired head
                    pool[:] = [c for c in pool if c.last_report_at >= cutoff]
                out.extend(pool)
        return out

    def add(self, c: Candidate) -> None:
        for key in self._keys(c.domain, c.lat, c.lon, c.area_code, around=False):
            self.pools.setdefault(key, []).append(c)


def compare(df_events: pd.DataFrame, summary: BacktestSummary, actual_by_domain: dict[str, int],
            top: int = 10) -> dict[str, Any]:
    """Would-be vs actual incidents per domain, and the events whose rule changed (old → new)."""
    domains = sorted(set(summary.incidents_by_domain) | set(actual_by_domain))
    per_domain = [
        {"domain": d, "would_create": summary.incidents_by_domain.get(d, 0), "actual": actual_by_domain.get(d, 0),
         "difference": summary.incidents_by_domain.get(d, 0) - actual_by_domain.get(d, 0)}
        for d in domains
    ]
    ordered = df_events.sort_values("occurred_at", kind="stable") if len(df_events) else df_events
    old_rules = _column(ordered, "rule_id")
    changes = Counter(
        (old, new) for old, new in zip(old_rules, summary.event_rule_ids, strict=True) if old != new
    )
    return {
        "per_domain": per_domain,
        "changed_events": sum(changes.values()),
        "top_changes": [{"old_rule": o, "new_rule": n, "events": c} for (o, n), c in changes.most_common(top)],
    }
