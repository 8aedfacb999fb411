"""A case keeps the SLA deadlines of the table in force when it was created: a later config change moves nothing."""

from __future__ import annotations

from datetime import timedelta

from ops_center.core.config import SlaConfig
from ops_center.core.lifecycle import Actor
from ops_center.core.model import Decision, Event
from ops_center.core.sla import SlaPolicy
from ops_center.service.bus import Bus
from ops_center.service.incidents import IncidentService
from ops_center.service.pipeline import Pipeline
from ops_center.service.sweep import apply_sweep, load_open, sweep
from ops_center.store.store import Store, from_db
from tests.factories import FixedClock
from tests.fixtures_rules import BatchlessRuleSet

GRID = "510108002005001"
ADMIN = Actor("admin", "admin", "510108")
OFFICER = Actor("officer", "officer", "510108")


class SmokeRules:
    """One rule: a smoke alarm is a P1 fire case (this test pins deadlines, not the shipped rules)."""

    version = 1

    class current(BatchlessRuleSet):  # noqa: N801 - mimics RulesHolder.current
        @staticmethod
        def evaluate(ev: Event, state=None, prediction=None, ctx=None) -> list[Decision]:
            return [Decision("smoke", "fire_safety", "smoke_alarm", "P1", "street", "fire", f"烟感报警 {ev.device_id}")]


def _alarm(n: int, at) -> Event:
    return Event(source="sensor", source_id="mqtt_sensors", natural_key=f"SMK-{n}", occurred_at=at, received_at=at,
                 kind="smoke", device_id=f"SMK-{n:04d}", event="alarm", area_code=GRID, lat=30.65 + n * 0.02, lon=104.08)


def _create(store, cfg, clock, n: int) -> tuple[int, object, object]:
    bus = Bus()
    pipeline = Pipeline(store, bus, cfg, SmokeRules(), SlaPolicy(cfg), clock).start()
    pipeline.submit(_alarm(n, clock()))
    pipeline.flush()
    pipeline.stop()
    bus.close()
    iid, ack, res = store.query("SELECT incident_id, ack_due_at, resolve_due_at FROM incidents "
                                "ORDER BY incident_id DESC LIMIT 1")[0]
    return iid, from_db(ack), from_db(res)


def _slower(cfg):
    """The same config with every fire P1 clock ten times longer (a later SLA table)."""
    table = tuple(r.model_copy(update={"acknowledge": r.acknowledge * 10, "resolve": r.resolve * 10})
                  if r.domain == "fire_safety" else r for r in cfg.sla.table)
    return cfg.model_copy(update={"sla": SlaConfig(warn_at=cfg.sla.warn_at, table=table)})


def test_deadlines_stay_those_of_the_table_in_force_at_creation(cfg, db_path, fixed_now):
    clock = FixedClock(fixed_now)
    store = Store(db_path)
    try:
        iid, ack_due, resolve_due = _create(store, cfg, clock, 1)
        assert ack_due == fixed_now + timedelta(minutes=3) and resolve_due == fixed_now + timedelta(hours=1)
        later = _slower(cfg)  # the restart with the new table
        policy, bus = SlaPolicy(later), Bus()
        service = IncidentService(store, bus, later, clock, policy)
        clock.advance(minutes=1)
        apply_sweep(store, bus, sweep(load_open(store, clock(), policy), clock(), later, policy), clock())
        inc = service.get(iid)
        assert (inc["ack_due_at"], inc["resolve_due_at"]) == (ack_due, resolve_due)
        inc = service.acknowledge(OFFICER, iid, inc["version"])
        inc = service.dispatch(OFFICER, iid, inc["version"], "fire", "street")
        ext = service.request_extension(OFFICER, iid, inc["version"], 1800, "等待配件")
        inc = service.decide_extension(ADMIN, iid, service.get(iid)["version"], ext, True)
        assert inc["ack_due_at"] == ack_due
        assert inc["resolve_due_at"] == resolve_due + timedelta(minutes=30)  # only the approved extension moved it
        # A case created under the new table gets the new deadlines: the change was real.
        _, new_ack, new_resolve = _create(store, later, clock, 2)
        assert (new_ack, new_resolve) == (clock() + timedelta(minutes=30), clock() + timedelta(hours=10))
        bus.close()
    finally:
        store.close()
