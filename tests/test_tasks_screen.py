"""/tasks and /grid behind the gate: who may drive which callbacks, and a unit never acts on another unit's order."""

from __future__ import annotations

import json

import pytest

from layouts import ids  # ids only: never a page module
from ops_center.core.lifecycle import Actor
from tests.factories import make_incident
from tests.fixtures_web import client_login, dash_post

GRID = "510108002002001"


@pytest.fixture
def dispatched(web_ctx) -> tuple[int, int, int]:
    """A case dispatched to 城管局 (lead) and 建华社区 (co): (incident, lead assignment, co assignment)."""
    iid = make_incident(web_ctx.store, web_ctx.cfg, now=web_ctx.clock(), domain="city_management", severity="P3",
                        status="acknowledged", area_code=GRID)
    row = web_ctx.service.get(iid)
    web_ctx.work_orders.dispatch(Actor("officer", "officer", "510108"), iid, row["version"], "urban_mgmt",
                                 ["community:510108002002"], note="派遣")
    rows = dict(web_ctx.store.query("SELECT role, assignment_id FROM assignments WHERE incident_id = ?", [iid]))
    return iid, int(rows["lead"]), int(rows["co"])


@pytest.mark.parametrize(("user", "output", "status"), [
    ("officer", ids.TASKS_MESSAGE, 403), ("unit_cg", ids.CONSOLE_WO_MESSAGE, 403), ("grid_jh1", ids.TASKS_LIST, 403),
    ("unit_cg", ids.GRID_MESSAGE, 403), ("officer", ids.GRID_VERIFY_MESSAGE, 403), ("unit_cg", ids.TASKS_LIST, 200),
])
def test_each_screen_answers_only_its_roles(web_ctx, web_app, web_client, user, output, status):
    client_login(web_client, user)
    assert dash_post(web_client, web_app, output).status_code == status


def test_a_unit_cannot_accept_another_units_order(web_ctx, web_app, web_client, dispatched):
    iid, lead, co = dispatched
    client_login(web_client, "unit_jh")  # 建华社区居委会: the co-handler, not the lead
    resp = dash_post(web_client, web_app, ids.TASKS_PHOTO_IDS, {
        f"{ids.TASKS_ACTIONS['accept']}.n_clicks": 1, f"{ids.TASKS_SELECTED}.data": {"assignment_id": lead}},
        changed=f"{ids.TASKS_ACTIONS['accept']}.n_clicks")
    text = json.loads(resp.get_data())["response"][ids.TASKS_MESSAGE]["children"]["props"]["children"]
    assert text == "该任务不存在或已不属于本单位"
    assert web_ctx.store.query("SELECT status FROM assignments WHERE assignment_id = ?", [lead]) == [("pending",)]
    # Its own (co) order it may accept.
    resp = dash_post(web_client, web_app, ids.TASKS_PHOTO_IDS, {
        f"{ids.TASKS_ACTIONS['accept']}.n_clicks": 1, f"{ids.TASKS_SELECTED}.data": {"assignment_id": co}},
        changed=f"{ids.TASKS_ACTIONS['accept']}.n_clicks")
    text = json.loads(resp.get_data())["response"][ids.TASKS_MESSAGE]["children"]["props"]["children"]
    assert text == f"#{iid} 已签收"
    assert web_ctx.store.query("SELECT status FROM assignments WHERE assignment_id = ?", [co]) == [("accepted",)]


def test_a_return_without_a_reason_is_refused_by_the_service(web_ctx, web_app, web_client, dispatched):
    _, lead, _ = dispatched
    client_login(web_client, "unit_cg")
    resp = dash_post(web_client, web_app, ids.TASKS_PHOTO_IDS, {
        f"{ids.TASKS_ACTIONS['return_order']}.n_clicks": 1, f"{ids.TASKS_SELECTED}.data": {"assignment_id": lead},
        f"{ids.TASKS_NOTE}.value": "   "}, changed=f"{ids.TASKS_ACTIONS['return_order']}.n_clicks")
    text = json.loads(resp.get_data())["response"][ids.TASKS_MESSAGE]["children"]["props"]["children"]
    assert text == "请填写退单理由"
    assert web_ctx.store.query("SELECT status FROM assignments WHERE assignment_id = ?", [lead]) == [("pending",)]


@pytest.mark.parametrize(("item", "expected"), [
    ({"assignment_status": "pending", "role": "lead", "status": "dispatched"}, {"accept", "return_order"}),
    ({"assignment_status": "accepted", "role": "lead", "status": "dispatched"},
     {"feedback", "return_order", "request_extension", "hang"}),
    ({"assignment_status": "accepted", "role": "lead", "status": "dispatched", "decision": "force",
      "pending_extension": True, "hung_kind": "seasonal"}, {"feedback"}),
    ({"assignment_status": "accepted", "role": "co", "status": "resolved"}, {"feedback"}),
    ({"assignment_status": "pending", "role": "lead", "status": "dispatched", "decision": "force"}, {"accept"}),
    ({"assignment_status": "returned", "role": "lead", "status": "dispatched"}, set()),
])
def test_the_buttons_follow_the_order_state(item, expected):
    from layouts.tasks_actions import allowed

    assert allowed(item) == expected


def test_a_hung_case_is_listed_apart_with_its_kind(web_ctx, web_app, web_client, dispatched):
    iid, lead, _ = dispatched
    client_login(web_client, "unit_cg")
    actions = ids.TASKS_ACTIONS
    for action, extra in (("accept", {}), ("hang", {f"{ids.TASKS_HANG_KIND}.value": "seasonal",
                                                    f"{ids.TASKS_NOTE}.value": "汛期后统一整治"})):
        resp = dash_post(web_client, web_app, ids.TASKS_PHOTO_IDS, {
            f"{actions[action]}.n_clicks": 1, f"{ids.TASKS_SELECTED}.data": {"assignment_id": lead}, **extra},
            changed=f"{actions[action]}.n_clicks")
        assert resp.status_code == 200
    assert web_ctx.store.query("SELECT hung_kind FROM incidents WHERE incident_id = ?", [iid]) == [("seasonal",)]
    resp = dash_post(web_client, web_app, ids.TASKS_HUNG, {f"{ids.TASKS_REFRESH}.data": 1})
    body = json.loads(resp.get_data())["response"]
    hung, queue = json.dumps(body[ids.TASKS_HUNG], ensure_ascii=False), json.dumps(body[ids.TASKS_LIST],
                                                                                    ensure_ascii=False)
    assert f"#{iid}" in hung and "季节性" in hung
    assert "暂无待办" in queue and f"#{iid}" not in queue


def _decide(client, app, button: str, values: dict):
    """Drive the console's work-order buttons as a browser would (the message is that callback's own output)."""
    resp = dash_post(client, app, ids.CONSOLE_WO_MESSAGE, {f"{button}.n_clicks": 1, **values},
                     changed=f"{button}.n_clicks")
    return json.loads(resp.get_data())["response"][ids.CONSOLE_WO_MESSAGE]["children"]["props"]["children"]


def test_supervision_is_a_leaders_and_needs_a_requirement(web_ctx, web_app, web_client, dispatched):
    iid, _, _ = dispatched
    selected = {f"{ids.CONSOLE_SELECTED}.data": {"incident_id": iid, "version": 1},
                f"{ids.CONSOLE_SUPERVISE_HOURS}.value": 48}
    client_login(web_client, "officer")
    assert "权" in _decide(web_client, web_app, ids.CONSOLE_SUPERVISE, {**selected, f"{ids.CONSOLE_NOTE}.value": "快办"})
    web_client.post("/logout", data={"csrf_token": "test-client-csrf-token"})
    client_login(web_client, "leader")
    assert _decide(web_client, web_app, ids.CONSOLE_SUPERVISE, selected) == "请填写督办要求"
    text = _decide(web_client, web_app, ids.CONSOLE_SUPERVISE, {**selected, f"{ids.CONSOLE_NOTE}.value": "三日内办结"})
    assert text.startswith(f"#{iid} 已督办，期限 11-26 10:00")
    assert web_ctx.store.query("SELECT issued_by, note FROM supervisions") == [("leader", "三日内办结")]


def test_a_co_handlers_feedback_goes_on_the_timeline_only(web_ctx, web_app, web_client, dispatched):
    iid, _, co = dispatched
    client_login(web_client, "unit_jh")
    for action, extra in (("accept", {}), ("feedback", {f"{ids.TASKS_NOTE}.value": "社区已入户劝导摊主"})):
        resp = dash_post(web_client, web_app, ids.TASKS_PHOTO_IDS, {
            f"{ids.TASKS_ACTIONS[action]}.n_clicks": 1, f"{ids.TASKS_SELECTED}.data": {"assignment_id": co}, **extra},
            changed=f"{ids.TASKS_ACTIONS[action]}.n_clicks")
        assert resp.status_code == 200
    assert web_ctx.service.get(iid)["status"] == "dispatched"  # only the lead's feedback resolves
    notes = web_ctx.store.query("SELECT actor, action, note FROM incident_timeline WHERE incident_id = ? "
                                "AND action = 'co_feedback'", [iid])
    assert notes == [("unit_jh", "co_feedback", "社区已入户劝导摊主")]
