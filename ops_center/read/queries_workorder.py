"""Work-order reads for the console: one incident's assignments to units, as the officer decides on them."""

from __future__ import annotations

import pandas as pd

from ops_center.core.ports import StoreReads

_ASSIGNMENTS_SQL = """
    SELECT assignment_id, unit, role, status, round, dispatched_by, dispatched_at, accept_due_at, accepted_at,
           accepted_late, returned_by, returned_at, return_reason, returns, decision, done_at
    FROM assignments WHERE incident_id = ? ORDER BY round, assignment_id
"""


def incident_assignments(store: StoreReads, incident_id: int) -> pd.DataFrame:
    """Every assignment of the incident, oldest first (cancelled ones too: the officer sees the 改派 trail)."""
    df = store.query_df(_ASSIGNMENTS_SQL, [incident_id])
    for col in ("dispatched_at", "accept_due_at", "accepted_at", "returned_at", "done_at"):
        df[col] = pd.to_datetime(df[col]).dt.tz_localize("UTC")
    return df


def returned(df: pd.DataFrame) -> dict | None:
    """The assignment waiting for the center's 改派/强派, if any."""
    rows = df[df["status"] == "returned"] if not df.empty else df
    return None if rows.empty else rows.iloc[0].to_dict()


_ITEM_SQL = """
SELECT a.assignment_id, a.incident_id, a.unit, a.role, a.status AS assignment_status, a.round, a.accept_due_at,
       a.decision, a.return_reason,
       i.version, i.status, i.title, i.severity, i.area_code, i.resolve_due_at, i.hung_kind, i.hung_at,
       EXISTS (SELECT 1 FROM extensions e WHERE e.assignment_id = a.assignment_id AND e.status = 'pending')
           AS pending_extension,
       (SELECT arg_min(e.text, e.occurred_at) FROM events e WHERE e.incident_id = a.incident_id) AS text,
       (SELECT flatten(list(f.photos)) FROM feedback f WHERE f.incident_id = a.incident_id) AS photos
FROM assignments a JOIN incidents i USING (incident_id)
WHERE a.assignment_id = $assignment AND ($unit IS NULL OR a.unit = $unit)
  AND ($scope IS NULL OR starts_with(i.area_code, $scope))
"""
_ITEM_TIMELINE_SQL = """
SELECT ts, actor, action, note FROM incident_timeline WHERE incident_id = ? ORDER BY ts, action
"""


def assignment_item(store: StoreReads, assignment_id: int, unit: str | None, scope: str | None) -> dict | None:
    """One of a unit's assignments with its case, first report text, feedback photos and timeline; None when it
    is not this unit's (or lies outside scope): the caller cannot tell which."""
    df = store.query_df(_ITEM_SQL, {"assignment": assignment_id, "unit": unit, "scope": scope})
    if df.empty:
        return None
    item = df.iloc[0].to_dict()
    for col in ("accept_due_at", "resolve_due_at", "hung_at"):
        value = item[col]
        item[col] = None if value is None or pd.isna(value) else pd.Timestamp(value).tz_localize("UTC").to_pydatetime()
    item["photos"] = [p for p in (item["photos"] if item["photos"] is not None else []) if p]
    timeline = store.query_df(_ITEM_TIMELINE_SQL, [int(item["incident_id"])])
    timeline["ts"] = pd.to_datetime(timeline["ts"]).dt.tz_localize("UTC")
    item["timeline"] = timeline
    return item
