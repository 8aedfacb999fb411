"""Sensors as they really report: streamed values with `for` and hysteresis, clears, auto-resolve, bursts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ingest.payloads import parse_sensor
from tests.fixtures_ingest import make_app

T0 = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def app(cfg, config_path, db_path, clock):
    app = make_app(cfg.model_copy(update={"simulator": cfg.simulator.model_copy(update={"enabled": False})}),
                   config_path, db_path, clock=clock)
    try:
        yield app
    finally:
        app.close()


def publish(app, clock, kind: str, device: str, at: datetime, received_late=timedelta(0), **payload):
    """Parse a real MQTT payload as the receiver does and hand it to the pipeline."""
    clock.now = at + received_late
    raw = json.dumps({"ts": at.isoformat(), **payload}).encode()
    ev = parse_sensor(app.cfg, app.registry, "mqtt_sensors", f"ops/sensor/{kind}/{device}", raw, clock.now)
    app.pipeline.submit(ev)
    app.pipeline.flush()


def timeline(app, incident_id):
    return app.rows("SELECT actor, action, to_status, note, data FROM incident_timeline WHERE incident_id = ? "
                    "ORDER BY ts, rowid", [incident_id])


def test_smoke_value_above_threshold_for_the_duration_raises_one_incident_and_clears_once(app, clock):
    t = T0
    readings = [2.0] * 5 + [15.0] * 30 + [6.0] * 20 + [1.0] * 5 + [6.0] * 3  # normal, smoke, between, clear, noise
    for i, value in enumerate(readings):
        # a backlog arrives two minutes late: the incident keeps the reading's own time
        publish(app, clock, "smoke", "SMK-0001", t + timedelta(seconds=i), timedelta(minutes=2),
                metric="obscuration_pct_m", value=value)
    incidents = app.rows("SELECT incident_id, domain, category, status, rule_id FROM incidents")
    assert len(incidents) == 1
    incident_id, domain, category, status, rule_id = incidents[0]
    assert (domain, category, rule_id) == ("fire_safety", "smoke_alarm", "fire.smoke_density")
    assert status == "new"  # smoke cleared is not resolved: a person verifies
    rows = timeline(app, incident_id)
    assert [r[1] for r in rows] == ["created", "cleared"]
    created = json.loads(rows[0][4])
    # fired by the reading 10 s after the first high one (index 5 + 10)
    assert created["occurred_at"] == (T0 + timedelta(seconds=15)).isoformat()
    assert created["received_at"] == (T0 + timedelta(seconds=15, minutes=2)).isoformat()
    cleared = json.loads(rows[1][4])
    assert cleared["reading_at"] == (T0 + timedelta(seconds=55)).isoformat() and cleared["value"] == 1.0
    assert app.count("SELECT count(*) FROM readings WHERE device_id = 'SMK-0001'") == len(readings)


def test_short_spike_raises_nothing(app, clock):
    for i, value in enumerate([15.0] * 5 + [2.0]):
        publish(app, clock, "smoke", "SMK-0002", T0 + timedelta(seconds=i), metric="obscuration_pct_m", value=value)
    assert app.count("SELECT count(*) FROM incidents") == 0


def test_water_level_auto_resolves_when_the_water_is_gone(app, clock):
    # 40 and 35 are between the thresholds (30/50); 20 cm is still waterlogging (the 20 cm rule holds it); 5 is gone
    for i, value in enumerate([10, 55, 58, 40, 35, 20, 5]):
        publish(app, clock, "water_level", "WLV-0001", T0 + timedelta(minutes=i), metric="level_cm", value=value)
    [(incident_id, status, category)] = app.rows("SELECT incident_id, status, category FROM incidents")
    assert (status, category) == ("resolved", "waterlogging")
    assert [(r[0], r[1], r[2]) for r in timeline(app, incident_id)] == [
        ("system", "created", "new"), ("system", "auto_resolve", "resolved")]


def test_alarm_repeats_count_on_the_incident_with_one_timeline_row_per_burst(app, clock):
    for i in range(300):  # a detector repeating its alarm every second
        publish(app, clock, "smoke", "SMK-0001", T0 + timedelta(seconds=i), event="alarm")
    later = T0 + timedelta(minutes=20)  # quiet for more than BURST_GAP, still inside the 30 min dedup window
    for i in range(3):
        publish(app, clock, "smoke", "SMK-0001", later + timedelta(seconds=i), event="alarm")
    [(incident_id, count)] = app.rows("SELECT incident_id, report_count FROM incidents")
    assert count == 303
    rows = timeline(app, incident_id)
    assert [r[1] for r in rows] == ["created", "repeat", "repeat"]
    assert "第2次" in rows[1][3]
    assert "第301次" in rows[2][3] and "上一轮连续上报299次" in rows[2][3]
