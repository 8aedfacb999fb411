"""Every human action on an incident, checked here (role, area scope, status graph, version) because the UI is not trusted.

Design decisions (SPEC §6, §8):
- Roles: viewer may do nothing; officer may do every incident action inside their area scope except
  deciding extensions (nobody approves their own request); leader may add notes and decide
  extensions inside their scope (leaders supervise, they do not work the queue); admin may do
  everything everywhere. A scope equal to the city code covers every area.
- State-changing actions check the caller's `version` and bump it: a stale version is a Conflict
  and nothing changes. Notes and extension requests change no incident column, so they take the
  version for a uniform signature but do not check it (two officers may note at once).
- reopen: closed → dispatched (back to the department for rework, reopen_count + 1);
  false_alarm → acknowledged (it was never handled; the officer reopening it has accepted it).
- verify_fail: resolved → dispatched, verify_failures + 1, resolved_at cleared.
- dispatched → dispatched is a re-dispatch to another department or level.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import pyarrow as pa

from ops_center.core.config import Config
from ops_center.core.domains import DOMAIN_CODES, LEVEL_NAMES, LEVELS, OPEN_STATUSES, STATUS_NAMES
from ops_center.core.lifecycle import (
    ACTION_NAMES,
    IN_PLACE,
    REASON_REQUIRED,
    ROLE_ACTIONS,
    TRANSITIONS,
    VERIFY_ACTIONS,
    Actor,
    BulkResult,
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ServiceError,
    allowed_actions,
)
from ops_center.core.sla import SlaPolicy
from ops_center.core.units import APPROVER_RANK, approver_role
from ops_center.service.bus import IncidentEscalated, IncidentMerged, IncidentTransitioned, IncidentUpdated
from ops_center.service.incident_rows import resolver_of, row_dict
from ops_center.service.sweep import next_level
from ops_center.store.store import append, from_db, to_db

log = logging.getLogger(__name__)

__all__ = [
    "Actor", "IncidentService", "ServiceError", "PermissionDenied", "Conflict", "InvalidTransition",
    "NotFound", "TRANSITIONS", "IN_PLACE", "ROLE_ACTIONS", "allowed_actions", "BulkResult",
]

_UPDATABLE = frozenset({
    "status", "domain", "category", "level", "department", "updated_at", "acknowledged_at",
    "dispatched_at", "resolved_at", "closed_at", "ack_due_at", "resolve_due_at", "ack_warned",
    "resolve_warned", "escalations", "paused_seconds", "merged_into", "reopen_count",
    "verify_failures", "report_count", "sources", "last_report_at", "hung_kind", "hung_at", "satisfied",
    "redo_count", "supervised",
})


@dataclass
class _Outcome:
    row: dict
    to_status: str
    events: list


class IncidentService:
    """The only writer of human actions: one transaction per action, events after the commit."""

    def __init__(self, store, bus, cfg: Config, clock: Callable[[], datetime], policy: SlaPolicy | None = None):
        self.store = store
        self.bus = bus
        self.cfg = cfg
        self.clock = clock
        self.policy = policy or SlaPolicy(cfg)
        # A city center (federation.role city) sets this: its incidents belong to the districts, so an action
        # is checked and sent to the owning district as a command (ingest/fed_consumer.py), never applied here.
        self.forward: Callable[[Actor, str, int, str], object] | None = None

    # --- reads ---------------------------------------------------------------------------

    def get(self, incident_id: int) -> dict:
        """One incident as a dict with aware (UTC) datetimes; NotFound if it does not exist."""
        df = self.store.query_df("SELECT * FROM incidents WHERE incident_id = ?", [incident_id])
        if df.empty:
            raise NotFound(detail=f"incident {incident_id} not found")
        return row_dict(df.iloc[0].to_dict())

    def timeline(self, incident_id: int, include_merged: bool = True) -> pd.DataFrame:
        """Timeline rows, oldest first; with include_merged also those of incidents merged into this one."""
        sql = ("SELECT t.* FROM incident_timeline t WHERE t.incident_id = ? OR (? AND t.incident_id IN "
               "(SELECT incident_id FROM incidents WHERE merged_into = ?)) ORDER BY t.ts, t.rowid")
        df = self.store.query_df(sql, [incident_id, include_merged, incident_id])
        df["ts"] = pd.to_datetime(df["ts"]).dt.tz_localize("UTC")
        return df

    # --- transitions ---------------------------------------------------------------------

    def acknowledge(self, actor: Actor, incident_id: int, version: int, note: str = "") -> dict:
        return self.act(actor, "acknowledge", incident_id, version, note,
                         lambda row, now: {"acknowledged_at": row["acknowledged_at"] or now})

    def dispatch(self, actor: Actor, incident_id: int, version: int, department: str, level: str | None = None,
                 note: str = "") -> dict:
        if department not in {d.code for d in self.cfg.departments}:
            raise ServiceError(f"未知的部门：{department}", detail=f"unknown department {department!r}")
        if level is not None and level not in LEVELS:
            raise ServiceError(f"未知的层级：{level}", detail=f"unknown level {level!r}")

        def changes(row, now):
            return {"department": department, "level": level or row["level"], "dispatched_at": now}

        return self.act(actor, "dispatch", incident_id, version, note, changes,
                         data={"department": department, "level": level})

    def resolve(self, actor: Actor, incident_id: int, version: int, note: str = "") -> dict:
        return self.act(actor, "resolve", incident_id, version, note, lambda row, now: {"resolved_at": now})

    def close(self, actor: Actor, incident_id: int, version: int, note: str = "") -> dict:
        """Verification passed (核查通过): resolved → closed."""
        return self.act(actor, "close", incident_id, version, note, lambda row, now: {"closed_at": now})

    def verify_fail(self, actor: Actor, incident_id: int, version: int, note: str = "") -> dict:
        """Verification failed (核查不通过): back to the department, counted as rework."""
        return self.act(actor, "verify_fail", incident_id, version, note, lambda row, now: {
            "verify_failures": (row["verify_failures"] or 0) + 1, "resolved_at": None, "dispatched_at": now})

    def reopen(self, actor: Actor, incident_id: int, version: int, note: str = "") -> dict:
        def changes(row, now):
            sets = {"reopen_count": (row["reopen_count"] or 0) + 1, "closed_at": None, "resolved_at": None}
            if row["status"] == "closed":
                sets["dispatched_at"] = now
            else:
                sets["acknowledged_at"] = row["acknowledged_at"] or now
            return sets

        return self.act(actor, "reopen", incident_id, version, note, changes)

    def false_alarm(self, actor: Actor, incident_id: int, version: int, note: str = "") -> dict:
        return self.act(actor, "false_alarm", incident_id, version, note)

    def escalate(self, actor: Actor, incident_id: int, version: int, note: str = "") -> dict:
        """Manual 上报 one level up the chain; a `new` incident gets the new level's acknowledge deadline."""
        def changes(row, now):
            up = next_level(self.cfg.escalation.chain, row["level"])
            if up is None:
                raise InvalidTransition(f"事件已在最高层级（{LEVEL_NAMES.get(row['level'], row['level'])}），不能再上报",
                                        detail=f"incident {incident_id} is at the top level")
            sets = {"level": up, "escalations": (row["escalations"] or 0) + 1}
            if row["status"] == "new":
                sets["ack_due_at"] = self.policy.ack_due(row["domain"], row["severity"], row["category"], now)
                sets["ack_warned"] = False
            return sets

        def events(row, sets, now):
            return [IncidentEscalated(incident_id, now, row["level"], sets["level"], "manual", actor.username)]

        return self.act(actor, "escalate", incident_id, version, note, changes, events=events)

    def set_domain(self, actor: Actor, incident_id: int, version: int, domain: str, category: str | None = None,
                   note: str = "") -> dict:
        """Triage (分类): set the domain and recompute the SLA deadlines from the creation time."""
        if domain not in DOMAIN_CODES:
            raise ServiceError(f"未知的领域：{domain}", detail=f"unknown domain {domain!r}")

        def changes(row, now):
            created = row["created_at"]
            rule = self.policy.rule_for(domain, row["severity"], category)
            resolve_due = self.policy.calendar.add(created, rule.resolve, rule.calendar)
            if row["paused_seconds"]:
                resolve_due = self.policy.extend(rule, resolve_due, row["paused_seconds"])
            sets = {"domain": domain, "category": category, "resolve_due_at": resolve_due,
                    "ack_warned": False, "resolve_warned": False}
            if row["status"] == "new" and not row["escalations"]:
                sets["ack_due_at"] = self.policy.calendar.add(created, rule.acknowledge, rule.calendar)
            if not row["department"]:
                sets["department"] = self.cfg.domain_by_code[domain].department
            return sets

        return self.act(actor, "set_domain", incident_id, version, note, changes,
                         data={"domain": domain, "category": category})

    def add_note(self, actor: Actor, incident_id: int, version: int | None = None, note: str = "") -> dict:
        """A plain-text note on the timeline; it changes no incident column, so the version is not checked."""
        if not note.strip():
            raise ServiceError("备注内容不能为空", detail="empty note")
        return self.act(actor, "add_note", incident_id, version, note, check_version=False)

    def merge(self, actor: Actor, incident_id: int, version: int, into_id: int, note: str = "") -> dict:
        """Fold a duplicate into `into_id`: counts and sources move over, both timelines stay."""
        if into_id == incident_id:
            raise InvalidTransition("不能将事件合并到其自身", detail="merge into itself")

        def changes(row, now, conn):
            target = self._load(conn, into_id)
            self._check_scope(actor, target)
            if target["status"] not in OPEN_STATUSES:
                raise InvalidTransition(f"目标事件#{into_id}状态为“{STATUS_NAMES[target['status']]}”，不能合并到该事件",
                                        detail=f"merge target {into_id} is {target['status']}")
            sources = list(dict.fromkeys([*(target["sources"] or []), *(row["sources"] or [])]))
            last = max(d for d in (target["last_report_at"], row["last_report_at"], now) if d is not None)
            self._update(conn, into_id, target["version"], {
                "report_count": target["report_count"] + row["report_count"], "sources": sources,
                "last_report_at": last, "updated_at": now})
            self._timeline(conn, into_id, now, actor.username, "merged", target["status"], target["status"],
                           f"合并事件#{incident_id}" + (f"：{note}" if note else ""), {"merged_id": incident_id})
            target_count = target["report_count"] + row["report_count"]
            return {"merged_into": into_id}, [IncidentMerged(incident_id, now, into_id, actor.username),
                                              IncidentUpdated(into_id, now, target_count, "merge", True)]

        return self.act(actor, "merge", incident_id, version, note, conn_changes=changes, data={"into_id": into_id})

    # --- extensions ----------------------------------------------------------------------

    def request_extension(self, actor: Actor, incident_id: int, version: int | None, seconds: float, reason: str,
                          note: str = "") -> int:
        """Ask for more time (延期); nothing moves until decide_extension approves it. Returns the extension id."""
        if not seconds or seconds <= 0:
            raise ServiceError("延期时长必须大于零", detail="extension seconds must be positive")
        if not reason.strip():
            raise ServiceError("请填写延期理由", detail="extension without a reason")
        data: dict = {}

        def changes(row, now, conn):
            data.update(self.insert_extension(conn, actor, incident_id, now, seconds, reason))
            return {}, []

        self.act(actor, "request_extension", incident_id, version, note or reason, conn_changes=changes,
                  check_version=False, data=data)
        return data["extension_id"]

    def insert_extension(self, conn, actor: Actor, incident_id: int, now: datetime, seconds: float, reason: str,
                         assignment_id: int | None = None) -> dict:
        """The pending 延期 row (one at a time per case), naming the role the config says must approve it."""
        pending, approved = conn.execute(
            "SELECT count(*) FILTER (status = 'pending'), count(*) FILTER (status = 'approved') FROM extensions "
            "WHERE incident_id = ?",
            [incident_id]).fetchall()[0]
        if pending:
            raise ServiceError("该事件已有待审批的延期申请", detail="extension already pending")
        ext_id = self.store.allocate_ids(conn, "extensions")
        approver = approver_role(self.cfg, approved)
        conn.execute("INSERT INTO extensions (extension_id, incident_id, requested_by, requested_at, seconds, reason, "
                     "status, assignment_id, approver_role) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                     [ext_id, incident_id, actor.username, to_db(now), float(seconds), reason, assignment_id, approver])
        return {"extension_id": ext_id, "seconds": float(seconds), "reason": reason, "approver_role": approver}

    def decide_extension(self, actor: Actor, incident_id: int, version: int, extension_id: int, approve: bool,
                         note: str = "") -> dict:
        """Approve (the resolve clock stands still for the extension) or reject a pending request."""
        data: dict = {"extension_id": extension_id, "approved": bool(approve)}

        def changes(row, now, conn):
            ext = conn.execute("SELECT seconds, status, requested_by, (SELECT count(*) FROM extensions e WHERE "
                               "e.incident_id = ? AND e.status = 'approved') FROM extensions WHERE extension_id = ? "
                               "AND incident_id = ?", [incident_id, extension_id, incident_id]).fetchall()
            if not ext:
                raise NotFound("延期申请不存在", detail=f"extension {extension_id} of incident {incident_id}")
            seconds, status, requester, approved = ext[0]
            if status != "pending":
                raise InvalidTransition("该延期申请已审批", detail=f"extension {extension_id} is {status}")
            required = approver_role(self.cfg, approved)
            if APPROVER_RANK.get(actor.role, 0) < APPROVER_RANK[required] or requester == actor.username:
                who = "领导" if required == "leader" else "值班长或领导"
                raise PermissionDenied(f"第{approved + 1}次延期须由{who}审批，且不能审批本人的申请",
                                       detail=f"{actor.role} may not decide extension {extension_id} ({required})")
            conn.execute("UPDATE extensions SET status = ?, decided_by = ?, decided_at = ?, decision_note = ? "
                         "WHERE extension_id = ?",
                         ["approved" if approve else "rejected", actor.username, to_db(now), note or None, extension_id])
            if not approve:
                return {"updated_at": now}, []
            rule = self.policy.rule_for(row["domain"], row["severity"], row["category"])
            due = self.policy.extend(rule, row["resolve_due_at"], seconds)
            data.update(seconds=seconds, resolve_due_at=due.isoformat())
            warned = row["resolve_warned"] and self.policy.warn_instant(rule, "resolve", due) <= now
            return {"resolve_due_at": due, "paused_seconds": (row["paused_seconds"] or 0) + seconds,
                    "resolve_warned": warned}, []

        return self.act(actor, "decide_extension", incident_id, version, note, conn_changes=changes, data=data)

    # --- bulk ----------------------------------------------------------------------------

    def bulk_acknowledge(self, actor: Actor, items: Iterable[tuple[int, int]], note: str = "") -> list[BulkResult]:
        """Acknowledge many incidents in one transaction; each succeeds or fails on its own."""
        self._check_role(actor, "acknowledge")
        if self.forward is not None:
            raise PermissionDenied("区县事件由区县中心办理，市级只能督办或上报", detail="bulk acknowledge at a city center")
        items = list(items)
        now = self._now()

        def write(conn):
            results, outcomes = [], []
            for incident_id, version in items:
                try:
                    out = self._apply(conn, actor, "acknowledge", incident_id, version, note, now,
                                      changes=lambda row, now: {"acknowledged_at": row["acknowledged_at"] or now})
                except ServiceError as exc:
                    results.append(BulkResult(incident_id, False, type(exc).__name__, exc.user_message))
                else:
                    results.append(BulkResult(incident_id, True))
                    outcomes.append(out)
            return results, outcomes

        results, outcomes = self.store.write(write)
        self.bus.publish([e for out in outcomes for e in out.events])
        return results

    def system_transition(self, conn, actor: Actor, action: str, incident_id: int, note: str,
                          now: datetime) -> list:
        """One source or rule status change inside the caller's transaction; returns bus events."""
        return self.system_transitions(conn, [(actor, action, incident_id, note)], now)

    def system_transitions(self, conn, items: list[tuple[Actor, str, int, str]], now: datetime) -> list:
        """Status changes a source or rule asks for (closed at source, auto-resolve), inside the pipeline's
        transaction and in bulk (a backfill closes thousands): the same graph, timeline and audit as a
        human action; a status the action does not apply to (closed by hand, say) is left alone. The
        pipeline reports these ids to `store.incidents_changed` with the rest of its batch."""
        for actor, action, _, _ in items:
            self._check_role(actor, action)
        ids = sorted({incident_id for _, _, incident_id, _ in items})
        found = conn.execute("SELECT incident_id, status, last_report_at FROM incidents "
                             "WHERE incident_id IN (SELECT unnest(?::BIGINT[]))", [ids]).fetchall()
        status = {r[0]: r[1] for r in found}
        last_report = {r[0]: r[2] for r in found}
        final: dict[int, tuple] = {}
        timeline, audit, out = [], [], []
        for actor, action, incident_id, note in items:
            from_status = status.get(incident_id)
            to_status = TRANSITIONS[action].get(from_status) if from_status is not None else None
            if from_status is None or to_status is None:
                continue
            status[incident_id] = to_status
            closed_at = now if to_status == "closed" else None
            resolved_at = (from_db(last_report[incident_id]) or now) if to_status == "resolved" else None
            final[incident_id] = (to_status, closed_at, resolved_at)
            timeline.append((incident_id, now, actor.username, action, from_status, to_status, note or None, None))
            audit.append((now, actor.username, action, f"incident:{incident_id}", json.dumps(
                {"incident_id": incident_id, "from": from_status, "to": to_status, "note": note}, ensure_ascii=False)))
            out.append(IncidentTransitioned(incident_id, now, from_status, to_status, actor.username, note))
        if not final:
            return []
        rows = pa.table({
            "incident_id": pa.array(list(final), pa.int64()),
            "status": pa.array([v[0] for v in final.values()], pa.string()),
            "at": pa.array([to_db(now)] * len(final), pa.timestamp("us")),
            "closed_at": pa.array([to_db(v[1]) if v[1] else None for v in final.values()], pa.timestamp("us")),
            "resolved_at": pa.array([to_db(v[2]) if v[2] else None for v in final.values()], pa.timestamp("us")),
        })
        conn.register("system_transitions", rows)
        try:
            conn.execute(
                "UPDATE incidents SET status = u.status, updated_at = u.at, version = incidents.version + 1, "
                "closed_at = coalesce(u.closed_at, incidents.closed_at), "
                "resolved_at = coalesce(u.resolved_at, incidents.resolved_at) "
                "FROM system_transitions u WHERE incidents.incident_id = u.incident_id")
        finally:
            conn.unregister("system_transitions")
        cols = list(zip(*timeline, strict=True))
        append(conn, "incident_timeline", pa.table({
            "incident_id": pa.array(cols[0], pa.int64()), "ts": pa.array([to_db(t) for t in cols[1]], pa.timestamp("s")),
            "actor": pa.array(cols[2], pa.string()), "action": pa.array(cols[3], pa.string()),
            "from_status": pa.array(cols[4], pa.string()), "to_status": pa.array(cols[5], pa.string()),
            "note": pa.array(cols[6], pa.string()), "data": pa.array(cols[7], pa.string())}))
        first = self.store.allocate_ids(conn, "audit_log", len(audit))
        cols = list(zip(*audit, strict=True))
        append(conn, "audit_log", pa.table({
            "audit_id": pa.array(range(first, first + len(audit)), pa.int64()),
            "ts": pa.array([to_db(t) for t in cols[0]], pa.timestamp("s")), "actor": pa.array(cols[1], pa.string()),
            "action": pa.array(cols[2], pa.string()), "target": pa.array(cols[3], pa.string()),
            "detail": pa.array(cols[4], pa.string())}))
        return out

    # --- machinery -----------------------------------------------------------------------

    def _now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the service clock must return aware datetimes")
        return now

    def _check_role(self, actor: Actor, action: str) -> None:
        if action not in ROLE_ACTIONS.get(actor.role, frozenset()):
            raise PermissionDenied(f"当前角色无权执行“{ACTION_NAMES[action]}”操作",
                                   detail=f"{actor.username} ({actor.role}) may not {action}")

    def _check_scope(self, actor: Actor, row: dict) -> None:
        if actor.role == "admin" or actor.scope == self.cfg.site.city.code:
            return
        if not str(row["area_code"]).startswith(actor.scope):
            raise PermissionDenied("该事件不在您的管辖范围内",
                                   detail=f"{actor.username} scope {actor.scope} excludes {row['area_code']}")

    def act(self, actor: Actor, action: str, incident_id: int, version: int | None, note: str = "",
             changes: Callable | None = None, *, conn_changes: Callable | None = None, events: Callable | None = None,
             check_version: bool = True, data: dict | None = None) -> dict:
        """One checked action: role, reason, then in one store.write scope, version, status graph, the caller's
        changes (`changes(row, now)` or `conn_changes(row, now, conn)` -> (sets, events)), timeline and audit;
        events published after the commit. WorkOrderService builds every work-order action on it."""
        try:
            self._check_role(actor, action)
            if action in REASON_REQUIRED and not (note or "").strip():
                raise ServiceError(REASON_REQUIRED[action], detail=f"{action} without a reason")
            if self.forward is not None:
                self.forward(actor, action, incident_id, note)
                return self.get(incident_id)
            now = self._now()
            out = self.store.write(lambda conn: self._apply(
                conn, actor, action, incident_id, version, note, now, changes, conn_changes, events, check_version,
                data))
        except PermissionDenied as exc:
            self._audit_denied(actor, action, incident_id, exc)
            raise
        self.bus.publish(out.events)
        return out.row

    def _apply(self, conn, actor: Actor, action: str, incident_id: int, version: int | None, note: str,
               now: datetime, changes: Callable | None = None, conn_changes: Callable | None = None,
               events: Callable | None = None, check_version: bool = True, data: dict | None = None) -> _Outcome:
        """The body of one action inside the writer's transaction; raises ServiceError to roll back."""
        row = self._load(conn, incident_id)
        self._check_scope(actor, row)
        if check_version and row["version"] != version:
            raise Conflict(detail=f"incident {incident_id} is at version {row['version']}, caller had {version}")
        from_status = row["status"]
        if action in VERIFY_ACTIONS and resolver_of(conn, incident_id) == actor.username:
            raise PermissionDenied("不能核查本人处置的事件，请由网格员或其他值班员核查",
                                   detail=f"{actor.username} resolved incident {incident_id}")
        if action in TRANSITIONS:
            to_status = TRANSITIONS[action].get(from_status)
            if to_status is None:
                targets = "或".join(f"“{STATUS_NAMES[s]}”" for s in dict.fromkeys(TRANSITIONS[action].values()))
                raise InvalidTransition(
                    f"事件当前状态为“{STATUS_NAMES[from_status]}”，不能{ACTION_NAMES[action]}（转为{targets}）",
                    detail=f"{action} not allowed from {from_status}")
        elif from_status in IN_PLACE[action]:
            to_status = from_status
        else:
            raise InvalidTransition(f"事件当前状态为“{STATUS_NAMES[from_status]}”，不能执行“{ACTION_NAMES[action]}”",
                                    detail=f"{action} not allowed in {from_status}")
        sets = dict(changes(row, now)) if changes else {}
        extra_events: list = []
        if conn_changes:
            more, extra_events = conn_changes(row, now, conn)
            sets.update(more)
        if to_status != from_status:
            sets["status"] = to_status
        new_row = dict(row)
        if sets:
            sets["updated_at"] = now
            new_version = self._update(conn, incident_id, row["version"], sets)
            new_row.update(sets, version=new_version)
        else:  # a note: only the timeline changes, which federation carries too
            self.store.incidents_changed(conn, (incident_id,))
        extra = dict(data or {})
        self._timeline(conn, incident_id, now, actor.username, action, from_status, to_status, note, extra or None)
        self._audit(conn, now, actor.username, action, f"incident:{incident_id}",
                    {"incident_id": incident_id, "from": from_status, "to": to_status, "note": note, **extra})
        out = [IncidentTransitioned(incident_id, now, from_status, to_status, actor.username, note)] if sets else []
        if events:
            out += events(row, sets, now)
        return _Outcome(new_row, to_status, out + extra_events)

    def _load(self, conn, incident_id: int) -> dict:
        cur = conn.execute("SELECT * FROM incidents WHERE incident_id = ?", [incident_id])
        rows = cur.fetchall()
        if not rows:
            raise NotFound(detail=f"incident {incident_id} not found")
        return row_dict(dict(zip([d[0] for d in cur.description], rows[0], strict=True)))

    def _update(self, conn, incident_id: int, version: int, sets: dict) -> int:
        """Checked UPDATE: only if the row is still at `version`; returns the new version or raises Conflict."""
        bad = set(sets) - _UPDATABLE
        if bad:
            raise ValueError(f"not updatable: {sorted(bad)}")
        assign = ", ".join(f"{column} = ?" for column in sets)
        values = [to_db(v) if isinstance(v, datetime) else v for v in sets.values()]
        # Column names come from the _UPDATABLE whitelist above; every value is a parameter.
        hit = conn.execute(
            f"UPDATE incidents SET {assign}, version = version + 1 WHERE incident_id = ? AND version = ? "  # noqa: S608
            "RETURNING version", [*values, incident_id, version]).fetchall()
        if not hit:
            raise Conflict(detail=f"incident {incident_id} changed under version {version}")
        self.store.incidents_changed(conn, (incident_id,))
        return int(hit[0][0])

    @staticmethod
    def _timeline(conn, incident_id: int, now: datetime, actor: str, action: str, from_status: str | None,
                  to_status: str | None, note: str, data: dict | None) -> None:
        conn.execute(
            "INSERT INTO incident_timeline (incident_id, ts, actor, action, from_status, to_status, note, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [incident_id, to_db(now), actor, action, from_status, to_status, note or None,
             json.dumps(data, ensure_ascii=False, default=str) if data else None])

    def _audit(self, conn, now: datetime, actor: str, action: str, target: str, detail: dict) -> None:
        audit_id = self.store.allocate_ids(conn, "audit_log")
        conn.execute("INSERT INTO audit_log (audit_id, ts, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
                     [audit_id, to_db(now), actor, action, target, json.dumps(detail, ensure_ascii=False, default=str)])

    def _audit_denied(self, actor: Actor, action: str, incident_id: int, exc: PermissionDenied) -> None:
        """Refused attempts are audited too (in their own transaction, since the action's rolled back)."""
        try:
            now = self._now()
            self.store.write(lambda conn: self._audit(conn, now, actor.username, f"denied:{action}",
                                                      f"incident:{incident_id}", {"reason": str(exc)}))
        except Exception:  # noqa: BLE001 - failing to audit a refusal must not hide the refusal
            log.exception("could not audit a refused %s by %s", action, actor.username)
