"""The SLA sweep: a pure function of (open incidents, now) deciding warnings, escalations and 超期/督办."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from ops_center.core.config import Config
from ops_center.core.domains import LEVEL_NAMES
from ops_center.core.lifecycle import AWAITING_ACK, SWEPT_STATUSES
from ops_center.core.sla import SlaPolicy
from ops_center.service.bus import IncidentEscalated, IncidentOverdue, IncidentWarned
from ops_center.store.store import from_db, to_db

log = logging.getLogger(__name__)

ACK, RESOLVE = "acknowledge", "resolve"


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """The slice of an incidents row the sweep needs."""

    incident_id: int
    version: int
    status: str
    domain: str
    severity: str
    category: str | None
    level: str
    created_at: datetime
    acknowledged_at: datetime | None
    ack_due_at: datetime | None
    resolve_due_at: datetime | None
    ack_warned: bool = False
    resolve_warned: bool = False
    ack_overdue: bool = False
    overdue: bool = False
    escalations: int = 0
    hung: bool = False  # 挂账: a long-term case the resolve clock leaves alone (no warning, no 超期)


@dataclass(frozen=True, slots=True)
class Action:
    """One thing the sweep wants done: warn | escalate | overdue, on the acknowledge or resolve clock."""

    kind: str
    clock: str
    incident_id: int
    version: int  # the version the sweep saw; a human acting first makes the action a no-op
    from_level: str
    to_level: str | None = None  # escalate / overdue: the level above, None at the top of the chain
    ack_due_at: datetime | None = None  # escalate on the acknowledge clock: the new level's deadline


def next_level(chain: Sequence[str], level: str) -> str | None:
    """The level above `level` in the escalation chain, or None at (or off) the top."""
    if level not in chain:
        return None
    i = list(chain).index(level)
    return chain[i + 1] if i + 1 < len(chain) else None


def sweep(incidents: Sequence[OpenIncident], now: datetime, cfg: Config, policy: SlaPolicy) -> list[Action]:
    """Decide, without touching anything, what the passing of time means for these open incidents."""
    chain = cfg.escalation.chain
    actions: list[Action] = []
    for inc in incidents:
        if inc.status not in SWEPT_STATUSES:
            continue
        rule = policy.rule_for(inc.domain, inc.severity, inc.category)
        level = inc.level
        key = (inc.incident_id, inc.version)
        ack_open = inc.status in AWAITING_ACK and inc.acknowledged_at is None and inc.ack_due_at is not None
        if ack_open and inc.ack_due_at is not None and now > inc.ack_due_at:  # (ack_open implies a due time)
            up = next_level(chain, level)
            if up is not None:
                due = policy.ack_due(inc.domain, inc.severity, inc.category, now)
                actions.append(Action("escalate", ACK, *key, from_level=level, to_level=up, ack_due_at=due))
                level = up
            elif not inc.ack_overdue:
                actions.append(Action("overdue", ACK, *key, from_level=level))
        elif (ack_open and inc.ack_due_at is not None and not inc.ack_warned
              and now >= policy.warn_instant(rule, ACK, inc.ack_due_at)):
            actions.append(Action("warn", ACK, *key, from_level=level))
        if inc.resolve_due_at is None or inc.overdue or inc.hung:
            continue
        if now > inc.resolve_due_at:
            actions.append(Action("overdue", RESOLVE, *key, from_level=level, to_level=next_level(chain, level)))
        elif not inc.resolve_warned and now >= policy.warn_instant(rule, RESOLVE, inc.resolve_due_at):
            actions.append(Action("warn", RESOLVE, *key, from_level=level))
    return actions


_COLUMNS = """i.incident_id, i.version, i.status, i.domain, i.severity, i.category, i.level, i.created_at,
       i.acknowledged_at, i.ack_due_at, i.resolve_due_at, i.ack_warned, i.resolve_warned, i.ack_overdue,
       i.overdue, i.escalations, i.hung_kind IS NOT NULL"""


def _placeholders(prefix: str, statuses: Sequence[str]) -> tuple[str, dict]:
    """`$p0, $p1, …` and their values: statuses from the lifecycle, as parameters, never literals."""
    return ", ".join(f"${prefix}{n}" for n in range(len(statuses))), {f"{prefix}{n}": s for n, s in enumerate(statuses)}


_SWEPT_IN, _SWEPT_PARAMS = _placeholders("swept", SWEPT_STATUSES)  # the statuses every SLA step applies in
_AWAITING_IN, _AWAITING_PARAMS = _placeholders("awaiting", AWAITING_ACK)  # where the acknowledge clock runs
_OPEN = f"i.status IN ({_SWEPT_IN})"
# What a sweep at $now can act on, exactly (see sweep()): the warning thresholds per SLA rule come
# from the `th` table, built per sweep from SlaPolicy.warn_horizon (category row, else the domain
# row, else the severity's strictest row, as in SlaPolicy.rule_for).
_DUE_WHERE = f"""
  (i.status IN ({_AWAITING_IN}) AND i.acknowledged_at IS NULL AND i.ack_due_at IS NOT NULL AND (
      (i.ack_due_at < $now AND NOT (i.level = $top AND coalesce(i.ack_overdue, false)))
      OR (i.ack_due_at >= $now AND NOT coalesce(i.ack_warned, false)
          AND i.ack_due_at <= coalesce(c.ack_t, d.ack_t, u.ack_t))))
  OR (i.resolve_due_at IS NOT NULL AND NOT coalesce(i.overdue, false) AND i.hung_kind IS NULL AND (
      i.resolve_due_at < $now
      OR (i.resolve_due_at >= $now AND NOT coalesce(i.resolve_warned, false)
          AND i.resolve_due_at <= coalesce(c.res_t, d.res_t, u.res_t))))
"""
_JOINS = """
LEFT JOIN th c ON c.category IS NOT NULL AND c.domain = i.domain AND c.severity = i.severity
                  AND c.category = i.category
LEFT JOIN th d ON d.category IS NULL AND d.domain = i.domain AND d.severity = i.severity
LEFT JOIN th u ON u.domain = '*' AND u.severity = i.severity
"""


def _due_query(now: datetime, policy: SlaPolicy) -> tuple[str, dict]:
    """The pre-selection query and its parameters: one row of warning horizons per SLA rule."""
    rows = [(r.domain, r.category, r) for r in policy.rules()]
    rows += [("*", None, r) for r in policy.strictest().values()]
    params: dict = {"now": to_db(now), "top": policy.cfg.escalation.chain[-1], **_SWEPT_PARAMS, **_AWAITING_PARAMS}
    values = []
    for n, (domain, category, rule) in enumerate(rows):
        values.append(f"(CAST($d{n} AS VARCHAR), CAST($s{n} AS VARCHAR), CAST($c{n} AS VARCHAR), "
                      f"CAST($a{n} AS TIMESTAMP), CAST($r{n} AS TIMESTAMP))")
        params.update({f"d{n}": domain, f"s{n}": rule.severity, f"c{n}": category,
                       f"a{n}": to_db(policy.warn_horizon(rule, ACK, now)),
                       f"r{n}": to_db(policy.warn_horizon(rule, RESOLVE, now))})
    # Placeholders are generated from the row count; every value is a named parameter.
    sql = (f"WITH th(domain, severity, category, ack_t, res_t) AS (VALUES {', '.join(values)}) "  # noqa: S608
           f"SELECT {_COLUMNS} FROM incidents i {_JOINS} WHERE {_OPEN} AND ({_DUE_WHERE})")
    return sql, params


def load_open(store, now: datetime | None = None, policy: SlaPolicy | None = None) -> list[OpenIncident]:
    """Open incidents in one query; with `now` and `policy` exactly those a sweep at `now` acts on."""
    if now is not None and policy is not None:
        sql, params = _due_query(now, policy)
    else:
        sql, params = f"SELECT {_COLUMNS} FROM incidents i WHERE {_OPEN}", dict(_SWEPT_PARAMS)  # noqa: S608
    rows = store.query(sql, params)
    return [
        OpenIncident(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], r[6], from_db(r[7]), from_db(r[8]),
                     from_db(r[9]), from_db(r[10]), bool(r[11]), bool(r[12]), bool(r[13]), bool(r[14]), int(r[15] or 0),
                     bool(r[16]))
        for r in rows
    ]


_LEVEL_ZH = LEVEL_NAMES


def _changes(a: Action) -> dict:
    """Columns the action sets ('escalations' means one more)."""
    if a.kind == "warn":
        return {"ack_warned" if a.clock == ACK else "resolve_warned": True}
    if a.kind == "escalate":
        return {"level": a.to_level, "escalations": 1, "ack_due_at": to_db(a.ack_due_at),
                "ack_overdue": True, "ack_warned": False}
    if a.clock == ACK:
        return {"ack_overdue": True}
    sets: dict[str, object] = {"overdue": True, "supervised": True}
    if a.to_level:
        sets.update(level=a.to_level, escalations=1)
    return sets


_SETTABLE = ("level", "ack_due_at", "ack_warned", "resolve_warned", "ack_overdue", "overdue", "supervised")
_DTYPES = {"level": "string", "ack_due_at": "datetime64[us]", "ack_warned": "boolean", "resolve_warned": "boolean",
           "ack_overdue": "boolean", "overdue": "boolean", "supervised": "boolean"}


def _per_incident(actions: Sequence[Action]) -> pd.DataFrame:
    """One row per incident: the final value of each column its actions set (NA: unchanged), counts."""
    rows: dict[int, dict] = {}
    for a in actions:
        row = rows.setdefault(a.incident_id, {"incident_id": a.incident_id, "version": a.version, "bumps": 0,
                                              "escalations": 0, **dict.fromkeys(_SETTABLE)})
        row["bumps"] += 1
        for column, value in _changes(a).items():
            if column == "escalations":
                row["escalations"] += 1
            else:
                row[column] = value
    df = pd.DataFrame(list(rows.values()), columns=["incident_id", "version", "bumps", "escalations", *_SETTABLE])
    return df.astype({"incident_id": "int64", "version": "int64", "bumps": "int64", "escalations": "int64",
                      **_DTYPES})


# Placeholders only (_placeholders); every value is a parameter.
_APPLY_SQL = f"""
UPDATE incidents SET
    level = coalesce(u.level, incidents.level),
    ack_due_at = coalesce(u.ack_due_at, incidents.ack_due_at),
    ack_warned = coalesce(u.ack_warned, incidents.ack_warned),
    resolve_warned = coalesce(u.resolve_warned, incidents.resolve_warned),
    ack_overdue = coalesce(u.ack_overdue, incidents.ack_overdue),
    overdue = coalesce(u.overdue, incidents.overdue),
    supervised = coalesce(u.supervised, incidents.supervised),
    escalations = coalesce(incidents.escalations, 0) + u.escalations,
    version = incidents.version + u.bumps,
    updated_at = $now
FROM sweep_updates u
WHERE incidents.incident_id = u.incident_id AND incidents.version = u.version
  AND incidents.status IN ({_SWEPT_IN})
RETURNING incidents.incident_id
"""  # noqa: S608


def _timeline(a: Action) -> list[tuple[str, str, dict]]:
    """(action, note, data) rows the action leaves on the incident's timeline."""
    data = {"clock": a.clock, "from_level": a.from_level, "to_level": a.to_level}
    clock_zh = "受理" if a.clock == ACK else "办结"
    up = f"升级至{_LEVEL_ZH.get(a.to_level, a.to_level)}" if a.to_level else ""
    if a.kind == "warn":
        return [("warned", f"{clock_zh}时限即将到期", data)]
    if a.kind == "escalate":
        assert a.ack_due_at is not None, "sweep() gives every escalation its new deadline"
        data["ack_due_at"] = a.ack_due_at.isoformat()
        return [("escalated", f"超过受理时限，{up}", data)]
    if a.clock == ACK:
        return [("overdue", "超过受理时限（已在最高层级）", data)]
    rows = [("overdue", "超期，督办", data)]
    if a.to_level:
        rows.append(("escalated", f"超期{up}", data))
    return rows


def _events(a: Action, now: datetime) -> list:
    if a.kind == "warn":
        return [IncidentWarned(a.incident_id, now, kind=a.clock)]
    if a.kind == "escalate":
        assert a.to_level is not None, "sweep() escalates only to a level above"
        return [IncidentEscalated(a.incident_id, now, a.from_level, a.to_level, reason="ack_overdue")]
    events: list = [IncidentOverdue(a.incident_id, now, kind=a.clock)]
    if a.clock == RESOLVE and a.to_level:
        events.append(IncidentEscalated(a.incident_id, now, a.from_level, a.to_level, reason="resolve_overdue"))
    return events


def apply_sweep(store, bus, actions: Sequence[Action], now: datetime) -> list[Action]:
    """Apply actions in one transaction, set-wise (version-checked: a human who acted first wins), then publish."""
    if not actions:
        return []
    updates = _per_incident(actions)

    def write(conn) -> list[Action]:
        conn.execute("SELECT 1").fetchall()  # register() refuses while an earlier result is unread
        conn.register("sweep_updates", updates)
        try:
            hit = {r[0] for r in conn.execute(_APPLY_SQL, {"now": to_db(now), **_SWEPT_PARAMS}).fetchall()}
        finally:
            conn.unregister("sweep_updates")
        store.incidents_changed(conn, hit)
        applied = [a for a in actions if a.incident_id in hit]
        if len(hit) < len(updates):
            log.info("sweep: %d incident(s) changed since they were read; left for the next sweep",
                     len(updates) - len(hit))
        rows = [(a.incident_id, action, note, json.dumps(data, ensure_ascii=False))
                for a in applied for action, note, data in _timeline(a)]
        if rows:
            timeline = pd.DataFrame(rows, columns=["incident_id", "action", "note", "data"])
            conn.register("sweep_timeline", timeline)
            try:
                conn.execute("INSERT INTO incident_timeline (incident_id, ts, actor, action, from_status, to_status, "
                             "note, data) SELECT incident_id, ?, 'system', action, NULL, NULL, note, data "
                             "FROM sweep_timeline", [to_db(now)])
            finally:
                conn.unregister("sweep_timeline")
        return applied

    applied = store.write(write)
    bus.publish([event for a in applied for event in _events(a, now)])
    if applied:
        log.info("sweep applied %d action(s) to %d incident(s)", len(applied), len({a.incident_id for a in applied}))
    return applied
