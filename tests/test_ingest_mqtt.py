"""MQTT sources against a real Mosquitto: events land located, bad input is dead-lettered, outbound publishes."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime

import orjson
import pytest

from ingest import grid, sensors
from ingest.outbound import Outbound
from ops_center.read.queries_mapping import unmapped_codes
from ops_center.service.bus import IncidentTransitioned
from tests.fixtures_ingest import Subscriber, isolated_cfg, make_app, wait_until
from tests.test_ingest_payloads import CASES as ALL_CASES
from tests.test_ingest_payloads import GRID, case_input
from tests.test_source_mapping import vendor_cfg

CASES = [c for c in ALL_CASES if c.get("routed", True)]

pytestmark = pytest.mark.mqtt


def _sources(app):
    cfg = app.cfg
    s = sensors.build(cfg, cfg.source("mqtt_sensors"), app.pipeline, app.registry)
    g = grid.build(cfg, cfg.source("mqtt_grid"), app.pipeline, app.registry)
    app.run(s, g)
    assert s.link.subscribed.wait(10) and g.link.subscribed.wait(10)
    return s, g


def test_sensor_and_grid_events_land_with_their_area(ingest_app, publisher):
    s, g = _sources(ingest_app)
    prefix = ingest_app.cfg.mqtt.topic_prefix
    smoke = ingest_app.registry["SMK-0001"]
    aqi = ingest_app.registry["AQI-0001"]
    report = {"report_id": "GR-1", "reporter": "王建国", "category": "占道经营", "text": "望平街人行道上流动摊贩占道经营",
              "ts": "2026-11-24T10:05:00+08:00"}
    publisher.publish_all([
        (f"{prefix}/sensor/smoke/SMK-0001", b'{"ts": "2026-11-24T10:00:00+08:00", "event": "alarm", "battery": 80}'),
        (f"{prefix}/sensor/aqi/AQI-0001", b'{"ts": "2026-11-24T10:00:00+08:00", "metric": "pm25", "value": 35}'),
        (f"{prefix}/grid/{GRID}/report", json.dumps(report, ensure_ascii=False).encode()),
    ])
    wait_until(lambda: ingest_app.count("SELECT count(*) FROM events") == 3, what="3 events")
    rows = {r[0]: r[1:] for r in ingest_app.rows(
        "SELECT coalesce(device_id, natural_key), source, area_code, incident_id FROM events")}
    assert rows["SMK-0001"][:2] == ("sensor", smoke.area_code)
    assert rows["AQI-0001"][:2] == ("sensor", aqi.area_code)
    assert rows["GR-1"][:2] == ("grid", GRID)
    # the smoke alarm and the grid report became incidents in their areas; a normal reading did not
    assert rows["AQI-0001"][2] is None
    incidents = dict(ingest_app.rows("SELECT incident_id, area_code FROM incidents"))
    assert incidents[rows["SMK-0001"][2]] == smoke.area_code
    assert incidents[rows["GR-1"][2]] == GRID
    health = s.health()
    assert health.state == "connected" and health.messages_per_min == 2 and health.last_message_at is not None
    assert g.health().messages_per_min == 1


def test_redelivered_message_is_stored_once(ingest_app, publisher):
    _sources(ingest_app)
    prefix = ingest_app.cfg.mqtt.topic_prefix
    msg = (f"{prefix}/sensor/aqi/AQI-0001", b'{"ts": "2026-11-24T10:00:00+08:00", "metric": "pm25", "value": 35}')
    publisher.publish_all([msg, msg, msg])
    wait_until(lambda: ingest_app.pipeline.stats("mqtt_sensors").duplicates == 2, what="2 duplicates")
    assert ingest_app.count("SELECT count(*) FROM events") == 1


def test_every_bad_payload_is_a_dead_letter_and_good_ones_around_it_land(ingest_app, publisher):
    s, g = _sources(ingest_app)
    cfg = ingest_app.cfg
    prefix = cfg.mqtt.topic_prefix
    messages, expected = [], []
    for i, case in enumerate(CASES):
        good_ts = f"2026-11-24T10:{i:02d}:00+08:00".encode()
        messages.append((f"{prefix}/sensor/aqi/AQI-0001", b'{"ts": "%s", "metric": "pm25", "value": 40}' % good_ts))
        topic, raw = case_input(case, prefix, cfg.mqtt.max_payload_bytes)
        messages.append((topic, raw))
        expected.append((topic, case["reason"], raw))
    messages.append((f"{prefix}/sensor/aqi/AQI-0001", b'{"ts": "2026-11-24T11:00:00+08:00", "metric": "pm25", "value": 40}'))
    publisher.publish_all(messages)
    wait_until(lambda: ingest_app.count("SELECT count(*) FROM dead_letters") == len(CASES), what="dead letters")
    wait_until(lambda: ingest_app.count("SELECT count(*) FROM events") == len(CASES) + 1, what="good events")
    stored = ingest_app.rows("SELECT topic, reason, raw, source_id FROM dead_letters ORDER BY dead_letter_id")
    limit = cfg.mqtt.max_payload_bytes
    assert sorted((t, r, bytes(raw)) for t, r, raw, _ in stored) == sorted((t, r, raw[:limit]) for t, r, raw in expected)
    for topic, _, _, source_id in stored:
        assert source_id == ("mqtt_grid" if "/grid/" in topic else "mqtt_sensors")
    sensor_dead = sum(1 for t, *_ in expected if "/grid/" not in t)
    assert s.health().dead_letters_total == sensor_dead
    assert g.health().dead_letters_total == len(CASES) - sensor_dead


def test_grid_report_outside_the_site_is_flagged_when_configured(mqtt_cfg, config_path, db_path, publisher):
    cfg = mqtt_cfg.model_copy(update={"areas": mqtt_cfg.areas.model_copy(update={"outside": "flag"})})
    app = make_app(cfg, config_path, db_path)
    try:
        _sources(app)
        body = {"report_id": "GR-OUT", "reporter": "王建国", "category": "占道经营", "text": "人行道上流动摊贩占道经营",
                "ts": "2026-11-24T10:05:00+08:00", "lat": 40.69, "lon": -73.98}
        publisher.publish_all([(f"{cfg.mqtt.topic_prefix}/grid/{GRID}/report",
                                json.dumps(body, ensure_ascii=False).encode())])
        wait_until(lambda: app.count("SELECT count(*) FROM incidents") == 1, what="the flagged incident")
        (area, title), = app.rows("SELECT area_code, title FROM incidents")
        assert area == cfg.site.default_area and title.startswith("【区外】")
        assert app.count("SELECT count(*) FROM dead_letters") == 0
    finally:
        app.close()


def test_sensor_vendor_codes_map_before_the_rules(mqtt_cfg, config_path, db_path, publisher):
    cfg = vendor_cfg(mqtt_cfg)
    app = make_app(cfg, config_path, db_path)
    try:
        _sources(app)
        other = next(d.device_id for d in app.registry.by_kind["smoke"] if d.device_id != "SMK-0001")
        topic = f"{cfg.mqtt.topic_prefix}/sensor/smoke/"
        publisher.publish_all([
            (topic + "SMK-0001", b'{"ts": "2026-11-24T10:00:00+08:00", "event": "alarm", "alarm_type": "E03"}'),
            (topic + "SMK-0001", b'{"ts": "2026-11-24T10:01:00+08:00", "event": "alarm", "alarm_type": "E03"}'),
            (topic + other, b'{"ts": "2026-11-24T10:00:00+08:00", "event": "alarm", "alarm_type": "E99"}'),
        ])
        wait_until(lambda: app.count("SELECT count(*) FROM events WHERE incident_id IS NOT NULL") == 3, what="3 events")
        rows = app.rows("SELECT rule_id, category, severity, title, report_count FROM incidents ORDER BY rule_id")
        assert len(rows) == 2
        mapped, ruled = (rows[0], rows[1]) if rows[0][0] == "map.mqtt_sensors" else (rows[1], rows[0])
        assert mapped[:3] == ("map.mqtt_sensors", "high_temperature", "P1") and mapped[3].startswith("温度过高")
        assert mapped[4] == 2  # the repeat joined it
        assert ruled[1] == "smoke_alarm"  # E99 is not in the map: the shipped smoke rule decided
        codes = unmapped_codes(app.ctx.store)
        assert codes[["source_id", "code", "count"]].to_dict("records") == [
            {"source_id": "mqtt_sensors", "code": "E99", "count": 1}]
        publisher.publish_all([(topic + "SMK-0001", b'{"ts": "2026-11-24T10:05:00+08:00", "event": "restore"}')])
        # the device's restore lands on the mapped incident (the shipped restore rule's key is the same)
        wait_until(lambda: app.count("SELECT count(*) FROM events e JOIN incidents i USING (incident_id) "
                                     "WHERE e.event = 'restore' AND i.rule_id = 'map.mqtt_sensors'"),
                   what="the restore on the mapped incident")
    finally:
        app.close()


@pytest.mark.parametrize("receivers", [0, 1], ids=["in-process", "publisher-process"])
def test_outbound_publishes_incident_events(ingest_app, mosquitto, receivers):
    cfg = ingest_app.cfg.model_copy(update={"mqtt": ingest_app.cfg.mqtt.model_copy(update={"receivers": receivers})})
    prefix = cfg.mqtt.topic_prefix
    sub = Subscriber(mosquitto.host, mosquitto.port, f"{prefix}/out/incident/#", f"{cfg.mqtt.client_id}-listener")
    try:
        out = Outbound(cfg, ingest_app.ctx.bus)
        s = sensors.build(cfg, cfg.source("mqtt_sensors"), ingest_app.pipeline, ingest_app.registry)
        ingest_app.run(out, s)
        assert s.wait_subscribed(10) and out.wait_connected(30)
        sub_pub = Subscriber(mosquitto.host, mosquitto.port, "unused/#", f"{cfg.mqtt.client_id}-pub")
        sub_pub.client.publish(f"{prefix}/sensor/smoke/SMK-0002", b'{"ts": "2026-11-24T10:00:00+08:00", "event": "alarm"}',
                               qos=1).wait_for_publish(10)
        sub_pub.close()
        wait_until(lambda: f"{prefix}/out/incident/created" in sub.latest, what="created on MQTT")
        created = orjson.loads(sub.latest[f"{prefix}/out/incident/created"])
        assert created["event"] == "created" and created["area_code"] == ingest_app.registry["SMK-0002"].area_code
        ingest_app.ctx.bus.publish([IncidentTransitioned(created["incident_id"], datetime(2026, 11, 24, 3, tzinfo=UTC),
                                                         "new", "acknowledged", "officer")])
        wait_until(lambda: f"{prefix}/out/incident/transitioned" in sub.latest, what="transitioned on MQTT")
        moved = orjson.loads(sub.latest[f"{prefix}/out/incident/transitioned"])
        assert (moved["incident_id"], moved["to_status"]) == (created["incident_id"], "acknowledged")
        assert out.health().messages_per_min >= 2 and out.health().state == "connected"
    finally:
        sub.close()
    out.stop()
    assert out.health().state == "stopped"


def test_bad_credentials_stop_retrying(cfg, config_path, tmp_path, db_path, caplog):
    """A broker that refuses the login: one clear error, state auth_failed, no reconnect loop."""
    from tests.fixtures_mqtt import MosquittoBroker

    data = tmp_path / "authbroker"
    data.mkdir()
    passwd = data / "passwd"
    passwd.write_text("")
    subprocess.run(["/usr/bin/mosquitto_passwd", "-b", str(passwd), "ops", "right-password"], check=True)
    broker = MosquittoBroker(data, auth=f"allow_anonymous false\npassword_file {passwd}")
    broker.start()
    app = make_app(isolated_cfg(cfg, broker.url, username="ops", password="wrong"), config_path, db_path)
    try:
        s = app.run(sensors.build(app.cfg, app.cfg.source("mqtt_sensors"), app.pipeline, app.registry))
        wait_until(lambda: s.health().state == "auth_failed", 10, "auth_failed")
        assert "refused the login" in caplog.text
        thread = s.link._client._thread  # noqa: SLF001 - the network thread must have ended
        wait_until(lambda: thread is None or not thread.is_alive(), 10, "paho thread to stop")
    finally:
        app.close()
        broker.stop()
