"""催办 by the clock: once before the deadline (sla.warn_at), once after it, per unit, stored, timelined, published."""

from __future__ import annotations

from datetime import timedelta

from ingest.outbound_wire import PUBLISHED, incident_topic
from ops_center.read.work_queue import unit_queue
from ops_center.service.bus import UnitReminded
from ops_center.service.reminders import issue_reminders
from ops_center.service.sweep import apply_sweep, load_open, sweep
from tests.factories import make_incident, policy_for
from tests.fixtures_work_orders import GRID, JIANHUA


def tick(store, bus, cfg, now):
    """What the scheduler's sweep job does at `now`: the SLA sweep, then the reminders."""
    policy = policy_for(cfg)
    apply_sweep(store, bus, sweep(load_open(store, now, policy), now, cfg, policy), now)
    return [(e.unit, e.kind) for e in issue_reminders(store, bus, now)]


def reminders(store):
    return store.query("SELECT unit, kind, issued_by FROM reminders ORDER BY reminder_id")


def test_reminded_once_before_and_once_after_the_deadline(wo, store, bus, cfg, fixed_now, u, events):
    # P2 city management: resolve 8 h (24x7), warned at 80 % = 6.4 h
    iid = make_incident(store, cfg, now=fixed_now, status="acknowledged", domain="city_management", severity="P2",
                        area_code=GRID)
    lead, co = wo.dispatch(u["officer"], iid, 1, "urban_mgmt", (JIANHUA,), note="派遣")["assignment_ids"]
    wo.accept(u["unit_cg"], lead)
    due = wo.incidents.get(iid)["resolve_due_at"]
    assert tick(store, bus, cfg, fixed_now + timedelta(hours=6)) == []
    at_warn = fixed_now + timedelta(hours=6, minutes=30)
    assert tick(store, bus, cfg, at_warn) == [("urban_mgmt", "before"), (JIANHUA, "before")]
    assert tick(store, bus, cfg, at_warn + timedelta(minutes=5)) == []  # stored once
    after = due + timedelta(minutes=1)
    assert tick(store, bus, cfg, after) == [("urban_mgmt", "overdue"), (JIANHUA, "overdue")]
    assert tick(store, bus, cfg, after + timedelta(hours=1)) == []
    assert reminders(store) == [("urban_mgmt", "before", "system"), (JIANHUA, "before", "system"),
                                ("urban_mgmt", "overdue", "system"), (JIANHUA, "overdue", "system")]
    timeline = wo.incidents.timeline(iid)
    assert (timeline["action"] == "reminded").sum() == 4 and set(timeline["actor"][timeline["action"] == "reminded"]) \
        == {"system"}
    queue = unit_queue(store, "urban_mgmt", None, after)
    assert (queue.iloc[0]["reminders"], queue.iloc[0]["last_reminder_kind"]) == (2, "overdue")
    bus.drain()
    published = [e for e in events if isinstance(e, UnitReminded)]
    assert [(e.unit, e.kind, e.assignment_id) for e in published][:2] == [("urban_mgmt", "before", lead),
                                                                          (JIANHUA, "before", co)]
    assert published[0].due_at == due.isoformat()


def test_no_reminder_for_hung_returned_or_finished_orders(wo, store, bus, cfg, fixed_now, u):
    hung = make_incident(store, cfg, now=fixed_now, status="acknowledged", domain="city_management", severity="P2",
                         area_code=GRID)
    (a,) = wo.dispatch(u["officer"], hung, 1, "urban_mgmt", note="派遣")["assignment_ids"]
    wo.accept(u["unit_cg"], a)
    wo.hang(u["unit_cg"], hung, 2, "engineering", "纳入年度工程")
    returned = make_incident(store, cfg, now=fixed_now, status="acknowledged", domain="city_management",
                             severity="P2", area_code=GRID)
    (b,) = wo.dispatch(u["officer"], returned, 1, "urban_mgmt", note="派遣")["assignment_ids"]
    wo.return_order(u["unit_cg"], b, "非本单位职责")
    assert tick(store, bus, cfg, fixed_now + timedelta(days=2)) == []


def test_an_approved_extension_is_reminded_again_for_its_new_deadline(wo, store, bus, cfg, fixed_now, clock, u):
    iid = make_incident(store, cfg, now=fixed_now, status="acknowledged", domain="city_management", severity="P2",
                        area_code=GRID)
    (lead,) = wo.dispatch(u["officer"], iid, 1, "urban_mgmt", note="派遣")["assignment_ids"]
    wo.accept(u["unit_cg"], lead)
    clock.now = fixed_now + timedelta(hours=7)
    assert tick(store, bus, cfg, clock.now) == [("urban_mgmt", "before")]
    ext = wo.request_extension(u["unit_cg"], lead, 8 * 3600, "等待配件")
    wo.decide_extension(u["shiftlead"], ext, True, "同意")
    assert tick(store, bus, cfg, clock.now) == []  # the new deadline is far: not warned any more
    assert tick(store, bus, cfg, fixed_now + timedelta(hours=14, minutes=30)) == [("urban_mgmt", "before")]


def test_reminders_go_out_on_mqtt(cfg):
    assert UnitReminded in PUBLISHED
    assert incident_topic(cfg.mqtt, "reminded") == f"{cfg.mqtt.topic_prefix}/out/incident/reminded"
