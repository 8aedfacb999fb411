"""The incident lifecycle as data: statuses and actions, who may take them, and the errors they raise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ops_center.core.domains import OPEN_STATUSES, STATUS_NAMES


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


# The lifecycle graph (SPEC §6) as data: action -> {from status: to status}.
TRANSITIONS: dict[str, dict[str, str]] = {
    "acknowledge": {"new": "acknowledged"},
    "dispatch": {"acknowledged": "dispatched", "dispatched": "dispatched"},
    "resolve": {"dispatched": "resolved"},
    "close": {"resolved": "closed"},
    "verify_fail": {"resolved": "dispatched"},
    "reopen": {"closed": "dispatched", "false_alarm": "acknowledged"},
    "false_alarm": {s: "false_alarm" for s in OPEN_STATUSES},
    "merge": {s: "merged" for s in OPEN_STATUSES},
    # Taken only by the product itself (role "system"): the source closed its request, or a reading
    # came back in range on a rule with `auto_resolve`.
    "source_close": {s: "closed" for s in (*OPEN_STATUSES, "resolved")},
    "auto_resolve": {s: "resolved" for s in OPEN_STATUSES},
}
SYSTEM_ACTIONS = frozenset({"source_close", "auto_resolve"})
# Actions that keep the status, and the statuses they are allowed in.
IN_PLACE: dict[str, tuple[str, ...]] = {
    "escalate": OPEN_STATUSES,
    "set_domain": OPEN_STATUSES,
    "request_extension": ("acknowledged", "dispatched"),
    "decide_extension": OPEN_STATUSES,
    "add_note": tuple(STATUS_NAMES),
}
ACTIONS = (*TRANSITIONS, *IN_PLACE)
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset(),
    "officer": frozenset(ACTIONS) - {"decide_extension"} - SYSTEM_ACTIONS,
    "leader": frozenset({"add_note", "decide_extension"}),
    "admin": frozenset(ACTIONS) - SYSTEM_ACTIONS,
    "system": SYSTEM_ACTIONS,
}
ACTION_NAMES = {
    "acknowledge": "受理", "dispatch": "派遣", "resolve": "处置完成", "close": "核查结案",
    "verify_fail": "核查不通过", "reopen": "重新打开", "false_alarm": "标记误报", "merge": "合并",
    "escalate": "上报", "set_domain": "分类", "request_extension": "申请延期",
    "decide_extension": "审批延期", "add_note": "备注",
    "source_close": "来源结案", "auto_resolve": "自动恢复",
}


def allowed_actions(status: str, role: str) -> tuple[str, ...]:
    """Actions a role may take on an incident in `status` (what the console should offer)."""
    mine = ROLE_ACTIONS.get(role, frozenset())
    return tuple(a for a in ACTIONS if a in mine and (status in TRANSITIONS.get(a, {}) or status in IN_PLACE.get(a, ())))


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: role from ROLES, scope an area-code prefix the actor may act inside."""

    username: str
    role: str
    scope: str

    @classmethod
    def of(cls, user: Any) -> Actor:
        """From a configured user (or anything with username, role and scope)."""
        return cls(user.username, user.role, user.scope)


@dataclass(frozen=True, slots=True)
class BulkResult:
    incident_id: int
    ok: bool
    error: str | None = None  # ServiceError subclass name
    message: str | None = None  # its Chinese user_message
