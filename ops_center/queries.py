"""Grouped read queries for the wall and the console: one parameterised query per callback."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from ops_center.domains import DOMAIN_CODES
from ops_center.store import from_db, to_db

QUEUE_STATUSES = ("new", "acknowledged", "dispatched", "resolved")
WALL_LIST_LIMIT = 11  # rows that fit the list panel at 5.4vh each (assets/wall.css)
QUEUE_LIMIT = 500

WALL_MARKER_LIMIT = 2000
# Counts for the header, the tiles, the sparklines and the street shading: a few hundred groups at most,
# however many incidents are stored.
_WALL_AGG_SQL = """
WITH hot AS (
    -- open incidents, whatever their age; and the closed ones of the last 24 h. Two scans joined by
    -- UNION ALL: the second is pruned to recent row groups by created_at, which one OR-ed filter is not.
    SELECT domain, street_code, status, overdue, ack_overdue, ack_due_at, resolve_due_at, created_at
    FROM incidents
    WHERE status IN ('new', 'acknowledged', 'dispatched') AND ($scope IS NULL OR starts_with(area_code, $scope))
    UNION ALL
    SELECT domain, street_code, status, overdue, ack_overdue, ack_due_at, resolve_due_at, created_at
    FROM incidents
    WHERE created_at >= $since AND status NOT IN ('new', 'acknowledged', 'dispatched', 'merged')
      AND ($scope IS NULL OR starts_with(area_code, $scope))
)
SELECT domain, street_code,
       status IN ('new', 'acknowledged', 'dispatched') AS is_open,
       (status IN ('new', 'acknowledged', 'dispatched') AND (coalesce(overdue, false)
    OR coalesce(ack_overdue, false) OR (status = 'new' AND ack_due_at < $now) OR resolve_due_at < $now)) AS is_overdue,
       created_at >= $today AS is_today,
       CASE WHEN created_at >= $since THEN CAST(floor(epoch($now - created_at) / 3600) AS INTEGER) END AS hours_ago,
       count(*) AS n
FROM hot
GROUP BY ALL
"""
# The open incidents themselves, most urgent first, capped: map markers and the live list.
_WALL_ROWS_SQL = """
SELECT incident_id, status, domain, severity, title, area_code, street_code, lat, lon, created_at,
       ack_due_at, resolve_due_at, (status IN ('new', 'acknowledged', 'dispatched') AND (coalesce(overdue, false)
    OR coalesce(ack_overdue, false) OR (status = 'new' AND ack_due_at < $now) OR resolve_due_at < $now)) AS overdue_now,
       CASE WHEN status = 'new' THEN ack_due_at ELSE resolve_due_at END AS next_due
FROM incidents
WHERE status IN ('new', 'acknowledged', 'dispatched')
  AND ($area IS NULL OR starts_with(area_code, $area))
ORDER BY overdue_now DESC, severity = 'P1' DESC, next_due NULLS LAST, created_at DESC
LIMIT $limit
"""

_QUEUE_SQL = """
SELECT incident_id, version, status, domain, category, severity, title, area_code, street_code,
       level, department, source, report_count, created_at, ack_due_at, resolve_due_at,
       overdue, ack_overdue, supervised,
       CASE WHEN status = 'new' THEN ack_due_at ELSE resolve_due_at END AS next_due
FROM incidents
WHERE list_contains(?::VARCHAR[], status)
  AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], domain))
  AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], severity))
  AND (? IS NULL OR starts_with(area_code, ?))
  AND (? IS NULL OR starts_with(area_code, ?))
  AND (? IS NULL OR source = ? OR list_contains(sources, ?))
ORDER BY status = 'resolved', next_due NULLS LAST, severity, created_at
LIMIT ?
"""

_DETAIL_SQL = "SELECT * FROM incidents WHERE incident_id = ?"
_TIMELINE_SQL = """
SELECT ts, actor, action, from_status, to_status, note FROM incident_timeline
WHERE incident_id = ? ORDER BY ts, rowid
"""
_REPORTS_SQL = """
SELECT source, source_id, occurred_at, kind, text, address FROM events
WHERE incident_id = ? ORDER BY occurred_at DESC LIMIT 50
"""
_RELATED_SQL = """
SELECT incident_id, version, status, domain, severity, title, area_code, created_at, merged_into
FROM incidents
WHERE incident_id <> ?
  AND (merged_into = ? OR incident_id = ?
       OR (status IN ('new', 'acknowledged', 'dispatched') AND domain = ? AND street_code = ?
           AND created_at BETWEEN ? AND ?))
ORDER BY merged_into = ? DESC, created_at DESC
LIMIT 20
"""

_TIME_COLUMNS = ("created_at", "acknowledged_at", "ack_due_at", "resolve_due_at", "next_due", "ts", "occurred_at")


def _aware(df: pd.DataFrame) -> pd.DataFrame:
    """TIMESTAMP columns come back naive UTC; make them aware once, here."""
    for col in _TIME_COLUMNS:
        if col in df.columns:
            df[col] = pd.to_datetime(df[col]).dt.tz_localize("UTC")
    return df


def scope_prefix(cfg: Any, scope: str | None) -> str | None:
    """An area-code prefix for a user's scope; the whole city (or no scope) filters nothing."""
    if not scope or scope == cfg.site.city.code:
        return None
    return scope


# --- wall --------------------------------------------------------------------------------


def local_midnight(now: datetime, tz: str) -> datetime:
    local = now.astimezone(ZoneInfo(tz))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class WallData:
    """What the wall's one refresh reads: grouped counts and the most urgent open incidents."""

    counts: pd.DataFrame
    rows: pd.DataFrame


def wall_data(store: Any, now: datetime, tz: str, scope: str | None = None, focus: str | None = None,
              limit: int = WALL_MARKER_LIMIT) -> WallData:
    """Counts over the scope (open + last 24 h) and the open incidents of the focus (patrol street) or scope."""
    params = {"now": to_db(now), "today": to_db(local_midnight(now, tz)), "since": to_db(now - timedelta(hours=24)),
              "scope": scope}
    cur = store.cursor()
    try:
        counts = cur.execute(_WALL_AGG_SQL, params).df()
        rows = cur.execute(_WALL_ROWS_SQL, {"now": params["now"], "area": focus or scope, "limit": limit}).df()
    finally:
        cur.close()
    return WallData(counts, _aware(rows))


@dataclass(frozen=True)
class WallSummary:
    """Everything the wall shows, derived from WallData (pure, testable)."""

    totals: dict[str, int]
    domains: dict[str, dict[str, Any]]
    street_load: dict[str, int]
    markers: pd.DataFrame
    urgent: pd.DataFrame
    p1_open: tuple[int, ...] = field(default=())


def summarize_wall(data: WallData, limit: int = WALL_LIST_LIMIT) -> WallSummary:
    c = data.counts
    n = c["n"] if not c.empty else pd.Series([], dtype=int)

    def total(mask: Any) -> int:
        return int(n[mask].sum()) if not c.empty else 0

    totals = {"new_today": total(c["is_today"]) if not c.empty else 0,
              "open": total(c["is_open"]) if not c.empty else 0,
              "overdue": total(c["is_overdue"].fillna(False)) if not c.empty else 0}
    domains: dict[str, dict[str, Any]] = {}
    for code in DOMAIN_CODES:
        spark = [0] * 24
        if c.empty:
            domains[code] = {"open": 0, "overdue": 0, "today": 0, "spark": spark}
            continue
        mine = c[c["domain"] == code]
        for hours_ago, count in mine.dropna(subset=["hours_ago"]).groupby("hours_ago")["n"].sum().items():
            if 0 <= int(hours_ago) < 24:
                spark[23 - int(hours_ago)] += int(count)
        domains[code] = {
            "open": int(mine.loc[mine["is_open"], "n"].sum()),
            "overdue": int(mine.loc[mine["is_overdue"].fillna(False).astype(bool), "n"].sum()),
            "today": int(mine.loc[mine["is_today"], "n"].sum()),
            "spark": spark,
        }
    street_load: dict[str, int] = {}
    if not c.empty:
        load = c[c["is_open"]].groupby("street_code")["n"].sum()
        street_load = {str(k): int(v) for k, v in load.items()}
    rows = data.rows
    markers = rows[["incident_id", "domain", "severity", "title", "area_code", "lat", "lon", "status"]]
    urgent = rows.head(limit)
    p1 = tuple(int(i) for i in rows.loc[rows["severity"] == "P1", "incident_id"]) if not rows.empty else ()
    return WallSummary(totals, domains, street_load, markers, urgent, p1)


# --- console -----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilters:
    statuses: tuple[str, ...] = QUEUE_STATUSES
    domains: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    area: str | None = None
    source: str | None = None


def console_queue(store: Any, filters: QueueFilters, scope: str | None, limit: int = QUEUE_LIMIT) -> pd.DataFrame:
    """The officer's queue, most urgent SLA first, inside the officer's area scope."""
    statuses = list(filters.statuses) or list(QUEUE_STATUSES)
    domains, severities = list(filters.domains), list(filters.severities)
    params = [
        statuses, domains, domains, severities, severities,
        scope, scope, filters.area, filters.area,
        filters.source, filters.source, filters.source, limit,
    ]
    cur = store.cursor()
    try:
        df = cur.execute(_QUEUE_SQL, params).df()
    finally:
        cur.close()
    return _aware(df)


@dataclass(frozen=True)
class IncidentDetail:
    incident: dict[str, Any]
    timeline: pd.DataFrame
    reports: pd.DataFrame
    related: pd.DataFrame


def incident_detail(store: Any, incident_id: int) -> IncidentDetail | None:
    """One incident with its timeline, source reports and merged/related incidents (one cursor)."""
    cur = store.cursor()
    try:
        inc = cur.execute(_DETAIL_SQL, [incident_id]).df()
        if inc.empty:
            return None
        row = {k: (from_db(v) if k.endswith("_at") else v) for k, v in inc.iloc[0].to_dict().items()}
        timeline = cur.execute(_TIMELINE_SQL, [incident_id]).df()
        reports = cur.execute(_REPORTS_SQL, [incident_id]).df()
        created = row["created_at"]
        related = cur.execute(
            _RELATED_SQL,
            [incident_id, incident_id, row.get("merged_into"), row["domain"], row.get("street_code"),
             to_db(created - timedelta(hours=6)), to_db(created + timedelta(hours=6)), incident_id],
        ).df()
    finally:
        cur.close()
    return IncidentDetail(row, _aware(timeline), _aware(reports), _aware(related))
