"""Grouped read queries for the wall and the console: one parameterised query per callback."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ops_center.core.domains import DOMAIN_CODES
from ops_center.store.store import from_db, to_db

QUEUE_STATUSES = ("new", "acknowledged", "dispatched", "resolved")
WALL_LIST_LIMIT = 10  # rows that fit the list panel at 5.4vh each (assets/wall.css, below the P1 strip)

WALL_MARKER_LIMIT = 2000
_HOUR_US = 3_600_000_000
# The wall reads the in-memory hot set (ops_center/read/hot_incidents.py), never the 10 M stored incidents, in
# numpy: under ingest each DuckDB call waits for the GIL once per task (and so does each numpy pass over
# ~40 k rows: the snapshot carries what does not depend on `now`). wall_counts is, row for row, the SQL
#   SELECT domain, street_code, status IN open AS is_open, <overdue: hot_incidents._derived> AS is_overdue,
#          created_at >= $today AS is_today,
#          CASE WHEN created_at >= $since THEN floor(epoch($now - created_at) / 3600) END AS hours_ago, count(*) AS n
#   FROM incidents WHERE (status IN open OR (created_at >= $since AND status NOT IN (open, 'merged')))
#        AND starts_with(area_code, $focus_or_scope) GROUP BY ALL
# and wall_rows the open incidents of the area ORDER BY severity = 'P1' DESC, is_overdue DESC, next_due NULLS
# LAST, created_at DESC, incident_id DESC LIMIT $limit (tests/test_hot_incidents.py runs both SQL as oracle):
# a P1 is never pushed off the list by a pile of late P4s.

_DETAIL_SQL = "SELECT * FROM incidents WHERE incident_id = ? AND (? IS NULL OR starts_with(area_code, ?))"
_TIMELINE_SQL = """
SELECT ts, actor, action, from_status, to_status, note FROM incident_timeline
WHERE incident_id = ? ORDER BY ts, rowid
"""
_REPORTS_SQL = """
SELECT source, source_id, occurred_at, kind, text, address FROM events
WHERE incident_id = ? ORDER BY occurred_at DESC LIMIT 50
"""
# An incident the retention job archived (ops_center/store/retention.py) is read from the *_all views, only once
# the table has no such id: the console's reads of live incidents never reach the archive's files.
_ARCHIVED_DETAIL_SQL = _DETAIL_SQL.replace("FROM incidents", "FROM incidents_all")
_ARCHIVED_TIMELINE_SQL = """
SELECT ts, actor, action, from_status, to_status, note FROM incident_timeline_all
WHERE incident_id = ? ORDER BY ts
"""
_ARCHIVED_REPORTS_SQL = _REPORTS_SQL.replace("FROM events", "FROM events_all")
# A city's commands on the incident the district has not applied: pending (resent until answered) or refused.
_COMMANDS_SQL = """
SELECT command_id, action, actor, issued_at AS ts, state, attempts, reason FROM fed_commands
WHERE incident_id = ? AND state IN ('pending', 'refused') ORDER BY issued_at DESC, command_id
"""
_RELATED_SQL = """
SELECT incident_id, version, status, domain, severity, title, area_code, created_at, merged_into
FROM incidents
WHERE incident_id <> ?
  AND (merged_into = ? OR incident_id = ?
       OR (status IN ('new', 'acknowledged', 'dispatched') AND domain = ? AND street_code = ?
           AND created_at BETWEEN ? AND ?))
  AND (? IS NULL OR starts_with(area_code, ?))
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


def read_scope(cfg: Any, user: Any) -> str | None:
    """The area prefix a user may read: reads are scoped exactly as IncidentService scopes actions (admin and a
    city-wide scope see everything). Anyone without a user reads nothing: the prefix matches no area code."""
    if user is None:
        return NO_AREA
    if user.role == "admin":
        return None
    return scope_prefix(cfg, user.scope)


def in_read_scope(area_code: str | None, prefix: str | None) -> bool:
    return prefix is None or (area_code is not None and str(area_code).startswith(prefix))


NO_AREA = "\x00"  # a prefix no area code starts with


# --- wall --------------------------------------------------------------------------------


def local_midnight(now: datetime, tz: str) -> datetime:
    local = now.astimezone(ZoneInfo(tz))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class WallData:
    """What the wall's one refresh reads: grouped counts and the most urgent open incidents."""

    counts: pd.DataFrame
    rows: pd.DataFrame
    version: int = 0  # the hot-set snapshot they come from


def wall_data(hot: Any, now: datetime, tz: str, scope: str | None = None, focus: str | None = None,
              limit: int = WALL_MARKER_LIMIT) -> WallData:
    """Counts (open + last 24 h) and open incidents of the focus (patrol street) or else the scope."""
    return wall_frames(hot.columns(now), now, tz, scope, focus, limit)


def wall_frames(cols: Any, now: datetime, tz: str, scope: str | None = None, focus: str | None = None,
                limit: int = WALL_MARKER_LIMIT) -> WallData:
    """wall_data over one hot-set snapshot."""
    late = cols["late_at"] < _us(now)  # the one comparison with `now` both parts share
    # Patrol narrows everything the wall shows (cards, tiles, list, map) to one street, not just half of it.
    return WallData(wall_counts(cols, late, now, tz, focus or scope), wall_rows(cols, late, focus or scope, limit),
                    cols.version)


def wall_counts(cols: Any, late: np.ndarray, now: datetime, tz: str, scope: str | None) -> pd.DataFrame:
    """The grouped counts behind the header, tiles, sparklines and street shading (the GROUP BY above)."""
    recent = cols["created"] >= _us(now - timedelta(hours=24))
    counted = cols["open"] | (cols["closed"] & recent)
    if scope is not None:
        counted &= cols.prefixed("area_code", scope)
    rows = np.flatnonzero(counted)
    # Only numbers over the counted rows from here: every numpy pass over the hot set may wait for the GIL.
    recent = recent[rows]
    hours = np.where(recent, (_us(now) - cols["created"][rows]) // _HOUR_US, 0)
    low = int(hours.min()) if len(rows) else 0
    span = (int(hours.max()) if len(rows) else 0) - low + 1
    overdue = np.where(late[rows], 1, np.where(cols["late_unknown"][rows], 2, 0))
    today = cols["created"][rows] >= _us(local_midnight(now, tz))
    key = (((cols["group"][rows] * 3 + overdue) * 2 + today) * 2 + recent) * span + (hours - low)
    key, n = np.unique(key, return_counts=True)
    key, hours = np.divmod(key, span)
    key, recent = np.divmod(key, 2)
    key, today = np.divmod(key, 2)
    key, overdue = np.divmod(key, 3)
    streets = len(cols.vocab["street_code"]) + 1
    key, is_open = np.divmod(key, 2)
    domain, street = np.divmod(key, streets)
    return pd.DataFrame({
        "domain": _text(cols.decode("domain", domain)), "street_code": _text(cols.decode("street_code", street - 1)),
        "is_open": is_open.astype(bool), "is_overdue": pd.arrays.BooleanArray(overdue == 1, overdue == 2),
        "is_today": today.astype(bool),
        "hours_ago": pd.arrays.IntegerArray((hours + low).astype(np.int32), recent == 0),
        "n": n.astype(np.int64),
    })


def wall_rows(cols: Any, late: np.ndarray, area: str | None, limit: int) -> pd.DataFrame:
    """Open incidents of `area`, most urgent first: P1, then overdue (NULL last), then the snapshot's static order."""
    order = cols.urgent
    if area is not None:
        order = order[cols.prefixed("area_code", area)[order]]
    unknown = cols["late_unknown"][order]
    not_p1 = ~cols.among("severity", ("P1",))[order]
    rank = not_p1 * 3 + np.where(late[order], 0, np.where(unknown, 2, 1))
    top = order[np.argsort(rank, kind="stable")[:limit]]
    frame: dict[str, Any] = {"incident_id": cols["incident_id"][top]}
    for name in ("status", "domain", "severity", "title", "area_code", "street_code"):
        frame[name] = _text(cols[name][top] if name == "title" else cols.decode(name, cols[name][top]))
    frame |= {"lat": cols["lat"][top], "lon": cols["lon"][top]}
    frame |= {name: _utc(cols[name][top]) for name in ("created_at", "ack_due_at", "resolve_due_at")}
    frame |= {"overdue_now": pd.arrays.BooleanArray(late[top], ~late[top] & cols["late_unknown"][top]),
              "next_due": _utc(cols["due"][top])}
    return pd.DataFrame(frame)


def _us(value: datetime) -> int:
    """Microseconds since the epoch of the store's naive UTC, as the hot set's int64 time columns hold."""
    return int(np.datetime64(to_db(value), "us").astype(np.int64))


def _text(values: np.ndarray) -> pd.Series:
    """Strings kept as Python objects: an Arrow-backed str column costs a conversion each way per redraw."""
    return pd.Series(values, dtype=object)


def _utc(values: np.ndarray) -> pd.Series:
    return pd.Series(values.astype("datetime64[us]")).dt.tz_localize("UTC")


@dataclass(frozen=True)
class WallSummary:
    """Everything the wall shows, derived from WallData (pure, testable)."""

    totals: dict[str, int]
    domains: dict[str, dict[str, Any]]
    street_load: dict[str, int]
    markers: pd.DataFrame
    urgent: pd.DataFrame
    p1_open: tuple[int, ...] = field(default=())
    p1: pd.DataFrame | None = None  # every open P1 of the area (the alarm strip), however many are overdue


def summarize_wall(data: WallData, limit: int = WALL_LIST_LIMIT) -> WallSummary:
    """Totals, per-domain tiles and street load from the grouped counts: a few bincounts, no per-domain pandas."""
    c = data.counts
    n = c["n"].to_numpy(dtype=np.int64)
    flags = {name: c[f"is_{name}"].fillna(False).to_numpy(dtype=bool) for name in ("open", "overdue", "today")}
    totals = {"new_today": int(n[flags["today"]].sum()), "open": int(n[flags["open"]].sum()),
              "overdue": int(n[flags["overdue"]].sum())}
    index = {code: i for i, code in enumerate(DOMAIN_CODES)}
    domain = np.array([index.get(v, -1) for v in c["domain"].tolist()], dtype=np.int64)
    hours = c["hours_ago"].fillna(-1).to_numpy(dtype=np.int64)
    mine, size = domain >= 0, len(DOMAIN_CODES)
    per = {name: np.bincount(domain[mine], weights=(n * flag)[mine], minlength=size) for name, flag in flags.items()}
    lit = mine & (hours >= 0) & (hours < 24)
    sparks = np.bincount(domain[lit] * 24 + 23 - hours[lit], weights=n[lit], minlength=size * 24).reshape(size, 24)
    domains = {code: {"open": int(per["open"][i]), "overdue": int(per["overdue"][i]), "today": int(per["today"][i]),
                      "spark": [int(v) for v in sparks[i]]} for i, code in enumerate(DOMAIN_CODES)}
    street_load: dict[str, int] = {}
    streets = c["street_code"].to_numpy(dtype=object)[flags["open"]].tolist()
    for street, count in zip(streets, n[flags["open"]].tolist(), strict=True):
        if isinstance(street, str):  # NULL (None or NaN) has no cell on the map
            street_load[street] = street_load.get(street, 0) + count
    rows = data.rows
    markers = rows[["incident_id", "domain", "severity", "title", "area_code", "lat", "lon", "status"]]
    p1 = rows["incident_id"].to_numpy()[rows["severity"].to_numpy(dtype=object) == "P1"]
    p1_rows = rows[rows["severity"].to_numpy(dtype=object) == "P1"]
    return WallSummary(totals, domains, street_load, markers, rows.head(limit), tuple(int(i) for i in p1), p1_rows)


# --- console -----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilters:
    statuses: tuple[str, ...] = QUEUE_STATUSES
    domains: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    area: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class IncidentDetail:
    incident: dict[str, Any]
    timeline: pd.DataFrame
    reports: pd.DataFrame
    related: pd.DataFrame
    commands: pd.DataFrame = field(default_factory=pd.DataFrame)  # a city's commands not applied (pending, refused)


def incident_detail(store: Any, incident_id: int, scope: str | None = None) -> IncidentDetail | None:
    """One incident with its timeline, source reports and merged/related incidents (one cursor); None when it
    does not exist or lies outside `scope` (read_scope: the caller cannot tell which, so ids reveal nothing)."""
    cur = store.cursor()
    try:
        inc = cur.execute(_DETAIL_SQL, [incident_id, scope, scope]).df()
        archived = inc.empty
        if archived:
            inc = cur.execute(_ARCHIVED_DETAIL_SQL, [incident_id, scope, scope]).df()
            if inc.empty:
                return None
        row = {k: (from_db(v) if k.endswith("_at") else v) for k, v in inc.iloc[0].to_dict().items()}
        timeline = cur.execute(_ARCHIVED_TIMELINE_SQL if archived else _TIMELINE_SQL, [incident_id]).df()
        reports = cur.execute(_ARCHIVED_REPORTS_SQL if archived else _REPORTS_SQL, [incident_id]).df()
        created = row["created_at"]
        related = cur.execute(
            _RELATED_SQL,
            [incident_id, incident_id, row.get("merged_into"), row["domain"], row.get("street_code"),
             to_db(created - timedelta(hours=6)), to_db(created + timedelta(hours=6)), scope, scope, incident_id],
        ).df()
        commands = cur.execute(_COMMANDS_SQL, [incident_id]).df()
    finally:
        cur.close()
    return IncidentDetail(row, _aware(timeline), _aware(reports), _aware(related), _aware(commands))


# --- console paging (issue 16): a real total, pages, and a sort the officer chooses -------------

CONSOLE_PAGE_SIZE = 100
# ORDER BY clauses by name: the officer picks a name, never SQL text.
CONSOLE_SORTS = {
    "due": "status = 'resolved', next_due NULLS LAST, severity, created_at, incident_id",
    "severity": "severity, status = 'resolved', next_due NULLS LAST, created_at, incident_id",
    "created": "created_at DESC, incident_id DESC",
    "area": "area_code, next_due NULLS LAST, incident_id",
}
_PAGE_WHERE = """
WHERE list_contains(?::VARCHAR[], status)
  AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], domain))
  AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], severity))
  AND (? IS NULL OR starts_with(area_code, ?))
  AND (? IS NULL OR starts_with(area_code, ?))
  AND (? IS NULL OR source = ? OR list_contains(sources, ?))
"""
_PAGE_SELECT = """
SELECT incident_id, version, status, domain, category, severity, title, area_code, street_code,
       level, department, source, report_count, created_at, ack_due_at, resolve_due_at,
       overdue, ack_overdue, supervised,
       CASE WHEN status = 'new' THEN ack_due_at ELSE resolve_due_at END AS next_due
FROM incidents
"""


def _page_params(filters: QueueFilters, scope: str | None) -> list:
    statuses = list(filters.statuses) or list(QUEUE_STATUSES)
    domains, severities = list(filters.domains), list(filters.severities)
    return [statuses, domains, domains, severities, severities, scope, scope, filters.area, filters.area,
            filters.source, filters.source, filters.source]


def console_page(store: Any, filters: QueueFilters, scope: str | None, *, sort: str = "due", page: int = 1,
                 page_size: int = CONSOLE_PAGE_SIZE) -> tuple[pd.DataFrame, int]:
    """One page of the officer's queue in the chosen order, and how many incidents match in all."""
    order = CONSOLE_SORTS.get(sort, CONSOLE_SORTS["due"])
    params = _page_params(filters, scope)
    offset = max(page - 1, 0) * page_size
    cur = store.cursor()
    try:
        total = int(cur.execute("SELECT count(*) FROM incidents" + _PAGE_WHERE,  # noqa: S608 - constant text
                                params).fetchall()[0][0])
        df = cur.execute(_PAGE_SELECT + _PAGE_WHERE + f"ORDER BY {order} LIMIT ? OFFSET ?",  # noqa: S608 - named order
                         [*params, page_size, offset]).df()
    finally:
        cur.close()
    return _aware(df), total


def console_rows_by_id(store: Any, incident_ids: list[int], scope: str | None) -> pd.DataFrame:
    """Queue rows of given incidents (inside the scope): the one just acted on stays in view after it leaves a filter."""
    cur = store.cursor()
    try:
        df = cur.execute(_PAGE_SELECT + "WHERE list_contains(?::BIGINT[], incident_id)"
                         " AND (? IS NULL OR starts_with(area_code, ?))", [incident_ids, scope, scope]).df()
    finally:
        cur.close()
    return _aware(df)


# --- drill-down leaf (issue 16): a grid shows its incidents, not a one-cell choropleth ------------

_AREA_INCIDENTS_SQL = """
SELECT incident_id, title, domain, severity, status, area_code, lat, lon, created_at
FROM incidents_all
WHERE starts_with(area_code, ?) AND created_at >= ? AND created_at < ? AND status <> 'merged'
  AND (? IS NULL OR domain = ?)
ORDER BY created_at DESC, incident_id DESC
LIMIT ?
"""


def area_incidents(store: Any, area: str, start: datetime, end: datetime, domain: str | None = None,
                   limit: int = 500) -> pd.DataFrame:
    """The incidents of one (small) area in a time range, newest first: what a grid's drill-down shows."""
    cur = store.cursor()
    try:
        df = cur.execute(_AREA_INCIDENTS_SQL, [area, to_db(start), to_db(end), domain, domain, limit]).df()
    finally:
        cur.close()
    return _aware(df)


# --- wall attention counts (issue 16): what is about to be late, and what leaders are pushing ------

SOON = timedelta(minutes=30)  # 即将超时: a deadline within this window (assets/ops.js turns countdowns amber at 10 min)


def wall_attention(cols: Any, now: datetime, area: str | None) -> dict[str, int]:
    """Open incidents of the area due within SOON (not yet late), under 督办, and escalated at least once."""
    mine = cols["open"] if area is None else cols["open"] & cols.prefixed("area_code", area)
    late_at = cols["late_at"][mine]
    soon = (late_at >= _us(now)) & (late_at < _us(now + SOON))
    return {"soon": int(np.count_nonzero(soon)), "supervised": int(np.count_nonzero(cols["supervised"][mine])),
            "escalated": int(np.count_nonzero(cols["escalations"][mine] > 0))}


# --- console extensions (issue 16) ------------------------------------------------------------------


def pending_extension(store: Any, incident_id: int) -> dict | None:
    """The incident's pending 延期 request (at most one), for the console to show and decide."""
    rows = store.query("SELECT extension_id, requested_by, requested_at, seconds, reason FROM extensions "
                       "WHERE incident_id = ? AND status = 'pending' ORDER BY extension_id DESC LIMIT 1", [incident_id])
    if not rows:
        return None
    ext_id, by, at, seconds, reason = rows[0]
    return {"extension_id": int(ext_id), "requested_by": by, "requested_at": from_db(at), "seconds": float(seconds),
            "reason": reason or ""}
