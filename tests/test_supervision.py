"""督办台账: a leader's 销号 and 延期 of a 督办 record (role, scope, reason, audit), and the ledger's states and filters."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ops_center.core.lifecycle import Actor, InvalidTransition, NotFound, PermissionDenied, ServiceError
from ops_center.read.work_queue import supervision_list
from tests.factories import make_incident
from tests.fixtures_work_orders import GRID

LEADER_SQZ = Actor("leader_sqz", "leader", "510108004")  # a leader of 双桥子街道: GRID (猛追湾) is outside


def supervised_case(wo, store, cfg, clock, u, hours=4, note="限期办结"):
    """A case dispatched to 城管局 (lead) in 猛追湾 with a leader's 督办 due in `hours`; (incident id, assignment, 督办 id)."""
    iid = make_incident(store, cfg, now=clock.now, status="acknowledged", domain="city_management", severity="P3",
                        area_code=GRID)
    (lead,) = wo.dispatch(u["officer"], iid, 1, "urban_mgmt", note="派遣")["assignment_ids"]
    sid = wo.supervise(u["leader"], iid, clock.now + timedelta(hours=hours), note)
    return iid, lead, sid


def refused(kind, call) -> str:
    """The Chinese message the user sees when `call` is refused with `kind`."""
    with pytest.raises(kind) as exc:
        call()
    return exc.value.user_message


def audit_rows(store, action):
    return [(actor, json.loads(detail)) for actor, detail in store.query(
        "SELECT actor, detail FROM audit_log WHERE action = ? ORDER BY audit_id", [action])]


def record(store, sid):
    return store.query("SELECT due_at, closed_at FROM supervisions WHERE supervision_id = ?", [sid])[0]


# --- 销号 ------------------------------------------------------------------------------------------


def test_a_leader_closes_a_supervision_with_a_reason_and_it_is_audited(wo, store, cfg, clock, u):
    iid, _, sid = supervised_case(wo, store, cfg, clock, u)
    clock.advance(minutes=30)
    for who in ("officer", "shiftlead", "unit_cg"):
        with pytest.raises(PermissionDenied):
            wo.close_supervision(u[who], sid, "无权销号")
    assert "销号说明" in refused(ServiceError, lambda: wo.close_supervision(u["leader"], sid, "  "))
    assert record(store, sid)[1] is None
    assert [a for a, _ in audit_rows(store, "denied:close_supervision")] == ["officer", "shiftlead", "unit_cg"]

    wo.close_supervision(u["leader"], sid, "已现场协调，转常规办理")
    assert record(store, sid)[1] is not None
    assert wo.incidents.get(iid)["supervised"] is False  # its only record is closed
    t = wo.incidents.timeline(iid, include_merged=False).iloc[-1]
    assert (t.actor, t.action, t.note) == ("leader", "close_supervision", "已现场协调，转常规办理")
    ((actor, detail),) = audit_rows(store, "close_supervision")
    assert actor == "leader" and detail["supervision_id"] == sid and detail["incident_id"] == iid
    assert "已销号" in refused(InvalidTransition, lambda: wo.close_supervision(u["leader"], sid, "再次销号"))
    with pytest.raises(NotFound):
        wo.close_supervision(u["leader"], sid + 999, "没有这条")


def test_the_case_stays_supervised_while_another_record_is_open(wo, store, cfg, clock, u):
    iid, _, first = supervised_case(wo, store, cfg, clock, u)
    wo.supervise(u["leader"], iid, clock.now + timedelta(days=1), "第二次督办")
    wo.close_supervision(u["admin"], first, "以第二次督办为准")
    assert wo.incidents.get(iid)["supervised"] is True


def test_a_leader_outside_the_cases_area_may_not_close_or_extend(wo, store, cfg, clock, u):
    _, _, sid = supervised_case(wo, store, cfg, clock, u)
    assert "管辖范围" in refused(PermissionDenied, lambda: wo.close_supervision(LEADER_SQZ, sid, "外街道领导"))
    assert "管辖范围" in refused(PermissionDenied, lambda: wo.extend_supervision(LEADER_SQZ, sid, clock.now + timedelta(days=2), "外街道领导"))
    assert record(store, sid)[1] is None


# --- 延期 ------------------------------------------------------------------------------------------


def test_a_leader_extends_the_deadline_later_only_and_the_old_one_is_audited(wo, store, cfg, clock, u):
    _, _, sid = supervised_case(wo, store, cfg, clock, u, hours=4)
    old_due = clock.now + timedelta(hours=4)
    with pytest.raises(PermissionDenied):
        wo.extend_supervision(u["shiftlead"], sid, old_due + timedelta(hours=4), "值班长不能延期")
    assert "晚于原期限" in refused(ServiceError, lambda: wo.extend_supervision(u["leader"], sid, old_due - timedelta(hours=1), "提前"))
    assert "延期的理由" in refused(ServiceError, lambda: wo.extend_supervision(u["leader"], sid, old_due + timedelta(hours=4), ""))
    with pytest.raises(ValueError):
        wo.extend_supervision(u["leader"], sid, old_due.replace(tzinfo=None), "无时区")
    clock.advance(hours=5)  # the 督办 is overdue now: extended from now on, not from the passed deadline
    assert supervision_list(store, None, clock.now).iloc[0]["state"] == "overdue"
    assert "当前时间" in refused(ServiceError, lambda: wo.extend_supervision(u["leader"], sid, clock.now - timedelta(minutes=1), "仍在过去"))
    new_due = clock.now + timedelta(days=1)
    wo.extend_supervision(u["leader"], sid, new_due, "工程量大，延期一天")
    assert record(store, sid)[0].replace(tzinfo=new_due.tzinfo) == new_due.replace(microsecond=0)
    ((_, detail),) = audit_rows(store, "extend_supervision")
    assert detail["previous_due_at"] == old_due.isoformat() and detail["due_at"] == new_due.isoformat()
    assert supervision_list(store, None, clock.now).iloc[0]["state"] == "open"
    wo.close_supervision(u["leader"], sid, "办结")
    assert "已销号" in refused(InvalidTransition, lambda: wo.extend_supervision(u["leader"], sid, new_due + timedelta(days=1), "销号后延期"))


# --- the ledger -----------------------------------------------------------------------------------


def test_states_met_overdue_closed_and_open(wo, store, cfg, clock, u):
    start = clock.now
    met, met_a, met_s = supervised_case(wo, store, cfg, clock, u, hours=4)
    late, late_a, late_s = supervised_case(wo, store, cfg, clock, u, hours=1)
    _, _, closed_s = supervised_case(wo, store, cfg, clock, u, hours=4)
    _, _, open_s = supervised_case(wo, store, cfg, clock, u, hours=8)
    for a in (met_a, late_a):
        wo.accept(u["unit_cg"], a)
    clock.advance(minutes=50)
    wo.feedback(u["unit_cg"], met_a, "已清理完毕")  # resolved before its 督办 deadline
    wo.close_supervision(u["leader"], closed_s, "转常规办理")
    clock.advance(hours=1)
    wo.feedback(u["unit_cg"], late_a, "已清理完毕")  # resolved after its 督办 deadline (start + 1 h)
    now = start + timedelta(hours=5)  # past met's and closed's deadlines too: neither turns overdue
    rows = supervision_list(store, None, now, show="all").set_index("supervision_id")
    assert rows["state"].to_dict() == {met_s: "met", late_s: "overdue", closed_s: "closed", open_s: "open"}
    assert rows.loc[met_s, "done_at"] < rows.loc[met_s, "due_at"]
    assert rows.loc[late_s, "done_at"] > rows.loc[late_s, "due_at"]
    assert set(rows["lead_unit"]) == {"urban_mgmt"}
    shown = {show: set(supervision_list(store, None, now, show=show)["supervision_id"])
             for show in ("open", "overdue", "all")}
    assert shown == {"open": {met_s, late_s, open_s}, "overdue": {late_s}, "all": {met_s, late_s, closed_s, open_s}}
    assert supervision_list(store, None, now, show="overdue").iloc[0]["overdue"]
    # A passed verification closes the record (WorkOrderService.verify): still met, no longer open.
    wo.verify(u["grid_jh1"], met, wo.incidents.get(met)["version"], True, "现场已核实")
    assert met_s not in set(supervision_list(store, None, now)["supervision_id"])
    with pytest.raises(ValueError):
        supervision_list(store, None, now, show="late")


def test_an_unresolved_record_closed_after_its_deadline_stays_overdue(wo, store, cfg, clock, u):
    _, _, sid = supervised_case(wo, store, cfg, clock, u, hours=1)
    clock.advance(hours=2)
    wo.close_supervision(u["leader"], sid, "逾期后销号")
    (row,) = supervision_list(store, None, clock.now + timedelta(days=3), show="all").to_dict("records")
    assert row["state"] == "overdue"


def test_the_ledger_is_scoped_like_every_read(wo, store, cfg, clock, u):
    _, _, sid = supervised_case(wo, store, cfg, clock, u)
    assert supervision_list(store, "510108002", clock.now)["supervision_id"].tolist() == [sid]
    assert supervision_list(store, "510108004", clock.now, show="all").empty
