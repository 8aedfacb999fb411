"""User administration: every change is admin-only, checked here (not in the page), and audited."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from werkzeug.security import generate_password_hash

from ops_center.core.config import Config
from ops_center.core.domains import ROLE_NAMES, ROLES
from ops_center.core.lifecycle import Actor
from ops_center.core.units import units
from ops_center.service.incidents import PermissionDenied, ServiceError
from ops_center.store.store import to_db

log = logging.getLogger(__name__)

USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{1,31}$")
MIN_PASSWORD = 8
HASH_METHOD = "pbkdf2:sha256:200000"


class UserAdminError(ServiceError):
    """A user-management request that cannot be done; `user_message` is shown on the page."""


class NotAllowed(PermissionDenied):
    """The actor is not an administrator."""

    user_message = "仅管理员可以管理用户"


@dataclass(frozen=True)
class UserRow:
    username: str
    name: str
    role: str
    scope: str
    active: bool
    unit: str | None = None  # role unit: the responsible unit the user works for


def _require_admin(store: Any, actor: Actor | None, action: str, target: str, now: datetime) -> None:
    """Refuse non-admins, and audit the refused attempt in its own transaction."""
    if actor is not None and actor.role == "admin":
        return
    username = actor.username if actor is not None else "anonymous"
    try:
        store.write(lambda conn: _audit(store, conn, username, f"denied:{action}", target, {}, now))
    except Exception:  # noqa: BLE001 - failing to audit a refusal must not hide the refusal
        log.exception("could not audit a refused %s by %s", action, username)
    raise NotAllowed()


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise UserAdminError(f"未知角色 {role!r}，可选：{'、'.join(f'{r}({ROLE_NAMES[r]})' for r in ROLES)}")


def _check_scope(cfg: Config, scope: str) -> None:
    if scope != cfg.site.city.code and scope not in cfg.area_by_code:
        raise UserAdminError(f"未知的辖区编码 {scope!r}")


def _check_unit(cfg: Config, role: str, unit: str | None, scope: str) -> None:
    """A unit's user names a known unit and works inside its area; nobody else has a unit."""
    if role == "unit" and not unit:
        raise UserAdminError("责任单位用户须选择所属单位")
    if role != "unit" and unit:
        raise UserAdminError(f"只有责任单位用户有所属单位，{ROLE_NAMES.get(role, role)}不能选择单位")
    if not unit:
        return
    found = units(cfg).get(unit)
    if found is None:
        raise UserAdminError(f"未知的责任单位 {unit!r}：须为职能部门代码、community:<社区编码> 或 street:<街道编码>")
    if found.area is not None and not scope.startswith(found.area):
        area = cfg.area_by_code[found.area].name
        raise UserAdminError(f"{found.name}的用户辖区须在{area}（{found.area}）之内，{scope} 不在其中")


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise UserAdminError(f"密码至少 {MIN_PASSWORD} 位")


def _audit(store: Any, conn: Any, actor: str, action: str, target: str, detail: dict, now: datetime) -> None:
    audit_id = store.allocate_ids(conn, "audit_log")
    conn.execute(
        "INSERT INTO audit_log (audit_id, ts, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
        [audit_id, to_db(now), actor, action, f"user:{target}", json.dumps(detail, ensure_ascii=False)],
    )


def _fetch(conn: Any, username: str) -> UserRow:
    row = conn.execute(
        "SELECT username, name, role, scope, active, unit FROM users WHERE username = ?", [username]
    ).fetchall()
    if not row:
        raise UserAdminError(f"用户 {username} 不存在")
    return UserRow(row[0][0], row[0][1], row[0][2], row[0][3], bool(row[0][4]), row[0][5])


def create_user(
    store: Any, cfg: Config, actor: Any, *, username: str, name: str, role: str, scope: str, password: str,
    now: datetime, unit: str | None = None,
) -> UserRow:
    """Add a user with a hashed password; the audit entry never contains the password."""
    _require_admin(store, actor, "user.create", username, now)
    username = (username or "").strip()
    name = (name or "").strip()
    if not USERNAME.match(username):
        raise UserAdminError("用户名须以小写字母开头，2–32 位小写字母、数字或 _.-")
    if not name:
        raise UserAdminError("请填写姓名")
    _check_role(role)
    _check_scope(cfg, scope)
    _check_unit(cfg, role, unit, scope)
    _check_password(password)
    password_hash = generate_password_hash(password, method=HASH_METHOD)

    def write(conn: Any) -> UserRow:
        if conn.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone():
            raise UserAdminError(f"用户 {username} 已存在")
        conn.execute(
            "INSERT INTO users (username, name, role, password_hash, scope, unit, active, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, true, ?)",
            [username, name, role, password_hash, scope, unit, to_db(now)],
        )
        _audit(store, conn, actor.username, "user.create", username,
               {"name": name, "role": role, "scope": scope, **({"unit": unit} if unit else {})}, now)
        return UserRow(username, name, role, scope, True, unit)

    return store.write(write)


def update_user(
    store: Any, cfg: Config, actor: Any, username: str, *, role: str | None = None, scope: str | None = None,
    name: str | None = None, now: datetime, unit: str | None = None,
) -> UserRow:
    """Change role, scope, unit or display name; an admin cannot take the admin role from themselves."""
    _require_admin(store, actor, "user.update", username, now)
    if role is not None:
        _check_role(role)
        if username == actor.username and role != "admin":
            raise UserAdminError("不能取消自己的管理员角色")
    if scope is not None:
        _check_scope(cfg, scope)
    if name is not None and not name.strip():
        raise UserAdminError("姓名不能为空")

    def write(conn: Any) -> UserRow:
        before = _fetch(conn, username)
        new_role = role or before.role
        new_unit = unit if unit is not None else (before.unit if new_role == "unit" else None)
        new_scope = scope or before.scope
        _check_unit(cfg, new_role, new_unit, new_scope)
        after = UserRow(
            username, name.strip() if name is not None else before.name, new_role, new_scope, before.active, new_unit,
        )
        changes = {
            key: [getattr(before, key), getattr(after, key)]
            for key in ("name", "role", "scope", "unit")
            if getattr(before, key) != getattr(after, key)
        }
        if not changes:
            return before
        conn.execute(
            "UPDATE users SET name = ?, role = ?, scope = ?, unit = ?, updated_at = ? WHERE username = ?",
            [after.name, after.role, after.scope, after.unit, to_db(now), username],
        )
        _audit(store, conn, actor.username, "user.update", username, changes, now)
        return after

    return store.write(write)


def set_active(store: Any, actor: Any, username: str, active: bool, *, now: datetime) -> UserRow:
    """Deactivate (or re-activate) a user; deactivated users cannot log in. Never oneself."""
    _require_admin(store, actor, "user.activate" if active else "user.deactivate", username, now)
    if username == actor.username and not active:
        raise UserAdminError("不能停用自己的账号")

    def write(conn: Any) -> UserRow:
        before = _fetch(conn, username)
        if before.active == active:
            return before
        conn.execute("UPDATE users SET active = ?, updated_at = ? WHERE username = ?", [active, to_db(now), username])
        _audit(store, conn, actor.username, "user.activate" if active else "user.deactivate", username, {}, now)
        return UserRow(before.username, before.name, before.role, before.scope, active, before.unit)

    return store.write(write)


def reset_password(store: Any, actor: Any, username: str, password: str, *, now: datetime) -> None:
    """Set a new password hash; the audit entry records that it happened, not the password."""
    _require_admin(store, actor, "user.reset_password", username, now)
    _check_password(password)
    password_hash = generate_password_hash(password, method=HASH_METHOD)

    def write(conn: Any) -> None:
        _fetch(conn, username)
        conn.execute(
            "UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?", [password_hash, to_db(now), username]
        )
        _audit(store, conn, actor.username, "user.reset_password", username, {}, now)

    store.write(write)
