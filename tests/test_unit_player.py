"""The demo's units answer a dispatch through the real service: accept or return, then feedback or an extension."""

from __future__ import annotations

from ops_center.core.lifecycle import Actor
from ops_center.demo.unit_player import Pace, UnitPlayer
from tests.factories import make_incident
from tests.fixtures_work_orders import GRID


def dispatch_some(wo, store, cfg, now, count):
    officer = Actor("officer", "officer", "510108")
    ids = []
    for _ in range(count):
        iid = make_incident(store, cfg, now=now, status="acknowledged", domain="city_management", area_code=GRID)
        ids.append(wo.dispatch(officer, iid, 1, "urban_mgmt", ("community:510108002002",), note="派遣")["assignment_ids"])
    return ids


def test_units_accept_then_report(wo, store, cfg, clock):
    dispatch_some(wo, store, cfg, clock.now, 3)
    player = UnitPlayer(wo, cfg, clock, seed=1, pace=Pace(return_share=0, extension_share=0, per_round=100))
    assert player.round() == []  # nobody answers within the first minutes
    clock.advance(minutes=3)
    assert {a for a, _ in player.round()} == {"accept"}
    assert store.query("SELECT count(*) FROM assignments WHERE status = 'accepted'")[0][0] == 6
    assert player.round() == []  # still at work
    clock.advance(minutes=7)
    assert {a for a, _ in player.round()} == {"feedback"}
    assert store.query("SELECT status, count(*) FROM incidents GROUP BY 1") == [("resolved", 3)]
    who = dict(store.query("SELECT role, any_value(author) FROM feedback GROUP BY 1"))
    assert who == {"lead": "unit_cg", "co": "unit_jh"}  # the configured users of 城管局 and 建华社区
    assert player.round() == []


def test_units_sometimes_return_and_ask_for_more_time(wo, store, cfg, clock):
    dispatch_some(wo, store, cfg, clock.now, 4)
    player = UnitPlayer(wo, cfg, clock, seed=2, pace=Pace(return_share=1, extension_share=1, per_round=100))
    clock.advance(minutes=3)
    assert {a for a, _ in player.round()} == {"return_order"}
    assert store.query("SELECT count(*) FROM assignments WHERE status = 'returned'")[0][0] == 8
    audit = store.query("SELECT DISTINCT actor FROM audit_log WHERE action = 'return_order' ORDER BY 1")
    assert audit == [("unit_cg",), ("unit_jh",)]


def test_extension_requests_on_lead_orders(wo, store, cfg, clock):
    dispatch_some(wo, store, cfg, clock.now, 2)
    player = UnitPlayer(wo, cfg, clock, seed=3, pace=Pace(return_share=0, extension_share=1, per_round=100))
    clock.advance(minutes=3)
    player.round()
    clock.advance(minutes=10)
    actions = sorted(a for a, _ in player.round())
    assert actions == ["feedback", "feedback", "request_extension", "request_extension"]  # co-handlers report
    assert store.query("SELECT count(*), count_if(approver_role = 'shift_lead') FROM extensions") == [(2, 2)]
    clock.advance(minutes=10)
    assert sorted(a for a, _ in player.round()) == ["feedback", "feedback"]  # asked once, then reports
    assert store.query("SELECT status, count(*) FROM incidents GROUP BY 1") == [("resolved", 2)]
