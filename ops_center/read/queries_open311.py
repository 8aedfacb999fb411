"""Read model for our GeoReport v2 endpoint: requests filed there, with their incident's current status."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from ops_center.core.domains import OPEN_STATUSES
from ops_center.store.store import to_db

MAX_REQUESTS = 1000  # the spec's cap per call

# One row per request filed through the endpoint (its first event), with the incident it opened —
# or, when merged, the incident it was merged into — and that incident's latest note. Read through the `*_all`
# views: a request whose incident retention moved to Parquet (ops_center/store/retention.py) is still answered.
# Without an archive the views are the tables; with one, the archive's part of each view carries its bounds,
# so a recent window reads no file. A view has no rowid: of two notes in one second the later-written wins by
# `entry_id` (a sequence, numbered as the rows are inserted; the archive's files keep it).
REQUESTS_SQL = """
SELECT e.natural_key AS service_request_id, e.fields, e.text, e.address, e.lat, e.lon,
       e.occurred_at AS requested_at,
       coalesce(m.status, i.status) AS status, coalesce(m.updated_at, i.updated_at) AS updated_at,
       coalesce(m.resolve_due_at, i.resolve_due_at) AS expected_at,
       coalesce(m.department, i.department) AS department,
       (SELECT t.note FROM incident_timeline_all t WHERE t.incident_id = coalesce(m.incident_id, i.incident_id)
          AND t.note IS NOT NULL AND t.action <> 'created' ORDER BY t.ts DESC, t.entry_id DESC LIMIT 1) AS last_note
FROM events_all e
LEFT JOIN incidents_all i ON i.incident_id = e.incident_id
LEFT JOIN incidents_all m ON m.incident_id = i.merged_into
WHERE e.source_id = ? AND e.event IS NULL AND e.occurred_at >= ? AND e.occurred_at <= ?
  AND (? OR e.natural_key IN (SELECT unnest(?::VARCHAR[])))
  AND (? OR (e.fields->>'service_code') IN (SELECT unnest(?::VARCHAR[])))
  AND (? OR coalesce(m.status, i.status) IN (SELECT unnest(?::VARCHAR[])))
ORDER BY e.occurred_at DESC
LIMIT ?
"""


def open311_status(status: str | None) -> str:
    """Our lifecycle → the spec's two statuses: anything still being worked on is `open`."""
    return "open" if status is None or status in OPEN_STATUSES else "closed"


def find_requests(store, source_id: str, start: datetime, end: datetime, *, ids: list[str] | None = None,
                  codes: list[str] | None = None, statuses: list[str] | None = None,
                  limit: int = MAX_REQUESTS) -> pd.DataFrame:
    """Requests filed through the endpoint, newest first; `statuses` are the spec's open/closed."""
    ours: list[str] | None = None
    if statuses:
        ours = []
        if "open" in statuses:
            ours += list(OPEN_STATUSES)
        if "closed" in statuses:
            ours += ["resolved", "closed", "false_alarm", "merged"]
    return store.query_df(REQUESTS_SQL, [
        source_id, to_db(start), to_db(end),
        ids is None, ids or [], codes is None, codes or [], ours is None, ours or [],
        int(min(limit, MAX_REQUESTS)),
    ])
