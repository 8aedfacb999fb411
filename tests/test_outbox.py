"""The federation outbox: every incident change in its own transaction, numbered without gaps, off when unset."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ops_center.core.lifecycle import Actor, Conflict
from ops_center.core.sla import SlaPolicy
from ops_center.service.bus import Bus
from ops_center.service.incidents import IncidentService
from ops_center.service.outbox import Outbox
from ops_center.service.pipeline import Pipeline
from ops_center.service.sweep import apply_sweep, load_open, sweep
from ops_center.service.work_orders import WorkOrderService
from ops_center.store.store import Store
from tests.factories import FixedClock, make_incident
from tests.test_pipeline import StubRules, hotline, sensor

ADMIN = Actor("admin", "admin", "510108")


def rows(store) -> list[tuple[int, int, dict]]:
    return [(s, i, json.loads(r)) for s, i, r in store.query("SELECT seq, incident_id, snapshot FROM fed_outbox ORDER BY seq")]


def carried(store) -> list[tuple[int, str, str | None]]:
    """Every timeline entry the outbox carries, in outbox order: (incident, action, note)."""
    box = Outbox(store, "510108", None)  # reads only
    return [(i, e["action"], e["note"]) for _, i, _, t, _ in box.read(0, 10**6) if t for e in json.loads(t)]


def written(store) -> list[tuple[int, str, str | None]]:
    return [tuple(r) for r in store.query("SELECT incident_id, action, note FROM incident_timeline ORDER BY entry_id")]


@pytest.fixture
def clock(fixed_now):
    return FixedClock(fixed_now)


@pytest.fixture
def outbox(store, clock):
    return Outbox(store, "510108", clock).install()


def test_off_by_default_writes_nothing(store, bus, cfg, clock, fixed_now):
    iid = make_incident(store, cfg, now=fixed_now)
    IncidentService(store, bus, cfg, clock).acknowledge(ADMIN, iid, 1)
    assert store.change_hook is None
    assert rows(store) == []


def test_seed_publishes_what_was_stored_before_and_only_once(store, cfg, clock, fixed_now):
    ids = [make_incident(store, cfg, now=fixed_now) for _ in range(3)]
    box = Outbox(store, "510108", clock).install()
    assert [(s, i) for s, i, _ in rows(store)] == [(1, ids[0]), (2, ids[1]), (3, ids[2])]
    assert store.write(box.seed) == 0
    assert box.written == 3


def test_human_actions_and_their_rollbacks(outbox, store, bus, cfg, clock, fixed_now):
    iid = make_incident(store, cfg, now=fixed_now)  # inserted behind the hook's back: a factory, not a writer
    service = IncidentService(store, bus, cfg, clock)
    service.acknowledge(ADMIN, iid, 1)
    with pytest.raises(Conflict):
        service.dispatch(ADMIN, iid, 1, department="fire")  # stale version: rolled back, no number taken
    service.dispatch(ADMIN, iid, 2, department="fire")
    WorkOrderService(store, bus, cfg, clock, incidents=service).supervise(
        Actor("leader", "leader", "510108"), iid, fixed_now + timedelta(days=3), "限期办结")
    got = rows(store)
    assert [s for s, _, _ in got] == [1, 2, 3]
    assert [(r["status"], r["supervised"], r["version"]) for _, _, r in got] == [
        ("acknowledged", False, 2), ("dispatched", False, 3), ("dispatched", True, 4)]
    assert {i for _, i, _ in got} == {iid}


def test_a_rolled_back_write_leaves_no_gap(outbox, store, cfg, fixed_now):
    iid = make_incident(store, cfg, now=fixed_now)

    def changes_then_fails(conn):
        conn.execute("UPDATE incidents SET severity = 'P1' WHERE incident_id = ?", [iid])
        store.incidents_changed(conn, [iid])
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.write(changes_then_fails)
    store.write(lambda conn: store.incidents_changed(conn, [iid]))
    assert [s for s, _, _ in rows(store)] == [1]
    assert store.write(lambda conn: store.incidents_changed(conn, [10**9])) is None  # unknown id: no number taken
    store.write(lambda conn: store.incidents_changed(conn, [iid]))
    assert [s for s, _, _ in rows(store)] == [1, 2]
    assert outbox.written == outbox.head() == 2  # the publisher reads only while something is above what it sent
    assert Outbox(store, "510108", outbox.clock).see_head() == 2  # a fresh reader takes the committed head


def test_pipeline_batches_and_the_sweep_are_recorded(cfg, db_path, fixed_now):
    clock = FixedClock(fixed_now)
    store, bus = Store(db_path), Bus()
    Outbox(store, "510108", clock).install()
    pipeline = Pipeline(store, bus, cfg, StubRules(), SlaPolicy(cfg), clock).start()
    try:
        pipeline.submit(sensor(1, fixed_now))
        pipeline.submit(hotline("R1", fixed_now, "占道经营"))
        pipeline.flush()
        pipeline.submit(sensor(2, fixed_now))  # a repeat: report_count 2
        pipeline.submit(hotline("R1", fixed_now, "已办结", update="2", closed_at_source=True))
        pipeline.flush()
        created = rows(store)
        by_id = {}
        for _, i, r in created:
            by_id.setdefault(i, []).append(r)
        assert len(by_id) == 2
        smoke = next(v for v in by_id.values() if v[0]["domain"] == "fire_safety")
        request = next(v for v in by_id.values() if v[0]["domain"] == "city_management")
        assert [r["report_count"] for r in smoke] == [1, 2]
        assert [r["status"] for r in request] == ["new", "closed"]
        later = fixed_now + timedelta(days=3)
        clock.now = later
        policy = SlaPolicy(cfg)
        applied = apply_sweep(store, bus, sweep(load_open(store, later, policy), later, cfg, policy), later)
        assert applied
        after = rows(store)[len(created):]
        assert {i for _, i, _ in after} == {a.incident_id for a in applied}
        assert all(r["overdue"] for _, _, r in after)
        seqs = [s for s, _, _ in rows(store)]
        assert seqs == list(range(1, len(seqs) + 1))
        # every timeline entry (created, repeat, source close, the sweep's) rides with its change, once
        assert sorted(carried(store)) == sorted(written(store)) and len(written(store)) > 4
    finally:
        pipeline.stop()
        bus.close()
        store.close()


def test_prune_keeps_unacked_and_the_newest(outbox, store, cfg, clock, fixed_now):
    ids = [make_incident(store, cfg, now=fixed_now) for _ in range(4)]
    store.write(lambda conn: store.incidents_changed(conn, ids))
    outbox.save_acked(3)
    assert outbox.prune(timedelta(days=7), fixed_now + timedelta(days=8)) == 3
    assert [s for s, _, _ in rows(store)] == [4]
    outbox.save_acked(4)
    assert outbox.prune(timedelta(days=7), fixed_now + timedelta(days=8)) == 0  # the newest stays
    assert outbox.acked() == 4 and outbox.head() == 4


def test_timeline_entries_travel_once_with_the_change_that_wrote_them(store, bus, cfg, clock, fixed_now):
    before = make_incident(store, cfg, now=fixed_now)  # stored before federation: seeded with its whole timeline
    outbox = Outbox(store, "510108", clock).install()
    service = IncidentService(store, bus, cfg, clock)
    service.acknowledge(ADMIN, before, 1, note="收到")  # the service writes the entry after the row
    service.add_note(ADMIN, before, note="已联系物业")  # no column changes: still a change of its history
    other = make_incident(store, cfg, now=fixed_now)  # a factory: entries written behind the hook's back …
    store.write(lambda conn: store.incidents_changed(conn, [before]))  # … ride with the next recorded change
    assert [(i, a) for i, a, _ in carried(store)] == [
        (before, "created"), (before, "acknowledge"), (before, "add_note"), (other, "created")]
    assert sorted(carried(store)) == sorted(written(store))
    assert rows(store)[2][2]["version"] == rows(store)[1][2]["version"]  # the note: same row, new entry
    assert [(i, t is None) for _, i, _, t, _ in outbox.read(0, 10)] == [
        (before, False), (before, False), (before, False), (before, True), (other, False)]
