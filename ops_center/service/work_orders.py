"""The work order between the center and the responsible units, checked here because the phone screen is not trusted.

Every method takes the acting `Actor` first and runs as one IncidentService action: role (lifecycle
ROLE_ACTIONS), area scope, status graph, a reason where REASON_REQUIRED says so, then timeline +
audit + the work-order rows in one transaction, bus events after the commit. On top of that:
- a unit's user acts only on assignments of its own unit (`Actor.unit`); an admin on any;
- an assignment moves pending → accepted (签收, late when after accept_due_at) → done (反馈), or
  pending/accepted → returned (退单) until the center decides: 改派 (cancelled, a new row for another
  unit) or 强派 (pending again with a new 签收 deadline; it cannot be returned a second time);
- the lead unit's feedback resolves the case; a co-handler's only adds to the timeline;
- verification is never by the resolver (IncidentService refuses it for close and verify_fail);
- 回访 不满意 reopens a closed case as 重办 (redo) to the same lead unit, in a new round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from ops_center.core.config import Config
from ops_center.core.lifecycle import Actor, InvalidTransition, NotFound, PermissionDenied, ServiceError
from ops_center.core.sla import SlaPolicy
from ops_center.core.units import HANG_KINDS, SATISFACTION, Unit, units
from ops_center.service.bus import UnitReminded, WorkOrderChanged
from ops_center.service.incidents import IncidentService
from ops_center.store.store import from_db, to_db

ACTIVE = ("pending", "accepted")  # an assignment a unit still has to work
ASSIGNMENT_STATUS_NAMES = {"pending": "待签收", "accepted": "已签收", "returned": "已退单", "done": "已反馈",
                           "cancelled": "已改派"}
_ASSIGNMENT_COLUMNS = ("assignment_id", "incident_id", "unit", "role", "status", "round", "accept_due_at", "returns",
                       "decision")


class WorkOrderService:
    """The only writer of work-order actions: each one an IncidentService action with its own rows."""

    def __init__(self, store, bus, cfg: Config, clock: Callable[[], datetime], policy: SlaPolicy | None = None,
                 incidents: IncidentService | None = None):
        self.store = store
        self.bus = bus
        self.cfg = cfg
        self.clock = clock
        self.incidents = incidents or IncidentService(store, bus, cfg, clock, policy)
        self.units: dict[str, Unit] = dict(units(cfg))

    # --- the center sends -------------------------------------------------------------------

    def dispatch(self, actor: Actor, incident_id: int, version: int, lead_unit: str, co_units: Iterable[str] = (),
                 note: str = "") -> dict:
        """派遣 to one lead unit (主办) and co-handlers (协办); a re-dispatch cancels the open assignments."""
        co = list(dict.fromkeys(co_units))
        for code in (lead_unit, *co):
            if code not in self.units:
                raise ServiceError(f"未知的责任单位：{code}", detail=f"unknown unit {code!r}")
        if lead_unit in co:
            raise ServiceError("主办单位不能同时是协办单位", detail="lead unit also co-handler")
        data: dict = {"lead_unit": lead_unit, "co_units": co}

        def changes(row, now, conn):
            for code in (lead_unit, *co):
                self._check_covers(code, row)
            conn.execute("UPDATE assignments SET status = 'cancelled', decision = 'reassign', decided_by = ?, "
                         "decided_at = ? WHERE incident_id = ? AND status IN ('pending', 'accepted', 'returned')",
                         [actor.username, to_db(now), incident_id])
            rnd = (row["redo_count"] or 0) + 1
            ids = [self._insert_assignment(conn, actor, incident_id, code, role, rnd, now)
                   for code, role in ((lead_unit, "lead"), *((c, "co") for c in co))]
            data["assignment_ids"] = ids
            sets = {"dispatched_at": now, "hung_kind": None, "hung_at": None, **self._routing(lead_unit, row)}
            return sets, [WorkOrderChanged(incident_id, now, "dispatch", actor.username, lead_unit, ids[0])]

        row = self.incidents.act(actor, "dispatch", incident_id, version, note, conn_changes=changes, data=data)
        return {**row, "assignment_ids": data["assignment_ids"]}

    def decide_return(self, actor: Actor, assignment_id: int, decision: str, unit: str | None = None,
                      reason: str = "") -> dict:
        """The center rules on a 退单: 改派 (reassign) to another unit, or 强派 (force) it back to the same one."""
        if decision not in ("reassign", "force"):
            raise ServiceError("请选择改派或强派", detail=f"unknown decision {decision!r}")
        if decision == "reassign" and unit not in self.units:
            raise ServiceError("请选择改派的责任单位" if not unit else f"未知的责任单位：{unit}",
                               detail=f"reassign to {unit!r}")
        data: dict = {"assignment_id": assignment_id, "decision": decision, "unit": unit}

        def changes(row, now, conn, a):
            if a["status"] != "returned":
                raise InvalidTransition("该工单未退单，无需裁定", detail=f"assignment {assignment_id} is {a['status']}")
            if decision == "force":
                conn.execute("UPDATE assignments SET status = 'pending', decision = 'force', decided_by = ?, "
                             "decided_at = ?, accept_due_at = ?, accepted_at = NULL, accepted_by = NULL, "
                             "accepted_late = NULL WHERE assignment_id = ?",
                             [actor.username, to_db(now), to_db(now + self.cfg.work_orders.accept_within),
                              assignment_id])
                return {}, a["unit"]
            assert unit is not None  # checked above
            if unit == a["unit"]:
                raise ServiceError("改派须选择另一个责任单位，退回原单位请用强派", detail="reassign to the same unit")
            self._check_covers(unit, row)
            busy = conn.execute("SELECT count(*) FROM assignments WHERE incident_id = ? AND unit = ? AND status IN "
                                "('pending', 'accepted')", [a["incident_id"], unit]).fetchall()[0][0]
            if busy:
                raise ServiceError("该单位已在办理此事件", detail=f"{unit} already assigned")
            new_id = self._insert_assignment(conn, actor, a["incident_id"], unit, a["role"], a["round"], now)
            conn.execute("UPDATE assignments SET status = 'cancelled', decision = 'reassign', decided_by = ?, "
                         "decided_at = ?, replaced_by = ? WHERE assignment_id = ?",
                         [actor.username, to_db(now), new_id, assignment_id])
            data["new_assignment_id"] = new_id
            return (self._routing(unit, row) if a["role"] == "lead" else {}), unit

        return self._on_assignment(actor, "decide_return", assignment_id, reason, changes, data, unit_only=False)

    # --- the unit works it --------------------------------------------------------------------

    def accept(self, actor: Actor, assignment_id: int) -> dict:
        """签收: the unit takes the case; after its accept deadline it counts as late (签收率)."""
        data: dict = {"assignment_id": assignment_id}

        def changes(row, now, conn, a):
            if a["status"] != "pending":
                raise InvalidTransition(f"工单当前为“{ASSIGNMENT_STATUS_NAMES[a['status']]}”，不能签收",
                                        detail=f"assignment {assignment_id} is {a['status']}")
            late = now > a["accept_due_at"]
            conn.execute("UPDATE assignments SET status = 'accepted', accepted_by = ?, accepted_at = ?, "
                         "accepted_late = ? WHERE assignment_id = ?", [actor.username, to_db(now), late, assignment_id])
            data["late"] = late
            return {}, a["unit"]

        return self._on_assignment(actor, "accept", assignment_id, "", changes, data)

    def return_order(self, actor: Actor, assignment_id: int, reason: str) -> dict:
        """退单 with a reason: the case waits for the center's 改派 or 强派; a forced order cannot go back again."""
        data: dict = {"assignment_id": assignment_id}

        def changes(row, now, conn, a):
            if a["status"] not in ACTIVE:
                raise InvalidTransition(f"工单当前为“{ASSIGNMENT_STATUS_NAMES[a['status']]}”，不能退单",
                                        detail=f"assignment {assignment_id} is {a['status']}")
            if a["decision"] == "force":
                raise InvalidTransition("该工单已由中心强派，不能再次退单", detail=f"assignment {assignment_id} forced")
            conn.execute("UPDATE assignments SET status = 'returned', returned_by = ?, returned_at = ?, "
                         "return_reason = ?, returns = returns + 1 WHERE assignment_id = ?",
                         [actor.username, to_db(now), reason, assignment_id])
            return {}, a["unit"]

        return self._on_assignment(actor, "return_order", assignment_id, reason, changes, data)

    def feedback(self, actor: Actor, assignment_id: int, note: str, photos: Iterable[str] = ()) -> dict:
        """处置反馈 with photo ids: the lead unit's resolves the case, a co-handler's goes on the timeline."""
        photo_ids = [str(p) for p in photos]
        data: dict = {"assignment_id": assignment_id, "photos": photo_ids}
        role = self._assignment(assignment_id)["role"]
        action = "feedback" if role == "lead" else "co_feedback"

        def changes(row, now, conn, a):
            if a["status"] not in ("accepted", "done") or (a["role"] == "lead" and a["status"] == "done"):
                raise InvalidTransition("请先签收工单再反馈" if a["status"] == "pending" else
                                        f"工单当前为“{ASSIGNMENT_STATUS_NAMES[a['status']]}”，不能反馈",
                                        detail=f"assignment {assignment_id} is {a['status']}")
            feedback_id = self.store.allocate_ids(conn, "feedback")
            conn.execute("INSERT INTO feedback (feedback_id, assignment_id, incident_id, unit, role, author, ts, note, "
                         "photos) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [feedback_id, assignment_id, a["incident_id"], a["unit"], a["role"], actor.username,
                          to_db(now), note, photo_ids])
            conn.execute("UPDATE assignments SET status = 'done', done_at = ? WHERE assignment_id = ?",
                         [to_db(now), assignment_id])
            data["feedback_id"] = feedback_id
            sets = {"resolved_at": now, "hung_kind": None, "hung_at": None} if a["role"] == "lead" else {}
            return sets, a["unit"]

        return self._on_assignment(actor, action, assignment_id, note, changes, data)

    def request_extension(self, actor: Actor, assignment_id: int, seconds: float, reason: str) -> int:
        """申请延期 on the lead assignment; the config names who approves it (shift lead first, then a leader)."""
        if not seconds or seconds <= 0:
            raise ServiceError("延期时长必须大于零", detail="extension seconds must be positive")
        if not reason.strip():
            raise ServiceError("请填写延期理由", detail="extension without a reason")
        data: dict = {"assignment_id": assignment_id}

        def changes(row, now, conn, a):
            if a["role"] != "lead" or a["status"] != "accepted":
                raise InvalidTransition("只有已签收的主办单位可以申请延期", detail=f"assignment {assignment_id}")
            data.update(self.incidents.insert_extension(conn, actor, a["incident_id"], now, seconds, reason,
                                                        assignment_id))
            return {}, a["unit"]

        self._on_assignment(actor, "request_extension", assignment_id, reason, changes, data)
        return int(data["extension_id"])

    def decide_extension(self, actor: Actor, extension_id: int, approve: bool, note: str = "") -> dict:
        """Approve or reject a 延期 by its id; the level the config names for it is checked by IncidentService."""
        found = self.store.query("SELECT incident_id FROM extensions WHERE extension_id = ?", [extension_id])
        if not found:
            raise NotFound("延期申请不存在", detail=f"extension {extension_id}")
        incident_id = int(found[0][0])
        version = self.incidents.get(incident_id)["version"]
        return self.incidents.decide_extension(actor, incident_id, version, extension_id, approve, note)

    def hang(self, actor: Actor, incident_id: int, version: int, kind: str, reason: str) -> dict:
        """挂账: a long-term case (engineering, seasonal) leaves the 超期 count and is listed on its own."""
        if kind not in HANG_KINDS:
            raise ServiceError(f"未知的挂账类型：{kind}", detail=f"unknown hang kind {kind!r}")

        def changes(row, now, conn):
            if row["hung_kind"]:
                raise InvalidTransition("该事件已挂账", detail=f"incident {incident_id} already hung")
            if actor.role == "unit":
                self._lead_of(conn, actor, incident_id)
            return {"hung_kind": kind, "hung_at": now}, [
                WorkOrderChanged(incident_id, now, "hang", actor.username)]

        return self.incidents.act(actor, "hang", incident_id, version, reason, conn_changes=changes,
                                   data={"kind": kind})

    def unhang(self, actor: Actor, incident_id: int, version: int, note: str = "") -> dict:
        """解除挂账: the case counts against its deadline again."""
        def changes(row, now, conn):
            if not row["hung_kind"]:
                raise InvalidTransition("该事件未挂账", detail=f"incident {incident_id} not hung")
            return {"hung_kind": None, "hung_at": None}, [WorkOrderChanged(incident_id, now, "unhang", actor.username)]

        return self.incidents.act(actor, "unhang", incident_id, version, note, conn_changes=changes)

    # --- checking, reminding, supervising, calling back --------------------------------------

    def verify(self, actor: Actor, incident_id: int, version: int, passed: bool, note: str = "",
               photos: Iterable[str] = ()) -> dict:
        """核查 on site (grid worker) or by another officer: pass closes the case, fail sends it back (返工)."""
        photo_ids = [str(p) for p in photos]
        action = "close" if passed else "verify_fail"

        def changes(row, now, conn):
            verification_id = self.store.allocate_ids(conn, "verifications")
            conn.execute("INSERT INTO verifications (verification_id, incident_id, verifier, role, ts, passed, note, "
                         "photos) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         [verification_id, incident_id, actor.username, actor.role, to_db(now), bool(passed),
                          note or None, photo_ids])
            if passed:
                conn.execute("UPDATE supervisions SET closed_at = ? WHERE incident_id = ? AND closed_at IS NULL",
                             [to_db(now), incident_id])
                return {"closed_at": now}, []
            conn.execute("UPDATE assignments SET status = 'accepted', done_at = NULL WHERE incident_id = ? AND "
                         "role = 'lead' AND status = 'done' AND round = ?", [incident_id, (row["redo_count"] or 0) + 1])
            return {"verify_failures": (row["verify_failures"] or 0) + 1, "resolved_at": None,
                    "dispatched_at": now}, []

        return self.incidents.act(actor, action, incident_id, version, note, conn_changes=changes,
                                   data={"passed": bool(passed), "photos": photo_ids})

    def remind(self, actor: Actor, incident_id: int, note: str = "") -> list[int]:
        """催办 by hand: one reminder to every unit still working the case; returns the reminder ids."""
        ids: list[int] = []

        def changes(row, now, conn):
            active = conn.execute("SELECT assignment_id, unit FROM assignments WHERE incident_id = ? AND status IN "
                                  "('pending', 'accepted') ORDER BY assignment_id", [incident_id]).fetchall()
            if not active:
                raise InvalidTransition("该事件没有在办的责任单位", detail=f"incident {incident_id} has no active unit")
            out = []
            for assignment_id, unit in active:
                rid = self.store.allocate_ids(conn, "reminders")
                conn.execute("INSERT INTO reminders (reminder_id, incident_id, assignment_id, unit, kind, due_at, ts, "
                             "issued_by, note) VALUES (?, ?, ?, ?, 'manual', ?, ?, ?, ?)",
                             [rid, incident_id, assignment_id, unit, to_db(row["resolve_due_at"]), to_db(now),
                              actor.username, note or None])
                ids.append(rid)
                due = row["resolve_due_at"].isoformat() if row["resolve_due_at"] else None
                out.append(UnitReminded(incident_id, now, unit, "manual", assignment_id, due))
            return {}, out

        self.incidents.act(actor, "remind", incident_id, None, note, conn_changes=changes, check_version=False)
        return ids

    def supervise(self, actor: Actor, incident_id: int, due_at: datetime, note: str) -> int | None:
        """督办: a leader's formal record with its own deadline, listed on the wall and in the report.
        None at a city center: the command went to the owning district, whose record comes back federated."""
        if due_at.tzinfo is None:
            raise ValueError("督办期限 must be an aware datetime")
        data: dict = {"due_at": due_at.isoformat()}

        def changes(row, now, conn):
            if due_at <= now:
                raise ServiceError("督办期限须晚于当前时间", detail="supervision due in the past")
            supervision_id = self.store.allocate_ids(conn, "supervisions")
            conn.execute("INSERT INTO supervisions (supervision_id, incident_id, issued_by, issued_at, due_at, note) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         [supervision_id, incident_id, actor.username, to_db(now), to_db(due_at), note])
            data["supervision_id"] = supervision_id
            return {"supervised": True}, [WorkOrderChanged(incident_id, now, "supervise", actor.username)]

        self.incidents.act(actor, "supervise", incident_id, None, note, conn_changes=changes, check_version=False,
                            data=data)
        return data.get("supervision_id")

    def close_supervision(self, actor: Actor, supervision_id: int, note: str) -> dict:
        """督办销号: a leader ends a 督办 record by hand (a passed 核查 ends it by itself); the case stays as it is."""
        incident_id = self._supervision(supervision_id)["incident_id"]

        def changes(row, now, conn):
            record = self._supervision(supervision_id, conn)
            if record["closed_at"] is not None:
                raise InvalidTransition("该督办已销号", detail=f"supervision {supervision_id} already closed")
            conn.execute("UPDATE supervisions SET closed_at = ? WHERE supervision_id = ?", [to_db(now), supervision_id])
            still_open = conn.execute("SELECT count(*) FROM supervisions WHERE incident_id = ? AND closed_at IS NULL",
                                      [incident_id]).fetchall()[0][0]
            # The case's 督办 mark goes with its last record, unless the sweep put it there for 超期.
            sets = {} if still_open or row["overdue"] else {"supervised": False}
            return sets, [WorkOrderChanged(incident_id, now, "close_supervision", actor.username)]

        return self.incidents.act(actor, "close_supervision", incident_id, None, note, conn_changes=changes,
                                   check_version=False, data={"supervision_id": supervision_id})

    def extend_supervision(self, actor: Actor, supervision_id: int, due_at: datetime, note: str) -> dict:
        """督办延期: a leader moves an open 督办's deadline later, with a reason; the old one stays in the audit log."""
        if due_at.tzinfo is None:
            raise ValueError("督办期限 must be an aware datetime")
        incident_id = self._supervision(supervision_id)["incident_id"]
        data: dict = {"supervision_id": supervision_id, "due_at": due_at.isoformat()}

        def changes(row, now, conn):
            record = self._supervision(supervision_id, conn)
            if record["closed_at"] is not None:
                raise InvalidTransition("该督办已销号，不能延期", detail=f"supervision {supervision_id} closed")
            if due_at <= max(record["due_at"], now):
                raise ServiceError("新的督办期限须晚于原期限和当前时间",
                                   detail=f"supervision {supervision_id}: {due_at} not after {record['due_at']}")
            conn.execute("UPDATE supervisions SET due_at = ? WHERE supervision_id = ?", [to_db(due_at), supervision_id])
            data["previous_due_at"] = record["due_at"].isoformat()
            return {}, [WorkOrderChanged(incident_id, now, "extend_supervision", actor.username)]

        return self.incidents.act(actor, "extend_supervision", incident_id, None, note, conn_changes=changes,
                                   check_version=False, data=data)

    def record_callback(self, actor: Actor, incident_id: int, satisfaction: str, note: str = "") -> dict:
        """回访 of a closed case: 满意/基本满意 is recorded; 不满意 reopens it as 重办 to the same lead unit."""
        if satisfaction not in SATISFACTION:
            raise ServiceError(f"满意度须为{'、'.join(SATISFACTION)}之一", detail=f"satisfaction {satisfaction!r}")
        redo = satisfaction == "不满意"
        data: dict = {"satisfaction": satisfaction}

        def changes(row, now, conn):
            rnd = (row["redo_count"] or 0) + 1
            done = conn.execute("SELECT count(*) FROM callbacks WHERE incident_id = ? AND round = ?",
                                [incident_id, rnd]).fetchall()[0][0]
            if done:
                raise InvalidTransition("该事件本轮已回访", detail=f"incident {incident_id} already called back")
            callback_id = self.store.allocate_ids(conn, "callbacks")
            conn.execute("INSERT INTO callbacks (callback_id, incident_id, recorded_by, round, ts, satisfaction, note, "
                         "redo) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         [callback_id, incident_id, actor.username, rnd, to_db(now), satisfaction, note or None, redo])
            data["callback_id"] = callback_id
            sets: dict = {"satisfied": not redo}
            if redo:
                lead = conn.execute("SELECT unit FROM assignments WHERE incident_id = ? AND role = 'lead' AND status "
                                    "<> 'cancelled' ORDER BY assignment_id DESC LIMIT 1", [incident_id]).fetchall()
                if not lead:
                    raise InvalidTransition("该事件未派遣给责任单位，不能重办，请用重新打开",
                                            detail=f"incident {incident_id} has no lead unit")
                data["assignment_id"] = self._insert_assignment(conn, actor, incident_id, lead[0][0], "lead", rnd + 1,
                                                                now)
                sets.update(redo_count=rnd, closed_at=None, resolved_at=None, dispatched_at=now)
            return sets, [WorkOrderChanged(incident_id, now, "callback", actor.username)]

        return self.incidents.act(actor, "redo" if redo else "callback", incident_id, None, note,
                                   conn_changes=changes, check_version=False, data=data)

    # --- machinery ------------------------------------------------------------------------------

    def _assignment(self, assignment_id: int, conn=None) -> dict:
        sql = f"SELECT {', '.join(_ASSIGNMENT_COLUMNS)} FROM assignments WHERE assignment_id = ?"  # noqa: S608
        rows = (conn.execute(sql, [assignment_id]).fetchall() if conn is not None
                else self.store.query(sql, [assignment_id]))
        if not rows:
            raise NotFound("工单不存在", detail=f"assignment {assignment_id} not found")
        a = dict(zip(_ASSIGNMENT_COLUMNS, rows[0], strict=True))
        a["accept_due_at"] = from_db(a["accept_due_at"])
        return a

    def _supervision(self, supervision_id: int, conn=None) -> dict[str, Any]:
        sql = "SELECT incident_id, due_at, closed_at FROM supervisions WHERE supervision_id = ?"
        rows = (conn.execute(sql, [supervision_id]).fetchall() if conn is not None
                else self.store.query(sql, [supervision_id]))
        if not rows:
            raise NotFound("督办记录不存在", detail=f"supervision {supervision_id} not found")
        incident_id, due_at, closed_at = rows[0]
        return {"incident_id": int(incident_id), "due_at": from_db(due_at), "closed_at": from_db(closed_at)}

    def _on_assignment(self, actor: Actor, action: str, assignment_id: int, note: str, changes: Callable,
                       data: dict, *, unit_only: bool = True) -> dict:
        """One action on an assignment: its unit checked, its incident's action run through IncidentService."""
        incident_id = self._assignment(assignment_id)["incident_id"]

        def conn_changes(row, now, conn):
            a = self._assignment(assignment_id, conn)
            if unit_only and actor.role != "admin" and actor.unit != a["unit"]:
                raise PermissionDenied("该工单不属于本单位", detail=f"{actor.username} ({actor.unit}) is not {a['unit']}")
            sets, unit = changes(row, now, conn, a)
            data.setdefault("unit", unit)
            return sets, [WorkOrderChanged(a["incident_id"], now, action, actor.username, unit, assignment_id)]

        return self.incidents.act(actor, action, incident_id, None, note, conn_changes=conn_changes,
                                   check_version=False, data=data)

    def _insert_assignment(self, conn, actor: Actor, incident_id: int, unit: str, role: str, rnd: int,
                           now: datetime) -> int:
        assignment_id = self.store.allocate_ids(conn, "assignments")
        conn.execute("INSERT INTO assignments (assignment_id, incident_id, unit, role, status, round, dispatched_by, "
                     "dispatched_at, accept_due_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
                     [assignment_id, incident_id, unit, role, rnd, actor.username, to_db(now),
                      to_db(now + self.cfg.work_orders.accept_within)])
        return assignment_id

    def _check_covers(self, code: str, row: dict) -> None:
        unit = self.units[code]
        if not unit.covers(str(row["area_code"])):
            raise ServiceError(f"{unit.name}不负责该事件所在区域", detail=f"{code} does not cover {row['area_code']}")

    def _routing(self, lead_unit: str, row: dict) -> dict:
        """The incident's department and level follow its lead unit (a territorial unit sets its level)."""
        unit = self.units[lead_unit]
        if unit.kind == "department":
            return {"department": lead_unit}
        return {"level": unit.kind}

    def _lead_of(self, conn, actor: Actor, incident_id: int) -> None:
        """A unit's user may act on the case itself (挂账) only as its accepted lead unit."""
        hit = conn.execute("SELECT count(*) FROM assignments WHERE incident_id = ? AND unit = ? AND role = 'lead' "
                           "AND status = 'accepted'", [incident_id, actor.unit]).fetchall()[0][0]
        if not hit:
            raise PermissionDenied("只有已签收的主办单位可以挂账", detail=f"{actor.unit} is not the lead of {incident_id}")
