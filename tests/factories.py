"""Insert consistent incidents straight into the store, so any part can be tested without the pipeline."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from ops_center.core.config import Config
from ops_center.core.domains import UNCLASSIFIED
from ops_center.core.sla import SlaPolicy
from ops_center.store.store import Store, to_db

_POLICIES: dict[int, tuple[Config, SlaPolicy]] = {}

# Every incidents column a factory row fills, in schema order.
COLUMNS = (
    "incident_id", "version", "status", "domain", "category", "severity", "title", "area_code",
    "street_code", "district_code", "level", "department", "lat", "lon", "source", "sources",
    "rule_id", "dedup_key", "report_count", "created_at", "updated_at", "acknowledged_at",
    "dispatched_at", "resolved_at", "closed_at", "last_report_at", "ack_due_at", "resolve_due_at",
    "ack_warned", "resolve_warned", "ack_overdue", "overdue", "supervised", "escalations",
    "paused_seconds", "merged_into", "reopen_count", "verify_failures", "satisfied", "notify_domains",
)
_TIMES = ("created_at", "updated_at", "acknowledged_at", "dispatched_at", "resolved_at", "closed_at",
          "last_report_at", "ack_due_at", "resolve_due_at")
_REACHED = {
    "new": (),
    "acknowledged": ("acknowledged_at",),
    "dispatched": ("acknowledged_at", "dispatched_at"),
    "resolved": ("acknowledged_at", "dispatched_at", "resolved_at"),
    "closed": ("acknowledged_at", "dispatched_at", "resolved_at", "closed_at"),
    "false_alarm": (),
    "merged": (),
}


def policy_for(cfg: Config) -> SlaPolicy:
    """One SlaPolicy per config object (building the calendar axis takes a few ms)."""
    hit = _POLICIES.get(id(cfg))
    if hit is None or hit[0] is not cfg:
        hit = (cfg, SlaPolicy(cfg))
        _POLICIES[id(cfg)] = hit
    return hit[1]


def default_grid(cfg: Config) -> str:
    """The first configured grid (15-digit code), else the deepest configured area."""
    grids = [a.code for a in cfg.areas.items if len(a.code) == 15]
    return grids[0] if grids else max((a.code for a in cfg.areas.items), key=len)


def incident_row(
    cfg: Config,
    *,
    now: datetime,
    domain: str = "fire_safety",
    severity: str = "P2",
    status: str = "new",
    area_code: str | None = None,
    category: str | None = None,
    created_at: datetime | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A full incidents row (aware datetimes) with SLA deadlines from ops_center.core.sla; ids not yet set."""
    policy = policy_for(cfg)
    created = created_at or now
    area = area_code or default_grid(cfg)
    dom = cfg.domain_by_code.get(domain)
    row: dict[str, Any] = {
        "incident_id": None, "version": 1, "status": status, "domain": domain, "category": category,
        "severity": severity, "title": f"测试事件 {domain} {severity}", "area_code": area,
        "street_code": area[:9] if len(area) >= 9 else None, "district_code": area[:6],
        "level": dom.level if dom else "community", "department": dom.department if dom else None,
        "lat": None, "lon": None, "source": "grid", "sources": ["grid"], "rule_id": "test",
        "dedup_key": None, "report_count": 1, "created_at": created, "updated_at": created,
        "acknowledged_at": None, "dispatched_at": None, "resolved_at": None, "closed_at": None,
        "last_report_at": created,
        "ack_due_at": policy.ack_due(domain, severity, category, created),
        "resolve_due_at": policy.resolve_due(domain, severity, category, created),
        "ack_warned": False, "resolve_warned": False, "ack_overdue": False, "overdue": False,
        "supervised": False, "escalations": 0, "paused_seconds": 0.0, "merged_into": None,
        "reopen_count": 0, "verify_failures": 0, "satisfied": None, "notify_domains": [],
    }
    for column in _REACHED[status]:
        row[column] = now  # the incident reached its status by `now` unless the caller says when
    if status != "new":
        row["updated_at"] = now
    unknown = set(overrides) - set(COLUMNS)
    if unknown:
        raise TypeError(f"unknown incidents columns: {sorted(unknown)}")
    row.update(overrides)
    if domain == UNCLASSIFIED:
        row["department"] = overrides.get("department")
    return row


def insert_incidents(store: Store, rows: Iterable[Mapping[str, Any]]) -> list[int]:
    """Insert rows (from incident_row) with a 'created' timeline entry each, in one transaction."""
    rows = [dict(r) for r in rows]

    def write(conn):
        first = store.allocate_ids(conn, "incidents", len(rows))
        for offset, row in enumerate(rows):
            if row.get("incident_id") is None:
                row["incident_id"] = first + offset
        factory_rows = pd.DataFrame([{c: to_db(r[c]) if c in _TIMES else r[c] for c in COLUMNS} for r in rows])  # noqa: F841
        # A replacement scan of the local DataFrame (conn.register refuses while a result is pending).
        conn.execute(f"INSERT INTO incidents ({', '.join(COLUMNS)}) SELECT * FROM factory_rows")
        conn.executemany(
            "INSERT INTO incident_timeline (incident_id, ts, actor, action, from_status, to_status, note, data)"
            " VALUES (?, ?, 'system', 'created', NULL, 'new', NULL, ?)",
            [[r["incident_id"], to_db(r["created_at"]), json.dumps({"rule_id": r["rule_id"]})] for r in rows],
        )
        return [r["incident_id"] for r in rows]

    return store.write(write)


def make_incident(store: Store, cfg: Config, *, now: datetime, **fields: Any) -> int:
    """Insert one consistent incident (see incident_row for the knobs) and return its id."""
    return insert_incidents(store, [incident_row(cfg, now=now, **fields)])[0]


def make_incidents(store: Store, cfg: Config, specs: Iterable[Mapping[str, Any]], *, now: datetime) -> list[int]:
    """Insert several incidents in one transaction; each spec holds incident_row keyword arguments."""
    return insert_incidents(store, [incident_row(cfg, now=now, **spec) for spec in specs])


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


class FixedClock:
    """A clock tests move by hand: `clock()` returns `clock.now`; `advance(minutes=5)` moves it."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now


def grid_in(cfg: Config, prefix: str) -> str:
    """A configured grid (15 digits) inside the area `prefix`."""
    return next(a.code for a in cfg.areas.items if len(a.code) == 15 and a.code.startswith(prefix))


def grid_outside(cfg: Config, prefix: str) -> str:
    """A configured grid outside the area `prefix`."""
    return next(a.code for a in cfg.areas.items if len(a.code) == 15 and not a.code.startswith(prefix))
