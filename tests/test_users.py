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


# --- users of the responsible units (issue 15): the unit, validated and audited like the other fields ---

JIANHUA = "510108002002"  # 建华社区, under 猛追湾街道 510108002


def new_user(**kwargs) -> dict:
    args = {"username": "unit_new", "name": "新办件员", "role": "unit", "scope": "510108", "password": "long-enough"}
    args.update(kwargs)
    return args


def test_create_a_department_unit_user_who_logs_in_with_the_unit(store, cfg, fixed_now):
    row = users.create_user(store, cfg, ADMIN, now=fixed_now, **new_user(unit="urban_mgmt"))
    assert row == users.UserRow("unit_new", "新办件员", "unit", "510108", True, "urban_mgmt")
    assert store.query("SELECT unit FROM users WHERE username = 'unit_new'") == [("urban_mgmt",)]
    logged_in = check_password(store, cfg, "unit_new", "long-enough")
    assert (logged_in.role, logged_in.unit, logged_in.may_open("tasks")) == ("unit", "urban_mgmt", True)
    [(_, action, _, detail)] = audit_rows(store)
    assert action == "user.create"
    assert json.loads(detail) == {"name": "新办件员", "role": "unit", "scope": "510108", "unit": "urban_mgmt"}
    assert list(queries_admin.users(store).query("username == 'unit_new'")["unit"]) == ["urban_mgmt"]


@pytest.mark.parametrize(("unit", "scope"), [
    (f"community:{JIANHUA}", JIANHUA),  # the community itself
    (f"community:{JIANHUA}", JIANHUA + "001"),  # one of its grids
    ("street:510108002", "510108002"),
    ("street:510108002", JIANHUA),  # a street office's user may work on one of its communities
])
def test_a_territorial_unit_user_works_inside_the_unit_area(store, cfg, fixed_now, unit, scope):
    row = users.create_user(store, cfg, ADMIN, now=fixed_now, **new_user(unit=unit, scope=scope))
    assert (row.unit, row.scope) == (unit, scope)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"unit": None}, "责任单位用户须选择所属单位"),
    ({"unit": ""}, "责任单位用户须选择所属单位"),
    ({"unit": "no_such_bureau"}, "未知的责任单位 'no_such_bureau'：须为职能部门代码"),
    ({"unit": "community:510108002"}, "未知的责任单位 'community:510108002'"),  # a street is not a community
    ({"unit": "community:510108002999"}, "未知的责任单位"),  # no such community
    ({"unit": f"community:{JIANHUA}", "scope": "510108"}, "建华社区居委会的用户辖区须在建华社区（510108002002）之内"),
    ({"unit": f"community:{JIANHUA}", "scope": "510108002003"}, "510108002003 不在其中"),  # the neighbour
    ({"unit": "street:510108002", "scope": "510108004"}, "猛追湾街道办事处的用户辖区须在猛追湾街道"),
    *[({"role": role, "unit": "urban_mgmt"}, f"只有责任单位用户有所属单位，{name}不能选择单位")
      for role, name in (("viewer", "巡屏值守"), ("officer", "值班员"), ("shift_lead", "值班长"), ("leader", "领导"),
                         ("admin", "管理员"), ("grid", "网格员"))],
])
def test_a_wrong_unit_is_refused_with_a_message_and_nothing_is_written(store, cfg, fixed_now, kwargs, message):
    with pytest.raises(users.UserAdminError, match=message):
        users.create_user(store, cfg, ADMIN, now=fixed_now, **new_user(**kwargs))
    assert store.query("SELECT count(*) FROM users WHERE username = 'unit_new'") == [(0,)]
    assert audit_rows(store) == []


def test_update_gives_moves_and_takes_a_unit_and_audits_each_change(store, cfg, fixed_now):
    users.update_user(store, cfg, ADMIN, "viewer", role="unit", unit="urban_mgmt", now=fixed_now)
    users.update_user(store, cfg, ADMIN, "viewer", unit=f"community:{JIANHUA}", scope=JIANHUA, now=fixed_now)
    users.update_user(store, cfg, ADMIN, "viewer", name="建华办件员", now=fixed_now)  # the unit stays
    assert store.query("SELECT role, unit, scope, name FROM users WHERE username = 'viewer'") == [
        ("unit", f"community:{JIANHUA}", JIANHUA, "建华办件员")]
    users.update_user(store, cfg, ADMIN, "viewer", role="officer", now=fixed_now)  # a center role has no unit
    assert store.query("SELECT role, unit FROM users WHERE username = 'viewer'") == [("officer", None)]
    details = [json.loads(d) for _, action, _, d in audit_rows(store) if action == "user.update"]
    assert details == [
        {"role": ["viewer", "unit"], "unit": [None, "urban_mgmt"]},
        {"scope": ["510108", JIANHUA], "unit": ["urban_mgmt", f"community:{JIANHUA}"]},
        {"name": ["巡屏值守", "建华办件员"]},
        {"role": ["unit", "officer"], "unit": [f"community:{JIANHUA}", None]},
    ]


@pytest.mark.parametrize(("username", "kwargs", "message"), [
    ("viewer", {"role": "unit"}, "责任单位用户须选择所属单位"),
    ("viewer", {"unit": "urban_mgmt"}, "只有责任单位用户有所属单位，巡屏值守不能选择单位"),
    ("officer", {"role": "shift_lead", "unit": "urban_mgmt"}, "值班长不能选择单位"),
    ("unit_cg", {"unit": "nowhere"}, "未知的责任单位 'nowhere'"),
    ("unit_cg", {"unit": f"community:{JIANHUA}"}, "用户辖区须在建华社区"),  # its scope 510108 stays: outside
    ("unit_jh", {"scope": "510108002003"}, "建华社区居委会的用户辖区须在建华社区"),  # moved out of its community
])
def test_update_refuses_a_wrong_unit_and_changes_nothing(store, cfg, fixed_now, username, kwargs, message):
    before = store.query("SELECT role, unit, scope FROM users WHERE username = ?", [username])
    with pytest.raises(users.UserAdminError, match=message):
        users.update_user(store, cfg, ADMIN, username, now=fixed_now, **kwargs)
    assert store.query("SELECT role, unit, scope FROM users WHERE username = ?", [username]) == before
    assert audit_rows(store) == []
