"""The incident lifecycle as data, defined once: every status change, by a person or by the product, is a step here.

Each `Step` names an action, the kind of actor that takes it and, for each status it may start from,
the status it leads to (the same status for an action that keeps it). The incident service checks
people's actions against it; the pipeline's source and sensor steps and the SLA sweep take their
from- and to-statuses from it (the bulk paths stay set-based SQL, with these statuses as parameters);
the synthetic history replays it. Legal steps, as a 12345 / 城运 dispatcher expects them (SPEC §6):

- people (person): 督办 (`supervise`, leaders) marks an open incident supervised and keeps its status;
  new → acknowledged → dispatched (→ dispatched: 改派) → resolved → closed (核查通过);
  resolved → dispatched (核查不通过); closed → dispatched and false_alarm → acknowledged (reopen);
  any open status → false_alarm or merged. `resolve` only from dispatched: a person resolves what was sent out.
- the source (source): `source_close` — the source system (12345) closed its request: any open status or
  resolved → closed. The hotline owns its request, so a `new` request it answered itself closes here too.
- a sensor rule (sensor): `auto_resolve` — the reading came back in range on a rule with `auto_resolve`
  (or a silent feed spoke again): any open status → resolved. Resolved is not closed: the incident
  waits for a person's verification (close, or verify_fail back to dispatched), even when nobody had
  acknowledged it yet — the condition ended before anyone acted, and someone still checks.
- the SLA sweep (sla): `warned`, `escalated`, `overdue` keep the status and apply to open incidents only;
  the acknowledge clock runs (and escalates) only in the statuses `acknowledge` starts from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ops_center.core.domains import OPEN_STATUSES, STATUSES


class ServiceError(Exception):
    """An action was refused; `user_message` is what the console shows (Chinese), str() is for logs."""

    user_message = "操作失败"

    def __init__(self, user_message: str | None = None, *, detail: str = ""):
        if user_message:
            self.user_message = user_message
        super().__init__(detail or self.user_message)


class PermissionDenied(ServiceError):
    user_message = "没有权限执行该操作"


class Conflict(ServiceError):
    user_message = "该事件已被他人处理，请刷新后重试"


class InvalidTransition(ServiceError):
    user_message = "当前状态下不能执行该操作"


class NotFound(ServiceError):
    user_message = "事件不存在"


ACTOR_KINDS = ("person", "source", "sensor", "sla")


@dataclass(frozen=True, slots=True)
class Step:
    """One named action of the lifecycle: who takes it, and from which statuses to which."""

    action: str
    actor: str  # one of ACTOR_KINDS
    moves: Mapping[str, str]  # from status -> to status (equal: the action keeps the status)
    name: str  # Chinese, for the console and the audit log

    @property
    def changes_status(self) -> bool:
        return any(frm != to for frm, to in self.moves.items())


def _to(target: str, *froms: str) -> Mapping[str, str]:
    return MappingProxyType(dict.fromkeys(froms, target))


def _stay(*statuses: str) -> Mapping[str, str]:
    return MappingProxyType({s: s for s in statuses})


STEPS: tuple[Step, ...] = (
    Step("acknowledge", "person", _to("acknowledged", "new"), "受理"),
    Step("dispatch", "person", MappingProxyType({"acknowledged": "dispatched", "dispatched": "dispatched"}), "派遣"),
    Step("resolve", "person", _to("resolved", "dispatched"), "处置完成"),
    Step("close", "person", _to("closed", "resolved"), "核查结案"),
    Step("verify_fail", "person", _to("dispatched", "resolved"), "核查不通过"),
    Step("reopen", "person", MappingProxyType({"closed": "dispatched", "false_alarm": "acknowledged"}), "重新打开"),
    Step("false_alarm", "person", _to("false_alarm", *OPEN_STATUSES), "标记误报"),
    Step("merge", "person", _to("merged", *OPEN_STATUSES), "合并"),
    Step("escalate", "person", _stay(*OPEN_STATUSES), "上报"),
    Step("set_domain", "person", _stay(*OPEN_STATUSES), "分类"),
    Step("request_extension", "person", _stay("acknowledged", "dispatched"), "申请延期"),
    Step("decide_extension", "person", _stay(*OPEN_STATUSES), "审批延期"),
    Step("add_note", "person", _stay(*STATUSES), "备注"),
    # The work order with the responsible units (WorkOrderService): a unit's steps keep the case dispatched
    # until the lead unit's feedback resolves it; co-handlers' feedback only adds to the timeline.
    Step("accept", "person", _stay("dispatched"), "签收"),
    Step("return_order", "person", _stay("dispatched"), "退单"),
    Step("decide_return", "person", _stay("dispatched"), "退单裁定"),
    Step("feedback", "person", _to("resolved", "dispatched"), "处置反馈"),
    Step("co_feedback", "person", _stay("dispatched", "resolved"), "协办反馈"),
    Step("hang", "person", _stay("dispatched"), "挂账"),
    Step("unhang", "person", _stay("dispatched"), "解除挂账"),
    Step("remind", "person", _stay("dispatched"), "催办"),
    Step("supervise", "person", _stay(*OPEN_STATUSES, "resolved"), "督办"),
    # a leader ends a 督办 record by hand (销号) in any status, or moves its deadline while the case is worked
    Step("close_supervision", "person", _stay(*STATUSES), "督办销号"),
    Step("extend_supervision", "person", _stay(*OPEN_STATUSES, "resolved"), "督办延期"),
    Step("callback", "person", _stay("closed"), "回访"),
    Step("redo", "person", _to("dispatched", "closed"), "重办"),
    Step("source_close", "source", _to("closed", *OPEN_STATUSES, "resolved"), "来源结案"),
    Step("auto_resolve", "sensor", _to("resolved", *OPEN_STATUSES), "自动恢复"),
    Step("warned", "sla", _stay(*OPEN_STATUSES), "预警"),
    Step("escalated", "sla", _stay(*OPEN_STATUSES), "升级"),
    Step("overdue", "sla", _stay(*OPEN_STATUSES), "超期"),
    Step("reminded", "sla", _stay(*OPEN_STATUSES), "自动催办"),
)
STEP_BY_ACTION: Mapping[str, Step] = MappingProxyType({s.action: s for s in STEPS})

# Views of STEPS the service and the console read.
TRANSITIONS: dict[str, dict[str, str]] = {s.action: dict(s.moves) for s in STEPS if s.changes_status}
IN_PLACE: dict[str, tuple[str, ...]] = {s.action: tuple(s.moves) for s in STEPS if not s.changes_status}
ACTIONS = tuple(s.action for s in STEPS)
PERSON_ACTIONS = frozenset(s.action for s in STEPS if s.actor == "person")
# Status changes the product itself makes (IncidentService.system_transitions), and the sweep's steps.
SYSTEM_ACTIONS = frozenset(s.action for s in STEPS if s.actor in ("source", "sensor"))
SLA_ACTIONS = frozenset(s.action for s in STEPS if s.actor == "sla")
# A unit's staff work their own assignments; a grid worker verifies on site; the center does the rest.
UNIT_ACTIONS = frozenset({"accept", "return_order", "feedback", "co_feedback", "request_extension", "hang", "add_note"})
GRID_ACTIONS = frozenset({"close", "verify_fail", "add_note"})
SUPERVISION_ACTIONS = frozenset({"supervise", "close_supervision", "extend_supervision"})  # 督办: leaders' own
_CENTER_ACTIONS = PERSON_ACTIONS - SUPERVISION_ACTIONS - {"decide_extension", "accept", "return_order", "feedback",
                                                          "co_feedback"}
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset(),
    "officer": _CENTER_ACTIONS,
    "shift_lead": _CENTER_ACTIONS | {"decide_extension"},  # the first 延期 (config work_orders.extension_approvers)
    "leader": frozenset({"add_note", "decide_extension"}) | SUPERVISION_ACTIONS,
    "admin": PERSON_ACTIONS,
    "unit": UNIT_ACTIONS,
    "grid": GRID_ACTIONS,
    "system": SYSTEM_ACTIONS,
    # the city center's commands, applied in the district that owns the incident (docs/federation.md)
    "city": frozenset({"supervise", "escalate"}),
}
ACTION_NAMES = {s.action: s.name for s in STEPS}
# Actions that need a written reason (the note): nobody closes a P1 as 误报 or resolves in one silent click.
REASON_REQUIRED = MappingProxyType({
    "false_alarm": "请填写误报原因", "resolve": "请填写处置说明", "reopen": "请填写重新打开的原因",
    "return_order": "请填写退单理由", "decide_return": "请填写改派或强派的理由", "feedback": "请填写处置情况",
    "co_feedback": "请填写协办处置情况", "hang": "请填写挂账理由", "supervise": "请填写督办要求",
    "close_supervision": "请填写销号说明", "extend_supervision": "请填写督办延期的理由",
    "verify_fail": "请填写核查不通过的原因", "redo": "请填写重办原因",
})
# Verification (核查): never by the person who resolved the case.
VERIFY_ACTIONS = frozenset({"close", "verify_fail"})
# Statuses the sweep may act in (every SLA step starts there), and those the acknowledge clock runs in.
SWEPT_STATUSES = tuple(s for s in STATUSES if all(s in STEP_BY_ACTION[a].moves for a in SLA_ACTIONS))
AWAITING_ACK = tuple(STEP_BY_ACTION["acknowledge"].moves)
# Timeline rows that record something without being a lifecycle step (reports, a clear without
# auto-resolve, a 12345 update, the absorbing side of a merge): they never change the status.
RECORDS = frozenset({"created", "repeat", "correlated", "cleared", "hotline_update", "merged"})


def target(action: str, status: str) -> str | None:
    """Where `action` leads from `status`, or None if the lifecycle does not allow it there."""
    step = STEP_BY_ACTION.get(action)
    return step.moves.get(status) if step else None


def from_statuses(action: str) -> tuple[str, ...]:
    """The statuses `action` may start from: what a set-based UPDATE puts in its WHERE."""
    return tuple(STEP_BY_ACTION[action].moves)


def timeline_errors(rows: Iterable[tuple[str, str | None, str | None]]) -> list[str]:
    """Why a timeline, as (action, from_status, to_status) rows oldest first, is not a walk through the lifecycle."""
    errors: list[str] = []
    status = "new"  # what row 0 must create
    for n, (action, frm, to) in enumerate(rows):
        if n == 0:
            if (action, to) != ("created", "new"):
                errors.append(f"row 0: a timeline starts with created → new, not {action} → {to}")
            status = "new"
            continue
        if frm is not None and frm != status:
            errors.append(f"row {n}: {action} says it left {frm}, the incident was {status}")
        if action in RECORDS:
            nxt = status
        elif action in STEP_BY_ACTION:
            moved = target(action, status)
            if moved is None:
                errors.append(f"row {n}: {action} is not allowed in {status}")
            nxt = moved or status
        else:
            errors.append(f"row {n}: {action} is no lifecycle step or record")
            nxt = status
        if to is not None and to != nxt:
            errors.append(f"row {n}: {action} from {status} leads to {nxt}, the row says {to}")
        status = to if to is not None else nxt
    return errors


def allowed_actions(status: str, role: str) -> tuple[str, ...]:
    """Actions a role may take on an incident in `status` (what the console should offer)."""
    mine = ROLE_ACTIONS.get(role, frozenset())
    return tuple(a for a in ACTIONS if a in mine and status in STEP_BY_ACTION[a].moves)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: role from ROLES, scope an area-code prefix the actor may act inside, unit for role unit."""

    username: str
    role: str
    scope: str
    unit: str | None = None

    @classmethod
    def of(cls, user: Any) -> Actor:
        """From a configured user (or anything with username, role, scope and unit)."""
        return cls(user.username, user.role, user.scope, user.unit)


@dataclass(frozen=True, slots=True)
class BulkResult:
    incident_id: int
    ok: bool
    error: str | None = None  # ServiceError subclass name
    message: str | None = None  # its Chinese user_message
