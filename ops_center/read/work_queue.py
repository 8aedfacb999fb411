"""What each side of the work order has to do next: a unit's queue, a grid worker's tasks, 回访 and 督办 lists.

One parameterised query per list; `scope` is an area prefix (None: everywhere, as queries.read_scope gives
an admin). Times come back aware (UTC). A unit's queue is ordered by the deadline that matters now: the
签收 deadline while the order waits to be accepted, the case's resolve deadline once it is accepted.
Returned orders (退单) stay in the queue until the center decides; hung cases (挂账) are listed with their
kind and never counted overdue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import pandas as pd

from ops_center.core.sla import WorkCalendar
from ops_center.store.store import to_db

_UNIT_QUEUE_SQL = """
WITH r AS (
    SELECT assignment_id, count(*) AS reminders, max(ts) AS last_reminded_at,
           arg_max(kind, ts) AS last_reminder_kind
    FROM reminders
    WHERE assignment_id IN (SELECT assignment_id FROM assignments
                            WHERE unit = $unit AND status IN ('pending', 'accepted', 'returned'))
    GROUP BY assignment_id)
SELECT a.assignment_id, a.incident_id, a.role, a.status AS assignment_status, a.round, a.accept_due_at,
       a.accepted_at, a.returned_at, a.return_reason, a.decision,
       i.version, i.status, i.title, i.domain, i.category, i.severity, i.area_code, i.resolve_due_at,
       i.hung_kind, i.supervised, i.created_at,
       CASE WHEN a.status = 'pending' THEN a.accept_due_at ELSE i.resolve_due_at END AS deadline,
       (a.status = 'pending' AND a.accept_due_at < $now) AS accept_late,
       (i.hung_kind IS NULL AND i.resolve_due_at < $now) AS overdue,
       coalesce(r.reminders, 0) AS reminders, r.last_reminded_at, r.last_reminder_kind,
       EXISTS (SELECT 1 FROM extensions e WHERE e.assignment_id = a.assignment_id AND e.status = 'pending')
           AS extension_pending
FROM assignments a JOIN incidents i USING (incident_id)
LEFT JOIN r USING (assignment_id)
WHERE a.unit = $unit AND a.status IN ('pending', 'accepted', 'returned')
  AND ($scope IS NULL OR starts_with(i.area_code, $scope))
ORDER BY (i.hung_kind IS NOT NULL), deadline NULLS LAST, a.assignment_id
"""

_VERIFY_SQL = """
SELECT i.incident_id, i.version, i.title, i.domain, i.category, i.severity, i.area_code, i.lat, i.lon,
       i.resolved_at, i.verify_failures,
       (SELECT arg_max(f.note, f.ts) FROM feedback f WHERE f.incident_id = i.incident_id AND f.role = 'lead')
           AS feedback_note,
       (SELECT arg_max(f.photos, f.ts) FROM feedback f WHERE f.incident_id = i.incident_id AND f.role = 'lead')
           AS feedback_photos
FROM incidents i
WHERE i.status = 'resolved' AND ($scope IS NULL OR starts_with(i.area_code, $scope))
ORDER BY i.resolved_at, i.incident_id
"""

# The grid worker's own reports: grid events carry the reporter's name in fields.reporter, and a report
# filed from the phone carries the username there (the same pipeline as an MQTT grid report).
_OWN_REPORTS_SQL = """
SELECT e.event_id, e.natural_key, e.occurred_at, e.text, e.category AS reported_category, e.area_code,
       i.incident_id, i.status, i.title, i.domain, i.updated_at
FROM events e LEFT JOIN incidents i ON i.incident_id = e.incident_id
WHERE e.source = 'grid' AND json_extract_string(e.fields, '$.reporter') = $username
  AND ($scope IS NULL OR starts_with(e.area_code, $scope))
ORDER BY e.occurred_at DESC, e.event_id DESC
LIMIT $limit
"""

_CALLBACK_SQL = """
SELECT i.incident_id, i.version, i.title, i.domain, i.category, i.area_code, i.closed_at, i.redo_count,
       (SELECT arg_max(a.unit, a.assignment_id) FROM assignments a
         WHERE a.incident_id = i.incident_id AND a.role = 'lead' AND a.status <> 'cancelled') AS lead_unit
FROM incidents i
WHERE i.status = 'closed' AND (i.source = 'hotline' OR list_contains(i.sources, 'hotline'))
  AND i.closed_at < $cutoff AND i.closed_at >= $since
  AND NOT EXISTS (SELECT 1 FROM callbacks c WHERE c.incident_id = i.incident_id
                  AND c.round = coalesce(i.redo_count, 0) + 1)
  AND ($scope IS NULL OR starts_with(i.area_code, $scope))
ORDER BY i.closed_at, i.incident_id
"""

# 督办台账: a record is `met` when its case was resolved (or closed) by the 督办 deadline, `overdue` when it was
# resolved later or is still unresolved past the deadline (judged at 销号 for a record closed by hand), `closed`
# when a leader closed it (销号) before either, else `open`. The responsible unit is the case's current lead unit.
_SUPERVISION_SQL = """
WITH s AS (
    SELECT s.supervision_id, s.incident_id, s.issued_by, coalesce(u.name, s.issued_by) AS issued_by_name,
           s.issued_at, s.due_at, s.note, s.closed_at, i.version, i.status, i.title, i.domain, i.severity, i.area_code,
           CASE WHEN i.status IN ('resolved', 'closed') THEN coalesce(i.resolved_at, i.closed_at) END AS done_at,
           (SELECT arg_max(a.unit, a.assignment_id) FROM assignments a
             WHERE a.incident_id = s.incident_id AND a.role = 'lead' AND a.status <> 'cancelled') AS lead_unit
    FROM supervisions s JOIN incidents i USING (incident_id) LEFT JOIN users u ON u.username = s.issued_by
    WHERE ($scope IS NULL OR starts_with(i.area_code, $scope)) AND ($id IS NULL OR s.supervision_id = $id)
), judged AS (
    SELECT *, CASE WHEN done_at <= due_at THEN 'met'
                   WHEN done_at > due_at OR (done_at IS NULL AND due_at < coalesce(closed_at, $now)) THEN 'overdue'
                   WHEN closed_at IS NOT NULL THEN 'closed'
                   ELSE 'open' END AS state
    FROM s
)
SELECT *, state = 'overdue' AS overdue FROM judged
WHERE ($show = 'all' OR ($show = 'open' AND closed_at IS NULL) OR ($show = 'overdue' AND state = 'overdue'))
ORDER BY closed_at IS NOT NULL, due_at, supervision_id
"""
SUPERVISION_SHOWS = ("open", "overdue", "all")  # 在办 (not closed), 逾期, 全部

_ISSUED_SQL = """
SELECT s.supervision_id, s.incident_id, i.title, i.street_code, i.area_code, s.issued_by, s.issued_at, s.due_at,
       s.note, CASE WHEN s.closed_at <= $as_of THEN s.closed_at END AS closed_at,
       coalesce(s.closed_at <= $as_of AND s.closed_at > s.due_at, false)
           OR (NOT coalesce(s.closed_at <= $as_of, false) AND s.due_at < $as_of) AS late
FROM supervisions s JOIN incidents_all i USING (incident_id)
WHERE s.issued_at >= $start AND s.issued_at < $end AND ($area IS NULL OR starts_with(i.area_code, $area))
ORDER BY s.issued_at, s.supervision_id
"""

_TIMES = ("accept_due_at", "accepted_at", "returned_at", "resolve_due_at", "created_at", "deadline", "last_reminded_at",
          "resolved_at", "occurred_at", "updated_at", "closed_at", "issued_at", "due_at", "done_at")


def _aware(df: pd.DataFrame) -> pd.DataFrame:
    for col in _TIMES:
        if col in df.columns:
            df[col] = pd.to_datetime(df[col]).dt.tz_localize("UTC")
    return df


def unit_queue(store: Any, unit: str, scope: str | None, now: datetime) -> pd.DataFrame:
    """A unit's open work orders (待签收, 已签收, 已退单), most urgent deadline first, hung cases last."""
    return _aware(store.query_df(_UNIT_QUEUE_SQL, {"unit": unit, "scope": scope, "now": to_db(now)}))


@dataclass(frozen=True)
class GridTasks:
    """A grid worker's phone screen: cases of its grids waiting for 核查, and its own reports' progress."""

    verify: pd.DataFrame
    reports: pd.DataFrame


def grid_tasks(store: Any, username: str, scope: str | None, limit: int = 50) -> GridTasks:
    """核查 tasks in the worker's grids (oldest resolution first) and its latest reports with their cases."""
    verify = _aware(store.query_df(_VERIFY_SQL, {"scope": scope}))
    reports = _aware(store.query_df(_OWN_REPORTS_SQL, {"username": username, "scope": scope, "limit": limit}))
    return GridTasks(verify, reports)


def callback_cutoff(calendar: WorkCalendar, now: datetime, workdays: int) -> datetime:
    """Cases closed before this instant are due for 回访: `workdays` working days have begun since their closing day."""
    if workdays <= 0:
        return now
    local = now.astimezone(calendar.tz)
    day = local.date()
    first_hour = calendar.hours[0][0] if calendar.hours else time(0)
    if not (calendar.is_workday(day) and local.time() >= first_hour):
        day -= timedelta(days=1)  # today has not begun as a working day yet
    seen = 0
    while True:
        if calendar.is_workday(day):
            seen += 1
            if seen == workdays:
                return datetime.combine(day, time(0), calendar.tz)
        day -= timedelta(days=1)


def callback_queue(store: Any, cfg: Any, scope: str | None, now: datetime,
                   lookback: timedelta = timedelta(days=30)) -> pd.DataFrame:
    """Closed hotline cases due for 回访 (from the configured working day after closing), not yet called back
    in their current round, closed within `lookback`; oldest first."""
    calendar = WorkCalendar(cfg.calendar, cfg.site.timezone)
    cutoff = callback_cutoff(calendar, now, cfg.work_orders.callback_after_workdays)
    params = {"scope": scope, "cutoff": to_db(cutoff), "since": to_db(now - lookback)}
    return _aware(store.query_df(_CALLBACK_SQL, params))


def supervision_list(store: Any, scope: str | None, now: datetime, open_only: bool = True, *,
                     show: str | None = None, supervision_id: int | None = None) -> pd.DataFrame:
    """督办 records with their case, lead unit and state (open ones by due date first); `show` is one of
    SUPERVISION_SHOWS and wins over `open_only`; `supervision_id` picks one record (if in scope and shown)."""
    show = show or ("open" if open_only else "all")
    if show not in SUPERVISION_SHOWS:
        raise ValueError(f"unknown supervision filter {show!r}")
    params = {"scope": scope, "now": to_db(now), "show": show, "id": supervision_id}
    return _aware(store.query_df(_SUPERVISION_SQL, params))


def supervisions_issued(store: Any, start: datetime, end: datetime, area: str | None,
                        as_of: datetime | None = None) -> pd.DataFrame:
    """督办 records issued in [start, end) on cases in `area` (None: every stored case), judged as of `as_of` (default `end`): closed or not,
    late (closed after, or still open past, the 督办 deadline). The weekly report lists them."""
    params = {"start": to_db(start), "end": to_db(end), "area": area, "as_of": to_db(as_of or end)}
    return _aware(store.query_df(_ISSUED_SQL, params))
