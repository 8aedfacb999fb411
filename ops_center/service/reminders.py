"""催办 by the clock: the units still working a case are reminded once when its deadline nears and once when it passes.

Runs right after the SLA sweep, set-based like it: the sweep's `resolve_warned` flag (set at `sla.warn_at`)
means "before", a resolve deadline in the past means "overdue". Each (assignment, kind, deadline) is
reminded once — an approved 延期 moves the deadline, so the new one is reminded again. Hung cases (挂账)
and cases no unit is working (no pending or accepted assignment) get none. Every reminder is a row in
`reminders`, a `reminded` timeline entry (actor `system`), and a `UnitReminded` bus event after the commit,
which the outbound publisher sends to `<prefix>/out/incident/reminded` for SMS / 企业微信 gateways.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

import pandas as pd

from ops_center.core.lifecycle import STEP_BY_ACTION
from ops_center.service.bus import UnitReminded
from ops_center.store.store import append, from_db, to_db

log = logging.getLogger(__name__)

_STATUSES = tuple(STEP_BY_ACTION["remind"].moves)  # where a unit can still be reminded (dispatched)
_IN = ", ".join(f"$s{n}" for n in range(len(_STATUSES)))
# Placeholders only; every value is a named parameter.
_DUE_SQL = f"""
SELECT a.assignment_id, a.incident_id, a.unit, k.kind, i.resolve_due_at
FROM assignments a JOIN incidents i USING (incident_id)
CROSS JOIN (VALUES ('before'), ('overdue')) k(kind)
WHERE a.status IN ('pending', 'accepted') AND i.status IN ({_IN}) AND i.hung_kind IS NULL
  AND i.resolve_due_at IS NOT NULL
  AND ((k.kind = 'before' AND coalesce(i.resolve_warned, false))
       OR (k.kind = 'overdue' AND i.resolve_due_at < $now))
  AND NOT EXISTS (SELECT 1 FROM reminders r WHERE r.assignment_id = a.assignment_id AND r.kind = k.kind
                  AND r.due_at = i.resolve_due_at)
ORDER BY a.incident_id, a.assignment_id, k.kind
"""  # noqa: S608
_NOTES = {"before": "办结时限即将到期，请抓紧办理", "overdue": "已超过办结时限，请立即办理"}


def issue_reminders(store, bus, now: datetime) -> list[UnitReminded]:
    """Store and publish every reminder due at `now`; returns the published events."""
    params = {"now": to_db(now), **{f"s{n}": s for n, s in enumerate(_STATUSES)}}

    def write(conn) -> list[UnitReminded]:
        due = conn.execute(_DUE_SQL, params).fetchall()
        if not due:
            return []
        first = store.allocate_ids(conn, "reminders", len(due))
        rows = pd.DataFrame(due, columns=["assignment_id", "incident_id", "unit", "kind", "due_at"])
        rows.insert(0, "reminder_id", range(first, first + len(rows)))
        rows["ts"] = to_db(now)
        rows["issued_by"] = "system"
        rows["note"] = rows["kind"].map(_NOTES)
        append(conn, "reminders", rows)
        timeline = pd.DataFrame({
            "incident_id": rows["incident_id"], "ts": to_db(now), "actor": "system", "action": "reminded",
            "from_status": None, "to_status": None, "note": rows["note"],
            "data": [json.dumps({"unit": u, "kind": k, "assignment_id": int(a)}, ensure_ascii=False)
                     for u, k, a in zip(rows["unit"], rows["kind"], rows["assignment_id"], strict=True)]})
        append(conn, "incident_timeline", timeline)
        return [UnitReminded(int(i), now, u, k, int(a), (from_db(d) or now).isoformat())
                for a, i, u, k, d in due]

    events = store.write(write)
    bus.publish(events)
    if events:
        log.info("催办: %d reminder(s) to %d unit(s)", len(events), len({e.unit for e in events}))
    return events
