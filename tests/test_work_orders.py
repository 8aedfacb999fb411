"""WorkOrderService: every work-order transition between the center and the units, and every refusal."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ops_center.core.lifecycle import (
    REASON_REQUIRED,
    ROLE_ACTIONS,
    Actor,
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ServiceError,
    allowed_actions,
)
from ops_center.core.units import approver_role, units
from ops_center.service.bus import IncidentTransitioned, UnitReminded, WorkOrderChanged
from ops_center.service.incidents import IncidentService
from ops_center.service.sweep import load_open, sweep
from tests.factories import FixedClock, make_incident, policy_for
from tests.fixtures_work_orders import GRID, JIANHUA, OTHER_STREET_COMMUNITY


def case(store, cfg, now, **kw):
    """An acknowledged city-management case in 建华社区第1网格, ready to dispatch."""
    spec = {"status": "acknowledged", "domain": "city_management", "severity": "P3", "area_code": GRID, **kw}
    return make_incident(store, cfg, now=now, **spec)


def assignment(store, assignment_id):
    cols = ["unit", "role", "status", "round", "accept_due_at", "accepted_late", "returns", "decision", "replaced_by"]
    row = store.query(f"SELECT {', '.join(cols)} FROM assignments WHERE assignment_id = ?", [assignment_id])[0]
    return dict(zip(cols, row, strict=True))


def last_timeline(wo, iid):
    t = wo.incidents.timeline(iid, include_merged=False).iloc[-1]
    return t.actor, t.action, t.from_status, t.to_status, t.note


def dispatched(wo, store, cfg, now, u, co=(JIANHUA,)):
    """A case sent to 城管局 (lead) and 建华社区 (co); returns (incident id, lead id, co ids)."""
    iid = case(store, cfg, now)
    row = wo.dispatch(u["officer"], iid, 1, "urban_mgmt", co, note="请城管局主办，社区协办")
    return iid, row["assignment_ids"][0], row["assignment_ids"][1:]


def accepted(wo, store, cfg, now, u):
    iid, lead, co = dispatched(wo, store, cfg, now, u)
    wo.accept(u["unit_cg"], lead)
    return iid, lead, co


# --- units and roles -------------------------------------------------------------------------

def test_units_come_from_config(cfg):
    found = units(cfg)
    assert found["urban_mgmt"].name == "城管局" and found["urban_mgmt"].covers(GRID)
    assert found[JIANHUA].name == "建华社区居委会" and found[JIANHUA].covers(GRID)
    assert found["street:510108002"].name == "猛追湾街道办事处"
    assert not found[OTHER_STREET_COMMUNITY].covers(GRID)
    assert found[JIANHUA].covers("510108002")  # a street-level case may go down to its community
    assert (approver_role(cfg, 0), approver_role(cfg, 1), approver_role(cfg, 5)) == ("shift_lead", "leader", "leader")


def test_roles_of_the_work_order():
    assert set(allowed_actions("dispatched", "unit")) == {"accept", "return_order", "feedback", "co_feedback",
                                                          "request_extension", "hang", "add_note"}
    assert set(allowed_actions("resolved", "grid")) == {"close", "verify_fail", "add_note", "co_feedback"} - {
        "co_feedback"}
    assert ROLE_ACTIONS["shift_lead"] == ROLE_ACTIONS["officer"] | {"decide_extension"}
    assert "supervise" in ROLE_ACTIONS["leader"] and "supervise" not in ROLE_ACTIONS["officer"]
    assert not {"accept", "feedback", "return_order"} & ROLE_ACTIONS["officer"]


# --- dispatch ----------------------------------------------------------------------------------

def test_dispatch_to_a_lead_and_a_co_handler(wo, store, cfg, fixed_now, u, events, bus):
    iid, lead, (co,) = dispatched(wo, store, cfg, fixed_now, u)
    row = wo.incidents.get(iid)
    assert (row["status"], row["department"], row["version"]) == ("dispatched", "urban_mgmt", 2)
    assert assignment(store, lead) | {"accept_due_at": None} == {
        "unit": "urban_mgmt", "role": "lead", "status": "pending", "round": 1, "accept_due_at": None,
        "accepted_late": None, "returns": 0, "decision": None, "replaced_by": None}
    assert assignment(store, lead)["accept_due_at"] == (fixed_now + timedelta(hours=2)).replace(tzinfo=None)
    assert (assignment(store, co)["unit"], assignment(store, co)["role"]) == (JIANHUA, "co")
    assert last_timeline(wo, iid)[:4] == ("officer", "dispatch", "acknowledged", "dispatched")
    bus.drain()
    assert any(isinstance(e, WorkOrderChanged) and e.action == "dispatch" and e.unit == "urban_mgmt" for e in events)


def test_redispatch_cancels_the_open_assignments(wo, store, cfg, fixed_now, u):
    iid, lead, (co,) = dispatched(wo, store, cfg, fixed_now, u)
    row = wo.dispatch(u["officer"], iid, 2, "street:510108002", (), note="改由街道办主办")
    assert [assignment(store, a)["status"] for a in (lead, co)] == ["cancelled", "cancelled"]
    assert assignment(store, row["assignment_ids"][0])["status"] == "pending"
    assert wo.incidents.get(iid)["level"] == "street"


@pytest.mark.parametrize(("lead", "co", "message"), [
    ("nobody", (), "未知的责任单位"),
    ("urban_mgmt", ("urban_mgmt",), "主办单位不能同时是协办单位"),
    (OTHER_STREET_COMMUNITY, (), "不负责该事件所在区域"),
    ("urban_mgmt", (OTHER_STREET_COMMUNITY,), "不负责该事件所在区域"),
])
def test_dispatch_refuses_bad_units(wo, store, cfg, fixed_now, u, lead, co, message):
    iid = case(store, cfg, fixed_now)
    with pytest.raises(ServiceError) as err:
        wo.dispatch(u["officer"], iid, 1, lead, co)
    assert message in err.value.user_message
    assert wo.incidents.get(iid)["version"] == 1
    assert store.query("SELECT count(*) FROM assignments")[0][0] == 0


@pytest.mark.parametrize("user", ["unit_cg", "grid_jh1", "leader", "viewer"])
def test_dispatch_refuses_other_roles(wo, store, cfg, fixed_now, u, user):
    iid = case(store, cfg, fixed_now)
    with pytest.raises(PermissionDenied):
        wo.dispatch(u[user], iid, 1, "urban_mgmt")
    assert store.query("SELECT action FROM audit_log WHERE actor = ?", [user]) == [("denied:dispatch",)]


def test_dispatch_refuses_scope_version_and_status(wo, store, cfg, fixed_now, u):
    outside = case(store, cfg, fixed_now, area_code="510108004003001")
    with pytest.raises(PermissionDenied):
        wo.dispatch(u["officer_mzw"], outside, 1, "urban_mgmt")
    iid = case(store, cfg, fixed_now)
    with pytest.raises(Conflict):
        wo.dispatch(u["officer"], iid, 7, "urban_mgmt")
    fresh = case(store, cfg, fixed_now, status="new")
    with pytest.raises(InvalidTransition):
        wo.dispatch(u["officer"], fresh, 1, "urban_mgmt")


# --- 签收 -----------------------------------------------------------------------------------------

def test_accept_on_time_and_late(wo, store, cfg, fixed_now, clock, u):
    iid, lead, (co,) = dispatched(wo, store, cfg, fixed_now, u)
    wo.accept(u["unit_cg"], lead)
    assert (assignment(store, lead)["status"], assignment(store, lead)["accepted_late"]) == ("accepted", False)
    assert last_timeline(wo, iid)[:4] == ("unit_cg", "accept", "dispatched", "dispatched")
    clock.advance(hours=3)
    wo.accept(u["unit_jh"], co)
    assert assignment(store, co)["accepted_late"] is True


def test_accept_refusals(wo, store, cfg, fixed_now, u):
    iid, lead, (co,) = dispatched(wo, store, cfg, fixed_now, u)
    with pytest.raises(PermissionDenied) as err:
        wo.accept(u["unit_jh"], lead)  # another unit's order
    assert err.value.user_message == "该工单不属于本单位"
    assert store.query("SELECT action FROM audit_log WHERE actor = 'unit_jh'") == [("denied:accept",)]
    with pytest.raises(PermissionDenied):
        wo.accept(u["officer"], lead)  # the center does not accept for the unit
    narrow = Actor("cg_sq", "unit", "510108004", "urban_mgmt")  # 城管 staff scoped to another street
    with pytest.raises(PermissionDenied) as err:
        wo.accept(narrow, lead)
    assert "管辖范围" in err.value.user_message
    wo.accept(u["unit_cg"], lead)
    with pytest.raises(InvalidTransition):
        wo.accept(u["unit_cg"], lead)
    with pytest.raises(NotFound):
        wo.accept(u["unit_cg"], 999)
    assert assignment(store, co)["status"] == "pending"


# --- 退单 and the center's ruling -----------------------------------------------------------------

def test_return_then_reassign(wo, store, cfg, fixed_now, u):
    iid, lead, _ = dispatched(wo, store, cfg, fixed_now, u)
    with pytest.raises(ServiceError) as err:
        wo.return_order(u["unit_cg"], lead, "  ")
    assert err.value.user_message == REASON_REQUIRED["return_order"]
    wo.return_order(u["unit_cg"], lead, "不属于城管职责，应由水务局处理")
    assert (assignment(store, lead)["status"], assignment(store, lead)["returns"]) == ("returned", 1)
    assert last_timeline(wo, iid)[1:] == ("return_order", "dispatched", "dispatched", "不属于城管职责，应由水务局处理")
    with pytest.raises(InvalidTransition):
        wo.return_order(u["unit_cg"], lead, "再退一次")
    with pytest.raises(InvalidTransition):
        wo.accept(u["unit_cg"], lead)
    with pytest.raises(PermissionDenied):
        wo.decide_return(u["unit_cg"], lead, "reassign", "water", "自己改派")
    with pytest.raises(ServiceError) as err:
        wo.decide_return(u["officer"], lead, "reassign", "water", "")
    assert err.value.user_message == REASON_REQUIRED["decide_return"]
    with pytest.raises(ServiceError):
        wo.decide_return(u["officer"], lead, "reassign", "urban_mgmt", "同一单位")
    with pytest.raises(ServiceError):
        wo.decide_return(u["officer"], lead, "reassign", None, "没选单位")
    with pytest.raises(ServiceError):
        wo.decide_return(u["officer"], lead, "maybe", None, "未知裁定")
    wo.decide_return(u["officer"], lead, "reassign", "water", "改派水务局")
    old = assignment(store, lead)
    assert (old["status"], old["decision"]) == ("cancelled", "reassign")
    new = assignment(store, old["replaced_by"])
    assert (new["unit"], new["role"], new["status"]) == ("water", "lead", "pending")
    assert wo.incidents.get(iid)["department"] == "water"
    audit = store.query("SELECT actor, action, detail FROM audit_log WHERE action = 'decide_return'")
    assert audit[0][0] == "officer" and json.loads(audit[0][2])["decision"] == "reassign"


def test_return_then_force_cannot_be_returned_again(wo, store, cfg, fixed_now, clock, u):
    iid, lead, _ = dispatched(wo, store, cfg, fixed_now, u)
    wo.accept(u["unit_cg"], lead)
    with pytest.raises(InvalidTransition):
        wo.decide_return(u["officer"], lead, "force", None, "未退单")  # nothing to rule on
    wo.return_order(u["unit_cg"], lead, "人手不足")
    clock.advance(minutes=10)
    wo.decide_return(u["officer"], lead, "force", None, "属城管职责，强派")
    a = assignment(store, lead)
    assert (a["status"], a["decision"]) == ("pending", "force")
    assert a["accept_due_at"] == (clock.now + timedelta(hours=2)).replace(tzinfo=None)
    with pytest.raises(InvalidTransition) as err:
        wo.return_order(u["unit_cg"], lead, "还是不想办")
    assert "强派" in err.value.user_message


# --- 处置反馈 --------------------------------------------------------------------------------------

def test_feedback_by_co_handler_and_lead(wo, store, cfg, fixed_now, u, events, bus):
    iid, lead, (co,) = dispatched(wo, store, cfg, fixed_now, u)
    with pytest.raises(InvalidTransition) as err:
        wo.feedback(u["unit_cg"], lead, "已处理")
    assert err.value.user_message == "请先签收工单再反馈"
    wo.accept(u["unit_cg"], lead)
    wo.accept(u["unit_jh"], co)
    with pytest.raises(PermissionDenied):
        wo.feedback(u["unit_jh"], lead, "替主办反馈")
    with pytest.raises(ServiceError):
        wo.feedback(u["unit_jh"], co, "")
    wo.feedback(u["unit_jh"], co, "社区已劝离摊贩", photos=["p-co-1"])
    assert wo.incidents.get(iid)["status"] == "dispatched"
    assert last_timeline(wo, iid)[:4] == ("unit_jh", "co_feedback", "dispatched", "dispatched")
    row = wo.feedback(u["unit_cg"], lead, "占道摊点已清理", photos=["p1", "p2"])
    assert (row["status"], row["resolved_at"]) == ("resolved", fixed_now)
    assert last_timeline(wo, iid)[:4] == ("unit_cg", "feedback", "dispatched", "resolved")
    stored = store.query("SELECT unit, role, author, note, photos FROM feedback ORDER BY feedback_id")
    assert stored == [(JIANHUA, "co", "unit_jh", "社区已劝离摊贩", ["p-co-1"]),
                      ("urban_mgmt", "lead", "unit_cg", "占道摊点已清理", ["p1", "p2"])]
    with pytest.raises(InvalidTransition):
        wo.feedback(u["unit_cg"], lead, "再反馈一次")
    bus.drain()
    assert ("dispatched", "resolved", "unit_cg") in [(e.from_status, e.to_status, e.actor) for e in events
                                                      if isinstance(e, IncidentTransitioned)]


# --- 延期 ------------------------------------------------------------------------------------------

def test_extensions_first_by_shift_lead_second_by_leader(wo, store, cfg, fixed_now, u):
    iid, lead, (co,) = accepted(wo, store, cfg, fixed_now, u)
    due = wo.incidents.get(iid)["resolve_due_at"]
    wo.accept(u["unit_jh"], co)
    with pytest.raises(InvalidTransition):
        wo.request_extension(u["unit_jh"], co, 3600, "协办不能申请")
    with pytest.raises(ServiceError):
        wo.request_extension(u["unit_cg"], lead, 3600, " ")
    with pytest.raises(ServiceError):
        wo.request_extension(u["unit_cg"], lead, 0, "零时长")
    first = wo.request_extension(u["unit_cg"], lead, 86400, "需协调施工队")
    with pytest.raises(ServiceError):
        wo.request_extension(u["unit_cg"], lead, 3600, "重复申请")
    assert store.query("SELECT approver_role, assignment_id FROM extensions WHERE extension_id = ?", [first]) == [
        ("shift_lead", lead)]
    with pytest.raises(PermissionDenied):
        wo.decide_extension(u["officer"], first, True)
    with pytest.raises(PermissionDenied):
        wo.decide_extension(u["unit_cg"], first, True)
    wo.decide_extension(u["shiftlead"], first, True, "同意")
    row = wo.incidents.get(iid)
    assert row["resolve_due_at"] > due and row["paused_seconds"] == 86400
    second = wo.request_extension(u["unit_cg"], lead, 3600, "材料未到")
    with pytest.raises(PermissionDenied) as err:
        wo.decide_extension(u["shiftlead"], second, True)
    assert "第2次延期须由领导审批" in err.value.user_message
    assert store.query("SELECT status FROM extensions WHERE extension_id = ?", [second]) == [("pending",)]
    wo.decide_extension(u["leader"], second, False, "不同意")
    assert store.query("SELECT status, decided_by, decision_note FROM extensions WHERE extension_id = ?",
                       [second]) == [("rejected", "leader", "不同意")]
    with pytest.raises(NotFound):
        wo.decide_extension(u["leader"], 999, True)


# --- 挂账 ------------------------------------------------------------------------------------------

def test_hung_case_leaves_the_overdue_sweep(wo, store, cfg, fixed_now, clock, u):
    iid, lead, _ = accepted(wo, store, cfg, fixed_now, u)
    policy = policy_for(cfg)
    with pytest.raises(ServiceError):
        wo.hang(u["unit_cg"], iid, 2, "forever", "长期")
    with pytest.raises(ServiceError):
        wo.hang(u["unit_cg"], iid, 2, "engineering", "")
    with pytest.raises(PermissionDenied):
        wo.hang(u["unit_jh"], iid, 2, "engineering", "协办不能挂账")
    with pytest.raises(PermissionDenied):
        wo.hang(u["grid_jh1"], iid, 2, "engineering", "网格员不能挂账")
    row = wo.hang(u["unit_cg"], iid, 2, "engineering", "需改造排水管网，纳入年度工程")
    assert (row["hung_kind"], row["hung_at"]) == ("engineering", fixed_now)
    with pytest.raises(InvalidTransition):
        wo.hang(u["officer"], iid, row["version"], "seasonal", "再挂一次")
    clock.now = row["resolve_due_at"] + timedelta(hours=1)
    assert [a for a in sweep(load_open(store), clock.now, cfg, policy) if a.clock == "resolve"] == []
    assert [i.incident_id for i in load_open(store, clock.now, policy)] == []
    row = wo.unhang(u["officer"], iid, row["version"], "工程已完工")
    assert row["hung_kind"] is None
    overdue = [a.kind for a in sweep(load_open(store, clock.now, policy), clock.now, cfg, policy)]
    assert overdue == ["overdue"]
    with pytest.raises(InvalidTransition):
        wo.unhang(u["officer"], iid, row["version"], "未挂账")


# --- 核查 ------------------------------------------------------------------------------------------

def test_resolver_cannot_verify_own_case(wo, store, cfg, fixed_now, u):
    svc = wo.incidents
    iid = case(store, cfg, fixed_now, status="dispatched")
    svc.resolve(u["officer"], iid, 1, note="已处置")
    with pytest.raises(PermissionDenied) as err:
        svc.close(u["officer"], iid, 2)
    assert "本人" in err.value.user_message
    with pytest.raises(PermissionDenied):
        wo.verify(u["officer"], iid, 2, False, "自己核查不通过")
    assert svc.get(iid)["status"] == "resolved"
    assert store.query("SELECT action FROM audit_log WHERE actor = 'officer' AND action LIKE 'denied:%'") == [
        ("denied:close",), ("denied:verify_fail",)]
    assert svc.close(u["admin"], iid, 2)["status"] == "closed"


def test_unit_resolver_cannot_verify_either(wo, store, cfg, fixed_now, u):
    iid = case(store, cfg, fixed_now)
    row = wo.dispatch(u["admin"], iid, 1, "urban_mgmt")
    lead = row["assignment_ids"][0]
    wo.accept(u["admin"], lead)  # an admin may stand in for the unit …
    row = wo.feedback(u["admin"], lead, "已处置")
    with pytest.raises(PermissionDenied):  # … but then does not verify its own work
        wo.verify(u["admin"], iid, row["version"], True, "通过")


def test_grid_worker_verifies_pass_and_fail(wo, store, cfg, fixed_now, u):
    iid, lead, _ = accepted(wo, store, cfg, fixed_now, u)
    row = wo.feedback(u["unit_cg"], lead, "已清理")
    with pytest.raises(ServiceError) as err:
        wo.verify(u["grid_jh1"], iid, row["version"], False, "")
    assert err.value.user_message == REASON_REQUIRED["verify_fail"]
    row = wo.verify(u["grid_jh1"], iid, row["version"], False, "现场仍有垃圾", photos=["v1"])
    assert (row["status"], row["verify_failures"], row["resolved_at"]) == ("dispatched", 1, None)
    assert assignment(store, lead)["status"] == "accepted"  # back to the lead unit for 返工
    row = wo.feedback(u["unit_cg"], lead, "已二次清理")
    with pytest.raises(Conflict):
        wo.verify(u["grid_jh1"], iid, row["version"] - 1, True, "旧版本")
    row = wo.verify(u["grid_jh1"], iid, row["version"], True, "现场已整洁", photos=["v2"])
    assert (row["status"], row["closed_at"]) == ("closed", fixed_now)
    assert store.query("SELECT verifier, role, passed, photos FROM verifications ORDER BY verification_id") == [
        ("grid_jh1", "grid", False, ["v1"]), ("grid_jh1", "grid", True, ["v2"])]


def test_grid_worker_only_in_own_grid(wo, store, cfg, fixed_now, u):
    iid = case(store, cfg, fixed_now, status="resolved", area_code="510108002002002")
    with pytest.raises(PermissionDenied) as err:
        wo.verify(u["grid_jh1"], iid, 1, True, "不在本网格")
    assert "管辖范围" in err.value.user_message
    with pytest.raises(PermissionDenied):
        wo.dispatch(u["grid_jh1"], case(store, cfg, fixed_now), 1, "urban_mgmt")


# --- 回访 and 重办 ---------------------------------------------------------------------------------

def closed_case(wo, store, cfg, now, u):
    iid, lead, _ = accepted(wo, store, cfg, now, u)
    row = wo.feedback(u["unit_cg"], lead, "已清理")
    wo.verify(u["grid_jh1"], iid, row["version"], True, "通过")
    return iid, lead


def test_callback_satisfied(wo, store, cfg, fixed_now, u):
    iid, _ = closed_case(wo, store, cfg, fixed_now, u)
    with pytest.raises(ServiceError):
        wo.record_callback(u["officer"], iid, "还行", "")
    with pytest.raises(PermissionDenied):
        wo.record_callback(u["unit_cg"], iid, "满意", "")
    row = wo.record_callback(u["officer"], iid, "基本满意", "市民认可")
    assert (row["status"], row["satisfied"]) == ("closed", True)
    assert last_timeline(wo, iid)[:2] == ("officer", "callback")
    with pytest.raises(InvalidTransition):
        wo.record_callback(u["officer"], iid, "满意", "")
    open_case = case(store, cfg, fixed_now)
    with pytest.raises(InvalidTransition):
        wo.record_callback(u["officer"], open_case, "满意", "")


def test_unsatisfied_callback_reopens_as_redo_to_the_same_unit(wo, store, cfg, fixed_now, u):
    iid, lead = closed_case(wo, store, cfg, fixed_now, u)
    with pytest.raises(ServiceError) as err:
        wo.record_callback(u["officer"], iid, "不满意", "")
    assert err.value.user_message == REASON_REQUIRED["redo"]
    row = wo.record_callback(u["officer"], iid, "不满意", "摊贩又回来了")
    assert (row["status"], row["redo_count"], row["satisfied"], row["closed_at"]) == ("dispatched", 1, False, None)
    assert last_timeline(wo, iid)[1:4] == ("redo", "closed", "dispatched")
    (second,) = [a for (a,) in store.query("SELECT assignment_id FROM assignments WHERE round = 2")]
    assert (assignment(store, second)["unit"], assignment(store, second)["status"]) == ("urban_mgmt", "pending")
    wo.accept(u["unit_cg"], second)
    row = wo.feedback(u["unit_cg"], second, "加强巡查，已取缔")
    row = wo.verify(u["grid_jh1"], iid, row["version"], True, "复查通过")
    assert row["status"] == "closed"
    assert wo.record_callback(u["officer"], iid, "满意", "")["satisfied"] is True


def test_redo_needs_a_lead_unit(wo, store, cfg, fixed_now, u):
    iid = case(store, cfg, fixed_now, status="closed")
    with pytest.raises(InvalidTransition):
        wo.record_callback(u["officer"], iid, "不满意", "没人办过")


# --- 督办 and 催办 ---------------------------------------------------------------------------------

def test_supervision_by_a_leader(wo, store, cfg, fixed_now, u):
    iid, _, _ = dispatched(wo, store, cfg, fixed_now, u)
    due = fixed_now + timedelta(days=1)
    with pytest.raises(PermissionDenied):
        wo.supervise(u["officer"], iid, due, "值班员不能督办")
    with pytest.raises(ServiceError):
        wo.supervise(u["leader"], iid, fixed_now - timedelta(hours=1), "期限已过")
    with pytest.raises(ServiceError):
        wo.supervise(u["leader"], iid, due, "")
    sid = wo.supervise(u["leader"], iid, due, "请于明日前办结")
    assert store.query("SELECT incident_id, issued_by, note FROM supervisions WHERE supervision_id = ?", [sid]) == [
        (iid, "leader", "请于明日前办结")]
    assert wo.incidents.get(iid)["supervised"] is True


def test_manual_reminder_to_every_active_unit(wo, store, cfg, fixed_now, u, events, bus):
    iid, lead, (co,) = dispatched(wo, store, cfg, fixed_now, u)
    with pytest.raises(PermissionDenied):
        wo.remind(u["unit_cg"], iid, "单位不能催办")
    ids = wo.remind(u["officer"], iid, "请加快办理")
    assert store.query("SELECT unit, kind FROM reminders WHERE reminder_id IN (?, ?) ORDER BY reminder_id", ids) == [
        ("urban_mgmt", "manual"), (JIANHUA, "manual")]
    bus.drain()
    assert [(e.unit, e.kind) for e in events if isinstance(e, UnitReminded)] == [
        ("urban_mgmt", "manual"), (JIANHUA, "manual")]
    idle = case(store, cfg, fixed_now, status="dispatched")
    with pytest.raises(InvalidTransition):
        wo.remind(u["officer"], idle, "没有责任单位")


# --- reasons on the incident service too -----------------------------------------------------------

@pytest.mark.parametrize(("action", "status"), [("false_alarm", "new"), ("resolve", "dispatched"),
                                                ("reopen", "closed"), ("verify_fail", "resolved")])
def test_incident_actions_require_a_reason(store, bus, cfg, fixed_now, u, action, status):
    svc = IncidentService(store, bus, cfg, FixedClock(fixed_now))
    iid = make_incident(store, cfg, now=fixed_now, status=status)
    with pytest.raises(ServiceError) as err:
        getattr(svc, action)(u["officer"], iid, 1, note=" ")
    assert err.value.user_message == REASON_REQUIRED[action]
    assert svc.get(iid)["version"] == 1
    assert getattr(svc, action)(u["officer"], iid, 1, note="有理由")["version"] == 2
