"""The pipeline: exactly-once by natural key, incidents with SLA deadlines, repeats, updates, dead letters."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from ops_center.core.model import Decision, Event
from ops_center.core.sla import SlaPolicy
from ops_center.service.bus import Bus, IncidentCreated, IncidentTransitioned, IncidentUpdated
from ops_center.service.pipeline import Pipeline
from ops_center.store.store import Store, from_db
from tests.fixtures_rules import BatchlessRuleSet

GRID = "510108002005001"


class Clock:
    """A settable clock: tests move time by hand, never sleep."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class StubRules:
    """A rule set with one rule per kind, so these tests pin the pipeline, not the shipped rules."""

    version = 1

    class current(BatchlessRuleSet):  # noqa: N801 - mimics RulesHolder.current
        @staticmethod
        def evaluate(ev: Event, state=None, prediction=None, ctx=None) -> list[Decision]:
            if ev.kind == "smoke" and ev.event in ("alarm", "restore"):
                return [Decision("smoke", "fire_safety", "smoke_alarm", "P1", "street", "fire", f"烟感报警 {ev.device_id}",
                                 dedup_key=f"smoke|{ev.device_id}", dedup_window=timedelta(minutes=30),
                                 clears=ev.event == "restore")]
            if ev.source in ("hotline", "grid"):
                domain = "city_management" if "占道" in ev.text else "unclassified"
                return [Decision("text", domain, domain, "P3", "community", None, ev.text[:20])]
            return []


def sensor(n: int, at: datetime, device="SMK-0001", event="alarm") -> Event:
    """A smoke alarm; each device sits ~1 km from the next, so separate devices never correlate."""
    spread = int(device[-4:]) * 0.01
    return Event(source="sensor", source_id="mqtt_sensors", natural_key=f"{device}|{n}|{event}", occurred_at=at,
                 received_at=at, kind="smoke", device_id=device, event=event, value=1.0, metric="obscuration",
                 area_code=f"{GRID}{device}", lat=30.6575 + spread, lon=104.0845)


def hotline(request_id: str, at: datetime, text: str, update: str | None = None, **fields) -> Event:
    key = request_id if update is None else f"{request_id}@{update}"
    return Event(source="hotline", source_id="hotline_drop", natural_key=key, occurred_at=at, received_at=at,
                 text=text, area_code=GRID, fields={"request_id": request_id, **fields})


@pytest.fixture
def clock(fixed_now) -> Clock:
    return Clock(fixed_now)


@pytest.fixture
def parts(cfg, db_path, clock):
    store, bus = Store(db_path), Bus()
    published: list = []
    bus.subscribe(published.append)
    pipeline = Pipeline(store, bus, cfg, StubRules(), SlaPolicy(cfg), clock).start()
    yield store, bus, pipeline, published
    pipeline.stop()
    bus.close()
    store.close()


def test_events_become_incidents_with_deadlines_and_acks_follow_commit(parts, cfg, clock):
    store, bus, pipeline, published = parts
    acked: list[int] = []
    for n in range(3):
        pipeline.submit(sensor(n, clock.now, device=f"SMK-{n:04d}"), on_committed=lambda n=n: acked.append(n))
    pipeline.flush()
    bus.drain()
    assert sorted(acked) == [0, 1, 2]
    rows = store.query("SELECT domain, severity, status, level, ack_due_at, resolve_due_at, street_code, district_code "
                       "FROM incidents ORDER BY incident_id")
    assert len(rows) == 3
    policy = SlaPolicy(cfg)
    assert from_db(rows[0][4]) == policy.ack_due("fire_safety", "P1", "smoke_alarm", clock.now)
    assert from_db(rows[0][5]) == policy.resolve_due("fire_safety", "P1", "smoke_alarm", clock.now)
    assert rows[0][:4] == ("fire_safety", "P1", "new", "street")
    assert rows[0][6:] == ("510108002", "510108")
    assert sum(isinstance(e, IncidentCreated) for e in published) == 3
    assert store.query("SELECT count(*) FROM readings")[0][0] == 3
    assert pipeline.stats("mqtt_sensors").accepted == 3


def test_a_batch_subscriber_gets_each_published_batch_once_in_order_and_a_failing_one_stops_nothing():
    bus = Bus()
    singles: list = []
    batches: list = []

    def broken(events: list) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(singles.append)
    bus.subscribe_batch(broken)
    bus.subscribe_batch(batches.append)
    try:
        bus.publish(["a", "b"])
        bus.publish([])  # nothing is delivered for an empty batch
        bus.publish(["c"])
        bus.drain()
    finally:
        bus.close()
    assert singles == ["a", "b", "c"]
    assert batches == [["a", "b"], ["c"]]


def test_same_natural_key_is_stored_once_even_across_a_restart(cfg, db_path, clock):
    events = [sensor(n, clock.now, device=f"SMK-{n % 7:04d}") for n in range(50)]
    for round_ in range(2):  # the second round is a redelivery after a restart
        store, bus = Store(db_path), Bus()
        pipeline = Pipeline(store, bus, cfg, StubRules(), SlaPolicy(cfg), clock).start()
        for ev in events + events[:10]:
            pipeline.submit(ev)
        pipeline.flush()
        stats = pipeline.stats("mqtt_sensors")
        assert (stats.accepted, stats.duplicates) == ((50, 10) if round_ == 0 else (0, 60))
        pipeline.stop()
        bus.close()
        store.close()
    with Store(db_path) as store:
        assert store.query("SELECT count(*), count(DISTINCT natural_key) FROM events")[0] == (50, 50)
        assert store.query("SELECT count(*) FROM incidents")[0][0] == 7  # one per device: the rest are repeats
        assert store.query("SELECT sum(report_count) FROM incidents")[0][0] == 50


def test_repeats_bump_within_the_window_and_open_a_new_incident_after_it(parts, clock):
    store, bus, pipeline, published = parts
    pipeline.submit(sensor(1, clock.now))
    pipeline.flush()
    clock.now += timedelta(minutes=10)
    pipeline.submit(sensor(2, clock.now))
    pipeline.flush()
    assert store.query("SELECT count(*), max(report_count) FROM incidents")[0] == (1, 2)
    clock.now += timedelta(minutes=45)
    pipeline.submit(sensor(3, clock.now))
    pipeline.flush()
    bus.drain()
    assert store.query("SELECT count(*) FROM incidents")[0][0] == 2
    assert any(isinstance(e, IncidentUpdated) and e.report_count == 2 for e in published)
    actions = [r[0] for r in store.query("SELECT action FROM incident_timeline WHERE incident_id = 1 ORDER BY ts")]
    assert actions == ["created", "repeat"]


def test_reports_of_one_place_from_other_sources_correlate_into_one_incident(parts, clock):
    store, bus, pipeline, published = parts
    pipeline.submit(sensor(1, clock.now))
    grid = Event(source="grid", source_id="mqtt_grid", natural_key="R-1", occurred_at=clock.now, received_at=clock.now,
                 text="占道经营堆放杂物", area_code=GRID, lat=30.6576, lon=104.0846)
    pipeline.submit(grid)
    call = hotline("SR-7", clock.now + timedelta(minutes=5), "楼下占道经营")
    pipeline.submit(replace(call, lat=30.6577, lon=104.0847))
    far = hotline("SR-8", clock.now + timedelta(minutes=5), "占道经营")
    pipeline.submit(replace(far, lat=30.70, lon=104.10, area_code="510108005001001"))
    pipeline.flush()
    rows = store.query("SELECT domain, report_count, list_sort(sources) FROM incidents ORDER BY incident_id")
    assert rows == [("fire_safety", 1, ["sensor"]), ("city_management", 2, ["grid", "hotline"]),
                    ("city_management", 1, ["hotline"])]


def test_a_closed_incident_is_not_bumped(parts, clock):
    store, bus, pipeline, _ = parts
    pipeline.submit(sensor(1, clock.now))
    pipeline.flush()
    store.write(lambda conn: conn.execute("UPDATE incidents SET status = 'closed' WHERE incident_id = 1"))
    bus.publish([IncidentTransitioned(incident_id=1, at=clock.now, from_status="resolved", to_status="closed",
                                      actor="officer")])
    bus.drain()
    pipeline.submit(sensor(2, clock.now + timedelta(minutes=1)))
    pipeline.flush()
    assert store.query("SELECT incident_id, report_count FROM incidents ORDER BY 1") == [(1, 1), (2, 1)]


def test_restore_annotates_the_open_alarm(parts, clock):
    store, _, pipeline, _ = parts
    pipeline.submit(sensor(1, clock.now))
    pipeline.submit(sensor(2, clock.now + timedelta(minutes=2), event="restore"))
    pipeline.flush()
    assert store.query("SELECT count(*) FROM incidents")[0][0] == 1
    assert store.query("SELECT action FROM incident_timeline WHERE incident_id = 1 ORDER BY ts") == [
        ("created",), ("cleared",)]


def test_hotline_updates_join_their_incident_and_reposts_create_nothing(parts, clock):
    store, _, pipeline, _ = parts
    pipeline.submit(hotline("SR-1", clock.now, "建设路占道经营严重"))
    pipeline.submit(hotline("SR-2", clock.now, "咨询户口办理"))
    pipeline.flush()
    later = clock.now + timedelta(hours=3)
    pipeline.submit(hotline("SR-1", later, "已派城管处理", update="2026-11-24T13:00", satisfied=True))
    pipeline.submit(hotline("SR-1", later, "已派城管处理", update="2026-11-24T13:00", satisfied=True))  # re-poll
    pipeline.submit(hotline("SR-1", clock.now, "建设路占道经营严重"))  # re-drop of the original
    pipeline.flush()
    assert store.query("SELECT domain, report_count, satisfied FROM incidents ORDER BY incident_id") == [
        ("city_management", 1, True), ("unclassified", 1, None)]
    assert store.query("SELECT count(*) FROM events")[0][0] == 3
    assert store.query("SELECT action FROM incident_timeline WHERE incident_id = 1 ORDER BY ts") == [
        ("created",), ("hotline_update",)]


def test_first_sight_of_a_request_may_be_an_update(parts, clock):
    store, _, pipeline, _ = parts
    pipeline.submit(hotline("SR-9", clock.now, "小区门口占道经营", update="v1"))
    pipeline.flush()
    pipeline.submit(hotline("SR-9", clock.now, "处理中", update="v2"))
    pipeline.flush()
    assert store.query("SELECT count(*) FROM incidents")[0][0] == 1
    assert store.query("SELECT count(*) FROM events WHERE incident_id = 1")[0][0] == 2


def test_dead_letters_keep_raw_bytes_and_reason(parts, clock):
    store, _, pipeline, _ = parts
    done = []
    pipeline.dead_letter("mqtt_sensors", "ops/sensor/smoke/X", "malformed_json", b"{not json\xff", "line 1",
                         on_committed=lambda: done.append(1))
    pipeline.submit(sensor(1, clock.now))
    pipeline.flush()
    assert done == [1]
    assert store.query("SELECT source_id, topic, reason, raw FROM dead_letters") == [
        ("mqtt_sensors", "ops/sensor/smoke/X", "malformed_json", b"{not json\xff")]
    assert pipeline.stats("mqtt_sensors").dead_letters == 1
    assert store.query("SELECT count(*) FROM incidents")[0][0] == 1


def test_feed_silent_opens_once_and_restore_resolves_it(parts, clock):
    store, bus, pipeline, published = parts
    silent = Event(source="system", source_id="mqtt_grid", natural_key="feed_silent|mqtt_grid|1", occurred_at=clock.now,
                   received_at=clock.now, kind="feed_silent", event="alarm")
    pipeline.submit(silent)
    pipeline.submit(replace(silent, natural_key="feed_silent|mqtt_grid|2"))
    pipeline.flush()
    assert store.query("SELECT category, status, report_count, title FROM incidents") == [
        ("feed_silent", "new", 2, "数据源静默：网格员上报")]
    pipeline.submit(replace(silent, natural_key="feed_restored|mqtt_grid|3", event="restore"))
    pipeline.flush()
    assert store.query("SELECT status FROM incidents") == [("resolved",)]
    assert store.query("SELECT action, from_status, to_status FROM incident_timeline ORDER BY ts, rowid") == [
        ("created", None, "new"), ("repeat", None, None), ("auto_resolve", "new", "resolved")]
    bus.drain()  # the wall's hot set and outbound MQTT learn of it like of any other transition
    moved = [e for e in published if isinstance(e, IncidentTransitioned)]
    assert [(e.from_status, e.to_status, e.actor) for e in moved] == [("new", "resolved", "system")]


def test_unclassified_text_is_kept_not_dropped(parts, clock):
    store, _, pipeline, _ = parts
    pipeline.submit(hotline("SR-3", clock.now, "我想问一下社保怎么交"))
    pipeline.flush()
    assert store.query("SELECT domain, status FROM incidents") == [("unclassified", "new")]
