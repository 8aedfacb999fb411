"""IncidentService: the lifecycle graph, optimistic versions, roles and scope, merge, triage, extensions."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from ops_center.core.domains import STATUS_NAMES, STATUSES
from ops_center.core.lifecycle import ACTOR_KINDS, STEPS, SYSTEM_ACTIONS, target, timeline_errors
from ops_center.service.bus import IncidentEscalated, IncidentMerged, IncidentTransitioned, IncidentUpdated
from ops_center.service.incidents import (
    IN_PLACE,
    ROLE_ACTIONS,
    TRANSITIONS,
    Actor,
    Conflict,
    IncidentService,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ServiceError,
    allowed_actions,
)
from tests.factories import FixedClock, grid_in, grid_outside, make_incident


@pytest.fixture
def clock(fixed_now):
    return FixedClock(fixed_now)


@pytest.fixture
def service(store, bus, cfg, clock):
    return IncidentService(store, bus, cfg, clock)


@pytest.fixture
def users(cfg):
    return {u.username: Actor.of(u) for u in cfg.users}


@pytest.fixture
def officer(users):
    return users["officer"]


def audit_rows(store, incident_id):
    return store.query("SELECT actor, action, detail FROM audit_log WHERE target = ? ORDER BY audit_id",
                       [f"incident:{incident_id}"])


# Arguments each action needs besides (actor, id, version).
EXTRA = {"dispatch": {"department": "fire", "level": "street"}, "merge": {}}


def call(service, action, actor, incident_id, version, store=None, cfg=None, now=None, **kw):
    if action == "merge" and "into_id" not in kw:
        kw["into_id"] = make_incident(store, cfg, now=now)
    return getattr(service, action)(actor, incident_id, version, **EXTRA.get(action, {}), **kw)


# The incident service's own actions; the work order's (feedback, redo) are tested in test_work_orders.py.
HUMAN = {action: edges for action, edges in TRANSITIONS.items()
         if action not in SYSTEM_ACTIONS and hasattr(IncidentService, action)}
LEGAL = [(action, frm, to) for action, edges in HUMAN.items() for frm, to in edges.items()]
ILLEGAL = [(action, s) for action, edges in HUMAN.items() for s in STATUSES if s not in edges]


@pytest.mark.parametrize(("action", "from_status", "to_status"), LEGAL)
def test_every_legal_transition(service, store, cfg, fixed_now, officer, events, bus, action, from_status, to_status):
    iid = make_incident(store, cfg, now=fixed_now, status=from_status)
    row = call(service, action, officer, iid, 1, store, cfg, fixed_now, note="处理说明")
    assert row["status"] == to_status
    stored = service.get(iid)
    assert (stored["status"], stored["version"]) == (to_status, 2)
    last = service.timeline(iid, include_merged=False).iloc[-1]
    assert (last.actor, last.action, last.from_status, last.to_status, last.note) == (
        "officer", action, from_status, to_status, "处理说明")
    assert last.ts.to_pydatetime() == fixed_now
    assert audit_rows(store, iid)[-1][:2] == ("officer", action)
    bus.drain()
    moved = [e for e in events if isinstance(e, IncidentTransitioned) and e.incident_id == iid]
    assert [(e.from_status, e.to_status, e.actor) for e in moved] == [(from_status, to_status, "officer")]


@pytest.mark.parametrize(("action", "status"), ILLEGAL)
def test_every_illegal_transition_is_refused(service, store, cfg, fixed_now, officer, action, status):
    iid = make_incident(store, cfg, now=fixed_now, status=status)
    with pytest.raises(InvalidTransition) as err:
        call(service, action, officer, iid, 1, store, cfg, fixed_now, note="理由")
    assert STATUS_NAMES[status] in err.value.user_message
    assert any(STATUS_NAMES[t] in err.value.user_message for t in TRANSITIONS[action].values())
    assert service.get(iid)["version"] == 1
    assert service.get(iid)["status"] == status
    assert service.timeline(iid)["action"].tolist() == ["created"]
    assert audit_rows(store, iid) == []


@pytest.mark.parametrize("status", [s for s in STATUSES if s not in IN_PLACE["escalate"]])
def test_in_place_actions_only_on_open_incidents(service, store, cfg, fixed_now, officer, status):
    iid = make_incident(store, cfg, now=fixed_now, status=status)
    with pytest.raises(InvalidTransition):
        service.escalate(officer, iid, 1)
    with pytest.raises(InvalidTransition):
        service.set_domain(officer, iid, 1, "traffic")


def test_transition_timestamps_and_counters(service, store, cfg, clock, officer):
    checker = Actor("officer2", "officer", officer.scope)  # verification is never by the resolver
    iid = make_incident(store, cfg, now=clock.now)
    service.acknowledge(officer, iid, 1)
    clock.advance(minutes=5)
    service.dispatch(officer, iid, 2, department="emergency", level="district")
    clock.advance(minutes=30)
    service.resolve(officer, iid, 3, note="已处置")
    service.verify_fail(checker, iid, 4, note="现场复核仍有隐患")
    row = service.get(iid)
    assert (row["status"], row["verify_failures"], row["resolved_at"]) == ("dispatched", 1, None)
    assert (row["department"], row["level"]) == ("emergency", "district")
    service.resolve(officer, iid, 5, note="隐患已消除")
    service.close(checker, iid, 6)
    service.reopen(officer, iid, 7, note="市民反映仍未解决")
    row = service.get(iid)
    assert (row["status"], row["reopen_count"], row["closed_at"], row["version"]) == ("dispatched", 1, None, 8)
    assert row["acknowledged_at"] == clock.now - timedelta(minutes=35)


def test_reopen_false_alarm_goes_back_to_acknowledged(service, store, cfg, fixed_now, officer):
    iid = make_incident(store, cfg, now=fixed_now)
    service.false_alarm(officer, iid, 1, note="现场无异常")
    row = service.reopen(officer, iid, 2, note="再次接到报警")
    assert row["status"] == "acknowledged"
    assert service.get(iid)["acknowledged_at"] == fixed_now


def test_stale_version_is_a_conflict_and_changes_nothing(service, store, cfg, fixed_now, officer):
    iid = make_incident(store, cfg, now=fixed_now)
    service.acknowledge(officer, iid, 1)
    with pytest.raises(Conflict) as err:
        service.false_alarm(officer, iid, 1, note="重复报警")
    assert err.value.user_message == "该事件已被他人处理，请刷新后重试"
    assert (service.get(iid)["status"], service.get(iid)["version"]) == ("acknowledged", 2)
    assert service.timeline(iid)["action"].tolist() == ["created", "acknowledge"]


def test_two_concurrent_acknowledges_exactly_one_wins(service, store, cfg, fixed_now, users, bus, events):
    iid = make_incident(store, cfg, now=fixed_now)
    actors = [users["officer"], users["admin"]]
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def act(actor):
        start.wait()
        try:
            service.acknowledge(actor, iid, 1, note=f"by {actor.username}")
            outcomes[actor.username] = "ok"
        except ServiceError as exc:
            outcomes[actor.username] = exc

    threads = [threading.Thread(target=act, args=(a,)) for a in actors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(type(v).__name__ if v != "ok" else "ok" for v in outcomes.values()) == ["Conflict", "ok"]
    winner = next(name for name, v in outcomes.items() if v == "ok")
    row = service.get(iid)
    assert (row["status"], row["version"]) == ("acknowledged", 2)
    timeline = service.timeline(iid)
    assert timeline["action"].tolist() == ["created", "acknowledge"]
    assert timeline.iloc[-1].actor == winner
    assert [a[0] for a in audit_rows(store, iid)] == [winner]
    bus.drain()
    assert [e.actor for e in events if isinstance(e, IncidentTransitioned)] == [winner]


def test_viewer_may_do_nothing(service, store, cfg, fixed_now, users):
    viewer = users["viewer"]
    iid = make_incident(store, cfg, now=fixed_now)
    assert allowed_actions("new", "viewer") == ()
    for action in [*HUMAN, "escalate", "add_note"]:
        with pytest.raises(PermissionDenied):
            call(service, action, viewer, iid, 1, store, cfg, fixed_now, note="x")
    assert service.get(iid)["version"] == 1
    denied = store.query("SELECT action FROM audit_log WHERE actor = 'viewer'")
    assert {a for (a,) in denied} >= {"denied:acknowledge", "denied:add_note"}


def test_officer_outside_scope_is_refused(service, store, cfg, fixed_now, users):
    outsider = users["officer_mzw"]  # a street officer
    iid = make_incident(store, cfg, now=fixed_now, area_code=grid_outside(cfg, outsider.scope))
    with pytest.raises(PermissionDenied) as err:
        service.acknowledge(outsider, iid, 1)
    assert "管辖范围" in err.value.user_message
    inside = make_incident(store, cfg, now=fixed_now, area_code=grid_in(cfg, outsider.scope))
    assert service.acknowledge(outsider, inside, 1)["status"] == "acknowledged"
    assert service.get(iid)["status"] == "new"


def test_city_scope_and_admin_reach_everything(service, store, cfg, fixed_now):
    iid = make_incident(store, cfg, now=fixed_now)
    city_officer = Actor("city", "officer", cfg.site.city.code)
    assert service.acknowledge(city_officer, iid, 1)["status"] == "acknowledged"
    admin_elsewhere = Actor("root", "admin", "510108999")
    assert service.dispatch(admin_elsewhere, iid, 2, department="fire")["status"] == "dispatched"


def test_leader_notes_and_approves_but_does_not_work_the_queue(service, store, cfg, fixed_now, users):
    leader = users["leader"]
    iid = make_incident(store, cfg, now=fixed_now)
    with pytest.raises(PermissionDenied):
        service.acknowledge(leader, iid, 1)
    service.add_note(leader, iid, 1, note="请尽快处置")
    assert service.timeline(iid).iloc[-1].note == "请尽快处置"
    assert set(allowed_actions("dispatched", "leader")) == {"add_note", "decide_extension", "supervise",
                                                            "close_supervision", "extend_supervision"}
    assert "decide_extension" not in allowed_actions("dispatched", "officer")
    assert set(allowed_actions("new", "officer")) == {"acknowledge", "false_alarm", "merge", "escalate",
                                                      "set_domain", "add_note"}


def test_notes_are_stored_as_plain_text_without_a_version_check(service, store, cfg, fixed_now, officer):
    iid = make_incident(store, cfg, now=fixed_now)
    service.acknowledge(officer, iid, 1)
    note = "<script>alert('x')</script> 井盖已复位"
    service.add_note(officer, iid, 1, note=note)  # stale version: notes never conflict
    assert service.timeline(iid).iloc[-1].note == note
    assert service.get(iid)["version"] == 2
    with pytest.raises(ServiceError):
        service.add_note(officer, iid, 2, note="   ")


def test_unknown_incident(service, officer):
    with pytest.raises(NotFound):
        service.acknowledge(officer, 999, 1)
    with pytest.raises(NotFound):
        service.get(999)


def test_manual_escalation_up_to_the_top(service, store, cfg, clock, officer, bus, events):
    iid = make_incident(store, cfg, now=clock.now, domain="public_security", severity="P2")  # community level
    clock.advance(minutes=3)
    row = service.escalate(officer, iid, 1, note="需街道协调")
    assert (row["level"], row["escalations"]) == ("street", 1)
    assert service.get(iid)["ack_due_at"] == clock.now + timedelta(minutes=15)
    service.escalate(officer, iid, 2)
    service.escalate(officer, iid, 3)
    with pytest.raises(InvalidTransition):
        service.escalate(officer, iid, 4)
    assert service.get(iid)["level"] == "city"
    bus.drain()
    ups = [(e.from_level, e.to_level, e.reason) for e in events if isinstance(e, IncidentEscalated)]
    assert ups == [("community", "street", "manual"), ("street", "district", "manual"), ("district", "city", "manual")]


def test_merge_keeps_both_timelines(service, store, cfg, clock, officer, bus, events):
    target = make_incident(store, cfg, now=clock.now, report_count=2, sources=["sensor"])
    service.acknowledge(officer, target, 1)
    clock.advance(minutes=2)
    dup = make_incident(store, cfg, now=clock.now, sources=["hotline"])
    service.add_note(officer, dup, 1, note="市民来电")
    clock.advance(minutes=1)
    service.merge(officer, dup, 1, into_id=target, note="同一起火情")
    merged, kept = service.get(dup), service.get(target)
    assert (merged["status"], merged["merged_into"]) == ("merged", target)
    assert (kept["report_count"], sorted(kept["sources"]), kept["version"]) == (3, ["hotline", "sensor"], 3)
    own = service.timeline(dup)
    assert own["action"].tolist() == ["created", "add_note", "merge"]
    combined = service.timeline(target)
    pairs = list(zip(combined.incident_id, combined.action, strict=True))
    assert pairs[:4] == [(target, "created"), (target, "acknowledge"), (dup, "created"), (dup, "add_note")]
    assert set(pairs[4:]) == {(dup, "merge"), (target, "merged")}  # same instant, one transaction
    mark = combined[combined.action == "merged"].iloc[0]
    assert f"#{dup}" in mark.note and "同一起火情" in mark.note
    assert json.loads(mark.data) == {"merged_id": dup}
    assert service.timeline(target, include_merged=False)["action"].tolist() == ["created", "acknowledge", "merged"]
    bus.drain()
    assert any(isinstance(e, IncidentMerged) and e.into_id == target for e in events)
    assert any(isinstance(e, IncidentUpdated) and e.incident_id == target and e.report_count == 3 for e in events)


@pytest.mark.parametrize("target_status", ["resolved", "closed", "false_alarm", "merged"])
def test_merge_needs_an_open_target(service, store, cfg, fixed_now, officer, target_status):
    target = make_incident(store, cfg, now=fixed_now, status=target_status)
    dup = make_incident(store, cfg, now=fixed_now)
    with pytest.raises(InvalidTransition):
        service.merge(officer, dup, 1, into_id=target)
    with pytest.raises(InvalidTransition):
        service.merge(officer, dup, 1, into_id=dup)
    assert service.get(dup)["status"] == "new"
    assert service.get(target)["version"] == 1


def test_triage_recomputes_deadlines(service, store, cfg, clock, officer):
    created = clock.now
    iid = make_incident(store, cfg, now=created, domain="unclassified", severity="P2")
    assert service.get(iid)["ack_due_at"] == created + timedelta(minutes=10)  # strictest P2 row: traffic
    assert service.get(iid)["resolve_due_at"] == created + timedelta(hours=2)
    clock.advance(minutes=1)
    row = service.set_domain(officer, iid, 1, "environment", category="noise")
    assert (row["domain"], row["category"], row["department"]) == ("environment", "noise", "eco_env")
    stored = service.get(iid)
    assert stored["ack_due_at"] == created + timedelta(minutes=30)
    assert stored["resolve_due_at"] == created + timedelta(hours=12)
    with pytest.raises(ServiceError):
        service.set_domain(officer, iid, 2, "weather")


def test_bulk_acknowledge_reports_each_incident(service, store, cfg, fixed_now, users):
    officer = users["officer_mzw"]
    mine, theirs = grid_in(cfg, officer.scope), grid_outside(cfg, officer.scope)
    ok1 = make_incident(store, cfg, now=fixed_now, area_code=mine)
    ok2 = make_incident(store, cfg, now=fixed_now, area_code=mine)
    done = make_incident(store, cfg, now=fixed_now, area_code=mine, status="dispatched")
    outside = make_incident(store, cfg, now=fixed_now, area_code=theirs)
    results = service.bulk_acknowledge(officer, [(ok1, 1), (ok2, 7), (done, 1), (outside, 1), (ok1, 1), (404, 1)])
    assert [(r.incident_id, r.ok, r.error) for r in results] == [
        (ok1, True, None), (ok2, False, "Conflict"), (done, False, "InvalidTransition"),
        (outside, False, "PermissionDenied"), (ok1, False, "Conflict"), (404, False, "NotFound")]
    assert all(r.message for r in results if not r.ok)
    assert [service.get(i)["status"] for i in (ok1, ok2, done, outside)] == ["acknowledged", "new", "dispatched", "new"]
    with pytest.raises(PermissionDenied):
        service.bulk_acknowledge(users["viewer"], [(ok2, 1)])


def test_extension_pauses_the_clock_only_when_approved(service, store, cfg, clock, users):
    officer, leader = users["officer"], users["leader"]
    iid = make_incident(store, cfg, now=clock.now, status="dispatched")
    due = service.get(iid)["resolve_due_at"]
    with pytest.raises(InvalidTransition):
        service.request_extension(officer, make_incident(store, cfg, now=clock.now), 1, 3600, "待受理不能延期")
    first = service.request_extension(officer, iid, 1, 7200, "需协调物业")
    assert service.get(iid)["resolve_due_at"] == due  # requesting changes nothing
    with pytest.raises(ServiceError):
        service.request_extension(officer, iid, 1, 3600, "重复申请")
    with pytest.raises(PermissionDenied):
        service.decide_extension(officer, iid, 1, first, approve=True)
    service.decide_extension(leader, iid, 1, first, approve=False, note="理由不足")
    row = service.get(iid)
    assert (row["resolve_due_at"], row["paused_seconds"], row["version"]) == (due, 0, 2)
    second = service.request_extension(officer, iid, 2, 3600, "材料到货延迟")
    service.decide_extension(leader, iid, 2, second, approve=True)
    row = service.get(iid)
    assert (row["resolve_due_at"], row["paused_seconds"], row["version"]) == (due + timedelta(hours=1), 3600, 3)
    with pytest.raises(InvalidTransition):
        service.decide_extension(leader, iid, 3, second, approve=True)
    assert store.query("SELECT extension_id, status, decided_by FROM extensions ORDER BY extension_id") == [
        (first, "rejected", "leader"), (second, "approved", "leader")]
    actions = service.timeline(iid)["action"].tolist()
    assert actions == ["created", "request_extension", "decide_extension", "request_extension", "decide_extension"]
    audited = [(a, json.loads(d).get("approved")) for _, a, d in audit_rows(store, iid)]
    assert audited == [("request_extension", None), ("denied:decide_extension", None), ("decide_extension", False),
                       ("request_extension", None), ("decide_extension", True)]


def test_get_returns_aware_datetimes(service, store, cfg, fixed_now):
    row = service.get(make_incident(store, cfg, now=fixed_now))
    assert row["created_at"] == fixed_now and row["created_at"].tzinfo is not None
    assert row["acknowledged_at"] is None
    assert row["sources"] == ["grid"]


@pytest.mark.parametrize("action", sorted(SYSTEM_ACTIONS))
def test_system_actions_are_not_offered_to_people(service, store, cfg, fixed_now, users, action):
    iid = make_incident(store, cfg, now=fixed_now)
    for user in ("admin", "officer"):
        assert action not in allowed_actions("new", users[user].role)
        with pytest.raises(PermissionDenied):
            service.system_transition(None, users[user], action, iid, "", fixed_now)


def test_source_close_goes_through_the_lifecycle(service, store, cfg, fixed_now):
    iid = make_incident(store, cfg, now=fixed_now)
    source = Actor("source:hotline_api", "system", cfg.site.city.code)
    events = store.write(lambda conn: service.system_transition(conn, source, "source_close", iid, "来源系统已办结",
                                                                fixed_now))
    assert [(e.from_status, e.to_status, e.actor) for e in events] == [("new", "closed", "source:hotline_api")]
    stored = service.get(iid)
    assert (stored["status"], stored["closed_at"], stored["version"]) == ("closed", fixed_now, 2)
    assert audit_rows(store, iid)[-1][:2] == ("source:hotline_api", "source_close")
    # already closed: a second close from the source changes nothing
    assert store.write(lambda conn: service.system_transition(conn, source, "source_close", iid, "", fixed_now)) == []


def test_the_lifecycle_defines_each_step_once_with_its_actor_kind():
    assert len({s.action for s in STEPS}) == len(STEPS)
    assert {s.actor for s in STEPS} == set(ACTOR_KINDS)
    assert SYSTEM_ACTIONS == {"source_close", "auto_resolve"} and not SYSTEM_ACTIONS & set(ROLE_ACTIONS["admin"])
    assert target("auto_resolve", "new") == "resolved" and target("resolve", "new") is None
    assert target("source_close", "resolved") == "closed" and target("escalated", "merged") is None


@pytest.mark.parametrize(("rows", "legal"), [
    ([("created", None, "new"), ("auto_resolve", "new", "resolved"), ("close", "resolved", "closed")], True),
    ([("created", None, "new"), ("correlated", None, None), ("source_close", "new", "closed"),
      ("hotline_update", None, None)], True),
    ([("created", None, "new"), ("resolve", "new", "resolved")], False),  # a person resolves what was dispatched
    ([("created", None, "new"), ("merge", "new", "merged"), ("escalated", None, None)], False),  # swept after a merge
    ([("created", None, "new"), ("acknowledge", "new", "dispatched")], False),  # the row lies about where it led
    ([("acknowledge", "new", "acknowledged")], False),  # no creation
])
def test_timeline_errors_accepts_exactly_the_legal_walks(rows, legal):
    assert (timeline_errors(rows) == []) is legal
