"""Retention changes no behaviour: inputs and reads that touch archived incidents (12345 updates, dedup)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ops_center.core.sla import SlaPolicy
from ops_center.service.bus import Bus
from ops_center.service.pipeline import Pipeline
from ops_center.store import retention
from ops_center.store.store import Store
from tests.test_pipeline import Clock, StubRules, hotline

AFTER = timedelta(days=30)


@pytest.fixture
def clock(fixed_now) -> Clock:
    return Clock(fixed_now - timedelta(days=60))


@pytest.fixture
def parts(cfg, db_path, clock):
    store, bus = Store(db_path), Bus()
    pipeline = Pipeline(store, bus, cfg, StubRules(), SlaPolicy(cfg), clock).start()
    yield store, pipeline
    pipeline.stop()
    bus.close()
    store.close()


def submit(pipeline: Pipeline, *events) -> None:
    for ev in events:
        pipeline.submit(ev)
    pipeline.flush()


def closed_request(store: Store, pipeline: Pipeline, clock: Clock, request_id: str = "SR-1") -> int:
    """A 12345 request closed at the source when it arrived: one finished incident."""
    submit(pipeline, hotline(request_id, clock.now, "占道经营", closed_at_source=clock.now.isoformat()))
    [(incident_id, status)] = store.query("SELECT incident_id, status FROM incidents")
    assert status == "closed"
    return incident_id


def test_an_update_of_an_archived_request_joins_its_incident_once_and_is_shown(parts, clock, tmp_path):
    store, pipeline = parts
    incident_id = closed_request(store, pipeline, clock)
    clock.now += AFTER + timedelta(days=5)
    moved = retention.archive(store, tmp_path / "archive", clock.now, AFTER)
    assert moved.rows["incidents"] == 1 and store.query("SELECT count(*) FROM incidents")[0][0] == 0

    # the citizen's callback result, days later: a new version of the same request
    update = hotline("SR-1", clock.now, "回访：不满意，仍有占道", update=clock.now.isoformat(), satisfied=False)
    submit(pipeline, update)
    assert store.query("SELECT count(*) FROM incidents_all")[0][0] == 1  # no duplicate incident
    rows = store.query("SELECT natural_key, event, incident_id FROM events_all ORDER BY occurred_at")
    assert rows == [("SR-1", None, incident_id), (update.natural_key, "update", incident_id)]
    notes = store.query("SELECT action, note FROM incident_timeline_all WHERE incident_id = ? ORDER BY ts",
                        [incident_id])
    assert notes[-1] == ("hotline_update", "回访：不满意，仍有占道")

    # the update is stored once: its redelivery is a duplicate, the next version joins through the live table
    submit(pipeline, update, hotline("SR-1", clock.now, "再次回访：满意", update="later"))
    assert store.query("SELECT count(*) FROM events_all")[0][0] == 3
    assert store.query("SELECT count(DISTINCT incident_id), count(*) FROM incidents_all")[0] == (1, 1)
    assert pipeline.stats("hotline_drop").duplicates == 1


def test_a_new_request_after_an_archive_run_still_opens_its_own_incident(parts, clock, tmp_path):
    store, pipeline = parts
    first = closed_request(store, pipeline, clock)
    clock.now += AFTER + timedelta(days=5)
    retention.archive(store, tmp_path / "archive", clock.now, AFTER)
    submit(pipeline, hotline("SR-2", clock.now, "占道经营又来了"))
    rows = store.query("SELECT incident_id FROM incidents_all ORDER BY incident_id")
    assert len(rows) == 2 and rows[0][0] == first


def test_an_incident_with_an_event_inside_the_dedup_horizon_is_not_archived(parts, clock, tmp_path):
    """A 12345 update joins a closed incident without changing it: archiving it with that event would let a
    redelivery of the update, inside the dedup horizon, be admitted a second time."""
    store, pipeline = parts
    incident_id = closed_request(store, pipeline, clock)
    clock.now += AFTER + timedelta(days=5)
    update = hotline("SR-1", clock.now, "回访：满意", update=clock.now.isoformat(), satisfied=True)
    submit(pipeline, update)  # the incident is closed and unchanged since, but its update is one hour old
    clock.now += timedelta(hours=1)
    moved = retention.archive(store, tmp_path / "archive", clock.now, AFTER)
    assert moved.rows["incidents"] == 0
    submit(pipeline, update)  # the feed delivers it again
    assert store.query("SELECT count(*) FROM events_all WHERE incident_id = ?", [incident_id])[0][0] == 2
    assert pipeline.stats("hotline_drop").duplicates == 1

    clock.now += AFTER  # once the update is older than the retention age, the whole incident moves
    moved = retention.archive(store, tmp_path / "archive", clock.now, AFTER)
    assert (moved.rows["incidents"], moved.rows["events"]) == (1, 2)


def test_an_archive_run_after_the_keys_were_loaded_is_seen_by_the_next_batch(parts, clock, tmp_path):
    """The writer keeps the archive's request keys in memory: every later archive run must refresh them."""
    store, pipeline = parts
    first = closed_request(store, pipeline, clock, "SR-1")
    clock.now += AFTER + timedelta(days=5)
    retention.archive(store, tmp_path / "archive", clock.now, AFTER)
    submit(pipeline, hotline("SR-1", clock.now, "回访：满意", update="a"),  # loads the keys: SR-1 only
           hotline("SR-2", clock.now, "占道经营", closed_at_source=clock.now.isoformat()))
    [(second,)] = store.query("SELECT incident_id FROM incidents WHERE incident_id <> ?", [first])
    clock.now += AFTER + timedelta(days=5)
    moved = retention.archive(store, tmp_path / "archive", clock.now, AFTER)
    assert moved.rows["incidents"] == 1  # SR-2 (SR-1 has no row left in the table, only its update)
    submit(pipeline, hotline("SR-2", clock.now, "回访：满意", update="a"))
    assert store.query("SELECT incident_id FROM events_all WHERE natural_key = 'SR-2@a'") == [(second,)]
    assert store.query("SELECT count(*) FROM incidents_all")[0][0] == 2
