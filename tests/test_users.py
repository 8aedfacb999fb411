"""User administration: admin-only in the service layer, every change audited, passwords never logged."""

from __future__ import annotations

import json

import pytest
from werkzeug.security import check_password_hash

from ops_center.read import queries_admin
from ops_center.service import users
from ops_center.service.incidents import Actor, PermissionDenied
from ops_center.store.store import Store
from ops_center.web.auth import check_password, seed_users

ADMIN = Actor("admin", "admin", "510108")


@pytest.fixture
def store(db_path, cfg, fixed_now):
    s = Store(db_path)
    seed_users(s, cfg, fixed_now)
    yield s
    s.close()


def audit_rows(store):
    return store.query("SELECT actor, action, target, CAST(detail AS VARCHAR) FROM audit_log ORDER BY audit_id")


def test_create_user_hashes_password_and_audits(store, cfg, fixed_now):
    row = users.create_user(
        store, cfg, ADMIN, username="analyst", name="统计员", role="leader", scope="510108002",
        password="s3cret-pass", now=fixed_now,
    )
    assert row == users.UserRow("analyst", "统计员", "leader", "510108002", True)
    stored = store.query("SELECT password_hash FROM users WHERE username = 'analyst'")[0][0]
    assert stored != "s3cret-pass" and check_password_hash(stored, "s3cret-pass")
    assert check_password(store, cfg, "analyst", "s3cret-pass").role == "leader"
    [(actor, action, target, detail)] = audit_rows(store)
    assert (actor, action, target) == ("admin", "user.create", "user:analyst")
    assert json.loads(detail) == {"name": "统计员", "role": "leader", "scope": "510108002"}
    assert "s3cret" not in detail


@pytest.mark.parametrize("role", ["viewer", "officer", "leader"])
def test_only_admin_may_manage_users(store, cfg, fixed_now, role):
    actor = Actor("someone", role, "510108")
    calls = [
        lambda: users.create_user(store, cfg, actor, username="x1", name="X", role="admin", scope="510108",
                                  password="password1", now=fixed_now),
        lambda: users.update_user(store, cfg, actor, "viewer", role="admin", now=fixed_now),
        lambda: users.set_active(store, actor, "viewer", False, now=fixed_now),
        lambda: users.reset_password(store, actor, "admin", "password1", now=fixed_now),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    assert [(a, act) for a, act, _, _ in audit_rows(store)] == [
        ("someone", "denied:user.create"),
        ("someone", "denied:user.update"),
        ("someone", "denied:user.deactivate"),
        ("someone", "denied:user.reset_password"),
    ]
    assert store.query("SELECT role, active FROM users WHERE username = 'viewer'") == [("viewer", True)]


def test_update_role_scope_deactivate_and_reset_are_audited(store, cfg, fixed_now):
    users.update_user(store, cfg, ADMIN, "viewer", role="officer", scope="510108002", now=fixed_now)
    users.set_active(store, ADMIN, "viewer", False, now=fixed_now)
    users.reset_password(store, ADMIN, "leader", "new-password-1", now=fixed_now)
    assert check_password(store, cfg, "viewer", "viewer2026") is None  # deactivated
    assert check_password(store, cfg, "leader", "new-password-1") is not None
    actions = [(a, act, t) for a, act, t, _ in audit_rows(store)]
    assert actions == [
        ("admin", "user.update", "user:viewer"),
        ("admin", "user.deactivate", "user:viewer"),
        ("admin", "user.reset_password", "user:leader"),
    ]
    assert json.loads(audit_rows(store)[0][3]) == {"role": ["viewer", "officer"], "scope": ["510108", "510108002"]}
    log = queries_admin.audit_log(store, actor="admin")
    assert list(log["action"]) == ["user.reset_password", "user.deactivate", "user.update"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"username": "Bad Name"}, "用户名"),
        ({"role": "superuser"}, "未知角色"),
        ({"scope": "999999"}, "辖区"),
        ({"password": "short"}, "密码至少"),
        ({"username": "viewer"}, "已存在"),
    ],
)
def test_bad_input_is_refused_with_a_message(store, cfg, fixed_now, kwargs, message):
    args = {"username": "newbie", "name": "新人", "role": "viewer", "scope": "510108", "password": "long-enough"}
    args.update(kwargs)
    with pytest.raises(users.UserAdminError, match=message):
        users.create_user(store, cfg, ADMIN, now=fixed_now, **args)
    assert audit_rows(store) == []


def test_admin_cannot_lock_themselves_out(store, cfg, fixed_now):
    with pytest.raises(users.UserAdminError, match="自己"):
        users.set_active(store, ADMIN, "admin", False, now=fixed_now)
    with pytest.raises(users.UserAdminError, match="自己"):
        users.update_user(store, cfg, ADMIN, "admin", role="viewer", now=fixed_now)
    assert store.query("SELECT role, active FROM users WHERE username = 'admin'") == [("admin", True)]
