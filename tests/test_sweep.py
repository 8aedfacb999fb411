"""The SLA sweep: pure decisions, the full escalation chain on a fixed clock, 超期 + 督办, races with humans."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest

from ops_center.core.sla import SlaPolicy
from ops_center.service.bus import IncidentEscalated, IncidentOverdue, IncidentWarned
from ops_center.service.incidents import Actor, IncidentService
from ops_center.service.sweep import Action, OpenIncident, apply_sweep, load_open, next_level, sweep
from tests.factories import make_incident, make_incidents


@pytest.fixture(scope="module")
def policy(cfg):
    return SlaPolicy(cfg)


def open_incident(now, policy, **kw) -> OpenIncident:
    fields = dict(incident_id=1, version=1, status="new", domain="public_security", severity="P1", category=None,
                  level="community", created_at=now, acknowledged_at=None)
    fields.update(kw)
    created = fields["created_at"]
    fields.setdefault("ack_due_at", policy.ack_due(fields["domain"], fields["severity"], None, created))
    fields.setdefault("resolve_due_at", policy.resolve_due(fields["domain"], fields["severity"], None, created))
    return OpenIncident(**fields)


def run(store, bus, cfg, policy, now):
    """One sweep the way the scheduler job does it."""
    return apply_sweep(store, bus, sweep(load_open(store, now, policy), now, cfg, policy), now)


def test_next_level():
    chain = ("community", "street", "district", "city")
    assert [next_level(chain, lvl) for lvl in chain] == ["street", "district", "city", None]
    assert next_level(chain, "grid") is None


def test_nothing_to_do_before_the_warning(cfg, policy, fixed_now):
    inc = open_incident(fixed_now, policy)  # P1: acknowledge 5 min, warn at 4 min
    assert sweep([inc], fixed_now + timedelta(minutes=3, seconds=59), cfg, policy) == []


def test_ack_warning_at_80_percent_once(cfg, policy, fixed_now):
    inc = open_incident(fixed_now, policy)
    at = fixed_now + timedelta(minutes=4)
    assert sweep([inc], at, cfg, policy) == [Action("warn", "acknowledge", 1, 1, "community")]
    warned = open_incident(fixed_now, policy, ack_warned=True)
    assert sweep([warned], at, cfg, policy) == []


def test_resolve_warning_for_acknowledged_incident(cfg, policy, fixed_now):
    inc = open_incident(fixed_now, policy, status="dispatched", acknowledged_at=fixed_now)
    at = fixed_now + timedelta(minutes=96)  # 80 % of 2 h
    assert sweep([inc], at - timedelta(seconds=1), cfg, policy) == []
    assert sweep([inc], at, cfg, policy) == [Action("warn", "resolve", 1, 1, "community")]


def test_ack_deadline_escalates_with_a_new_deadline_from_now(cfg, policy, fixed_now):
    inc = open_incident(fixed_now, policy, ack_warned=True)
    assert sweep([inc], fixed_now + timedelta(minutes=5), cfg, policy) == []  # at the deadline: still in time
    at = fixed_now + timedelta(minutes=6)
    assert sweep([inc], at, cfg, policy) == [
        Action("escalate", "acknowledge", 1, 1, "community", "street", at + timedelta(minutes=5))]


def test_acknowledged_incidents_do_not_escalate_on_the_ack_clock(cfg, policy, fixed_now):
    inc = open_incident(fixed_now, policy, status="acknowledged", acknowledged_at=fixed_now)
    assert sweep([inc], fixed_now + timedelta(minutes=30), cfg, policy) == []


def test_top_of_the_chain_marks_ack_overdue_once(cfg, policy, fixed_now):
    inc = open_incident(fixed_now, policy, level="city")
    at = fixed_now + timedelta(minutes=6)
    assert sweep([inc], at, cfg, policy) == [Action("overdue", "acknowledge", 1, 1, "city")]
    marked = open_incident(fixed_now, policy, level="city", ack_overdue=True)
    assert sweep([marked], at, cfg, policy) == []


def test_resolve_deadline_means_overdue_and_escalation(cfg, policy, fixed_now):
    inc = open_incident(fixed_now, policy, status="dispatched", acknowledged_at=fixed_now, resolve_warned=True)
    at = fixed_now + timedelta(hours=2, seconds=1)
    assert sweep([inc], at, cfg, policy) == [Action("overdue", "resolve", 1, 1, "community", "street")]
    assert sweep([open_incident(fixed_now, policy, status="dispatched", acknowledged_at=fixed_now, overdue=True)],
                 at, cfg, policy) == []


def test_both_clocks_expired_escalate_twice(cfg, policy, fixed_now):
    inc = open_incident(fixed_now, policy)
    at = fixed_now + timedelta(hours=3)
    kinds = [(a.kind, a.clock, a.from_level, a.to_level) for a in sweep([inc], at, cfg, policy)]
    assert kinds == [("escalate", "acknowledge", "community", "street"), ("overdue", "resolve", "street", "district")]


def test_closed_incidents_are_ignored(cfg, policy, fixed_now):
    inc = open_incident(fixed_now, policy, status="resolved")
    assert sweep([inc], fixed_now + timedelta(days=3), cfg, policy) == []


def test_workdays_clock_waits_over_the_holiday(cfg, policy):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    created = datetime(2026, 9, 30, 17, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    inc = open_incident(created, policy, domain="fire_safety", severity="P3", level="street")
    assert sweep([inc], created + timedelta(days=5), cfg, policy) == []  # 5 October: a holiday
    warn = datetime(2026, 10, 8, 9, 18, tzinfo=ZoneInfo("Asia/Shanghai"))  # 48 of 60 working minutes
    assert sweep([inc], warn - timedelta(seconds=1), cfg, policy) == []
    assert [a.kind for a in sweep([inc], warn, cfg, policy)] == ["warn"]


def test_full_escalation_chain_to_the_city(store, bus, events, cfg, policy, fixed_now):
    iid = make_incident(store, cfg, now=fixed_now, domain="public_security", severity="P1")
    assert store.query("SELECT level FROM incidents")[0][0] == "community"
    levels = []
    now = fixed_now
    for _ in range(40):  # advance the clock in 30 s steps for 20 minutes
        now += timedelta(seconds=30)
        run(store, bus, cfg, policy, now)
        levels.append(store.query("SELECT level FROM incidents WHERE incident_id = ?", [iid])[0][0])
    assert levels[9] == "community" and levels[10] == "street"  # 5:00 still in time, 5:30 escalated
    assert levels[-1] == "city"
    assert list(dict.fromkeys(levels)) == ["community", "street", "district", "city"]
    row = store.query("SELECT level, escalations, ack_overdue, overdue, supervised, version FROM incidents")[0]
    assert row[:5] == ("city", 3, True, False, False)
    timeline = store.query_df("SELECT actor, action, note, data FROM incident_timeline WHERE incident_id = ? "
                              "ORDER BY ts, rowid", [iid])
    assert timeline.action.tolist() == ["created", "warned", "escalated", "warned", "escalated", "warned",
                                        "escalated"]
    assert set(timeline.actor[1:]) == {"system"}
    hops = [(d["from_level"], d["to_level"]) for d in map(json.loads, timeline.data[timeline.action == "escalated"])]
    assert hops == [("community", "street"), ("street", "district"), ("district", "city")]
    assert row[5] == 1 + len(timeline) - 1  # one version bump per applied action
    bus.drain()
    escalated = [(e.from_level, e.to_level, e.reason) for e in events if isinstance(e, IncidentEscalated)]
    assert escalated == [("community", "street", "ack_overdue"), ("street", "district", "ack_overdue"),
                         ("district", "city", "ack_overdue")]
    assert [e.kind for e in events if isinstance(e, IncidentWarned)] == ["acknowledge"] * 3
    # The city's deadline passes too: nothing escalates beyond the top.
    later = now + timedelta(minutes=30)
    assert run(store, bus, cfg, policy, later) == []
    assert store.query("SELECT level, escalations FROM incidents")[0] == ("city", 3)
    # Two hours after creation the resolve clock runs out: 超期 + 督办, still at the city.
    applied = run(store, bus, cfg, policy, fixed_now + timedelta(hours=2, minutes=1))
    assert [(a.kind, a.clock, a.to_level) for a in applied] == [("overdue", "resolve", None)]
    assert store.query("SELECT level, overdue, supervised FROM incidents")[0] == ("city", True, True)
    bus.drain()
    assert not [e for e in events if isinstance(e, IncidentEscalated) and e.from_level == "city"]
    assert [e.kind for e in events if isinstance(e, IncidentOverdue)] == ["resolve"]


def test_overdue_is_supervised_and_escalated(store, bus, events, cfg, policy, fixed_now):
    iid = make_incident(store, cfg, now=fixed_now, domain="elderly_care", severity="P2", status="dispatched",
                        acknowledged_at=fixed_now, dispatched_at=fixed_now)
    at = fixed_now + timedelta(hours=4, minutes=1)
    applied = run(store, bus, cfg, policy, at)
    assert [(a.kind, a.clock, a.from_level, a.to_level) for a in applied] == [
        ("overdue", "resolve", "community", "street")]
    row = store.query("SELECT status, level, overdue, supervised, escalations FROM incidents")[0]
    assert row == ("dispatched", "street", True, True, 1)
    notes = store.query("SELECT action, note FROM incident_timeline WHERE incident_id = ? ORDER BY rowid", [iid])
    assert notes[1:] == [("overdue", "超期，督办"), ("escalated", "超期升级至街道")]
    bus.drain()
    assert [type(e).__name__ for e in events] == ["IncidentOverdue", "IncidentEscalated"]
    assert events[1].reason == "resolve_overdue"
    assert run(store, bus, cfg, policy, at + timedelta(minutes=5)) == []  # marked once


def test_a_human_who_acted_first_wins(store, bus, cfg, policy, fixed_now):
    iid = make_incident(store, cfg, now=fixed_now, domain="public_security", severity="P1")
    at = fixed_now + timedelta(minutes=6)
    actions = sweep(load_open(store, at, policy), at, cfg, policy)
    assert [a.kind for a in actions] == ["escalate"]
    service = IncidentService(store, bus, cfg, lambda: at, policy)
    service.acknowledge(Actor("officer", "officer", "510108"), iid, 1)
    assert apply_sweep(store, bus, actions, at) == []
    assert store.query("SELECT status, level, version FROM incidents")[0] == ("acknowledged", "community", 2)


def test_prefilter_selects_exactly_what_sweep_needs(store, cfg, policy, fixed_now):
    rng = random.Random(11)
    domains = [d.code for d in cfg.domains] + ["unclassified"]
    specs = []
    for _ in range(400):
        status = rng.choice(["new", "new", "acknowledged", "dispatched", "resolved"])
        created = fixed_now - timedelta(minutes=rng.randint(0, 60 * 24 * 6))
        reached = {"acknowledged_at": created, "dispatched_at": created, "resolved_at": created}
        specs.append(dict(domain=rng.choice(domains), severity=rng.choice(["P1", "P2", "P3", "P4"]), status=status,
                          created_at=created, level=rng.choice(cfg.escalation.chain),
                          ack_warned=rng.random() < 0.3, resolve_warned=rng.random() < 0.3,
                          ack_overdue=rng.random() < 0.2, overdue=rng.random() < 0.2,
                          **({} if status == "new" else {k: v for k, v in reached.items()
                                                         if k != "resolved_at" or status == "resolved"})))
    make_incidents(store, cfg, specs, now=fixed_now)
    everything = load_open(store)
    assert len(everything) == sum(s["status"] != "resolved" for s in specs)
    for at in (fixed_now, fixed_now + timedelta(hours=3), fixed_now + timedelta(days=2)):
        expected = sweep(everything, at, cfg, policy)
        subset = load_open(store, at, policy)
        assert len(subset) < len(everything)
        assert sweep(subset, at, cfg, policy) == expected
        assert expected  # the fixture is not vacuous
        assert {i.incident_id for i in subset} == {a.incident_id for a in expected}  # the SQL is exact
