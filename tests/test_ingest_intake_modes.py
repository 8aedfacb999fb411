"""One intake path (issue 14): in the writer process and in receiver processes, the same topics give the same
events and dead letters, and a refused payload is logged at WARNING either way."""

from __future__ import annotations

import json
import logging
import re

import orjson
import paho.mqtt.client as mqtt
import pytest

from ingest.mqtt_intake import Intake, subscription
from ingest.mqtt_receiver import Receiver
from ingest.mqtt_source import MqttSource
from ingest.payloads import Invalid, parse_grid, parse_sensor
from ingest.receiver_pool import ReceiverPool
from ingest.sources import mqtt_source
from ops_center.core.clock import utc_now
from ops_center.core.model import DeadLetter
from tests.fixtures_ingest import Publisher, isolated_cfg, make_app, wait_until
from tests.test_ingest_payloads import GRID

pytestmark = pytest.mark.mqtt

MODES = pytest.mark.parametrize("receivers", [0, 2], ids=["in-process", "two-receiver-processes"])
EVENT_COLUMNS = ("source", "source_id", "natural_key", "occurred_at", "kind", "device_id", "metric", "value",
                 "event", "text", "category", "area_code", "lat", "lon", "address", "fields")


def inputs(prefix: str) -> list[tuple[str, bytes]]:
    """Sensor and grid messages, good and bad, on the topics a deployment sees."""
    report = {"report_id": "GR-MODES", "reporter": "王建国", "category": "占道经营", "ts": "2026-11-24T10:05:00+08:00",
              "text": "望平街人行道上流动摊贩占道经营"}
    return [
        (f"{prefix}/sensor/smoke/SMK-0001", b'{"ts": "2026-11-24T10:00:00+08:00", "event": "alarm", "battery": 80}'),
        (f"{prefix}/sensor/aqi/AQI-0001", b'{"ts": "2026-11-24T02:00:00Z", "metric": "pm25", "value": 35}'),
        (f"{prefix}/sensor/aqi/AQI-0001", b'{"ts": 1795485600, "value": 12.5, "vendor": {"fw": "1.2"}}'),
        (f"{prefix}/grid/{GRID}/report", json.dumps(report, ensure_ascii=False).encode()),
        (f"{prefix}/sensor/aqi/AQI-0001", b"{not json"),
        (f"{prefix}/sensor/smoke/NO-SUCH-DEVICE", b'{"ts": "2026-11-24T10:00:00+08:00", "event": "alarm"}'),
        (f"{prefix}/sensor/aqi/SMK-0001", b'{"ts": "2026-11-24T10:00:00+08:00", "value": 3}'),
        (f"{prefix}/grid/999999999999999/report", json.dumps(report, ensure_ascii=False).encode()),
    ]


def started_sources(app, config_path, receivers: int) -> list:
    sources = [mqtt_source(app.cfg, config_path, app.cfg.source(sid), app.pipeline, app.registry,
                           url=app.cfg.mqtt.url) for sid in ("mqtt_sensors", "mqtt_grid")]
    assert all(isinstance(s, ReceiverPool if receivers else MqttSource) for s in sources)
    app.run(*sources)
    assert all(s.wait_subscribed(30) for s in sources)
    return sources


def expected(app, messages) -> tuple[list, list]:
    """What the parsers make of the inputs when called directly: the reference both modes must match."""
    events, dead = [], []
    for topic, raw in messages:
        source_id, parse = ("mqtt_grid", parse_grid) if "/grid/" in topic else ("mqtt_sensors", parse_sensor)
        try:
            event = parse(app.cfg, app.registry, source_id, topic, raw, utc_now())
        except Invalid as exc:
            dead.append((source_id, topic, exc.reason, raw))
            continue
        row = {c: getattr(event, c) for c in EVENT_COLUMNS}
        row["occurred_at"] = row["occurred_at"].replace(tzinfo=None, microsecond=0)
        row["fields"] = orjson.loads(orjson.dumps(row["fields"], default=str))
        events.append(row)
    return sorted(events, key=lambda r: r["natural_key"]), sorted(dead)


@MODES
def test_both_modes_decode_the_same_topics_to_the_same_events(mosquitto, cfg, config_path, db_path, receivers):
    app = make_app(isolated_cfg(cfg, mosquitto.url, receivers=receivers), config_path, db_path)
    pub = Publisher(mosquitto.host, mosquitto.port, f"{app.cfg.mqtt.client_id}-pub")
    try:
        sources = started_sources(app, config_path, receivers)
        messages = inputs(app.cfg.mqtt.topic_prefix)
        want_events, want_dead = expected(app, messages)
        assert (len(want_events), len(want_dead)) == (4, 4)  # the inputs cover both outcomes
        pub.publish_all(messages)
        wait_until(lambda: app.count("SELECT count(*) FROM events") + app.count("SELECT count(*) FROM dead_letters")
                   == len(messages), 30, "every message stored")
        rows = app.rows(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events ORDER BY natural_key")
        got = [dict(zip(EVENT_COLUMNS, r, strict=True)) | {"fields": orjson.loads(r[-1])} for r in rows]
        assert got == want_events
        dead = app.rows("SELECT source_id, topic, reason, raw FROM dead_letters")
        assert sorted((s, t, r, bytes(raw)) for s, t, r, raw in dead) == want_dead
        assert [s.health().messages_per_min for s in sources] == [6, 2]
        assert [s.health().dead_letters_total for s in sources] == [3, 1]
    finally:
        pub.close()
        app.close()


@MODES
def test_a_refused_payload_is_logged_at_warning_in_both_modes(mosquitto, cfg, config_path, db_path, receivers,
                                                              caplog, capfd):
    """Child processes log to the inherited stderr (capfd), the writer process through logging (caplog)."""
    caplog.set_level(logging.WARNING)
    app = make_app(isolated_cfg(cfg, mosquitto.url, receivers=receivers), config_path, db_path)
    prefix = app.cfg.mqtt.topic_prefix
    pub = Publisher(mosquitto.host, mosquitto.port, f"{app.cfg.mqtt.client_id}-pub")
    try:
        source = mqtt_source(app.cfg, config_path, app.cfg.source("mqtt_sensors"), app.pipeline, app.registry,
                             url=app.cfg.mqtt.url)
        app.run(source)
        assert source.wait_subscribed(30)
        bad_json = [(f"{prefix}/sensor/aqi/AQI-0001", b"{not json %d" % i) for i in range(5)]
        unknown = (f"{prefix}/sensor/smoke/NO-SUCH-DEVICE", b'{"ts": "2026-11-24T10:00:00+08:00", "event": "alarm"}')
        pub.publish_all([*bad_json, unknown])
        wait_until(lambda: app.count("SELECT count(*) FROM dead_letters") == 6, 30, "6 dead letters")
        text = capfd.readouterr().err + "".join(
            f"\n{r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records)
        lines = [line for line in text.splitlines() if "WARNING ingest.mqtt_intake: mqtt_sensors: dead letter" in line]
        malformed = [line for line in lines if f"(malformed_json) on {prefix}/sensor/aqi/AQI-0001" in line]
        # once per reason and minute in each receiving process, with the payload, not once per message
        assert 1 <= len(malformed) <= max(1, receivers) and "payload {not json" in malformed[0]
        assert any(f"(unknown_device) on {prefix}/sensor/smoke/NO-SUCH-DEVICE" in line for line in lines)
        assert len(lines) <= 2 * max(1, receivers)
    finally:
        pub.close()
        app.close()


def test_one_subscription_rule_for_every_mode(cfg):
    def sub(**changes) -> str:
        return subscription(cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update=changes)}), "ops/grid/+/report")

    assert sub(receivers=0) == sub(receivers=1) == "ops/grid/+/report"
    assert sub(receivers=0, shared_group="ingest") == "$share/ingest/ops/grid/+/report"
    assert re.fullmatch(r"\$share/[^/]+/ops/grid/\+/report", sub(receivers=3))


def test_a_dead_letter_keeps_at_most_max_payload_bytes(cfg):
    intake = Intake(cfg, "mqtt_sensors", parse_sensor, None)
    raw = b"x" * (cfg.mqtt.max_payload_bytes + 10)
    item = intake.parse("ops/sensor/aqi/AQI-0001", raw, utc_now())
    assert isinstance(item, DeadLetter) and item.reason == "oversized"
    assert item.raw == raw[: cfg.mqtt.max_payload_bytes]


def bad_message(n: int) -> mqtt.MQTTMessage:
    msg = mqtt.MQTTMessage(topic=b"ops/sensor/aqi/AQI-0001")
    msg.payload = b"{not json %d" % n
    return msg


def test_a_receiver_acks_a_chunk_only_after_the_writer_reports_its_commit(cfg):
    shipped, acked, died = [], [], []
    receiver = Receiver(cfg, Intake(cfg, "mqtt_sensors", parse_sensor, None), "unit-receiver", "ops/sensor/+/+",
                        url=None, mqtt5=True, ship=lambda m: shipped.append(m) or True,
                        on_shipper_died=lambda: died.append(True))
    receiver.start_shipper()  # no broker: messages are fed as paho's thread would
    for n in range(3):
        receiver._on_message(bad_message(n), lambda n=n: acked.append(n))  # noqa: SLF001 - paho's callback
    chunk = wait_until(lambda: next((m for m in shipped if m[0] == "chunk"), None), 5, "a chunk")
    _, seq, items, messages, dead, _ = chunk
    assert (messages, dead) == (3, 3) and [i.reason for i in items] == ["malformed_json"] * 3
    assert acked == []
    receiver.committed(seq)
    assert acked == [0, 1, 2]
    receiver.committed(seq)  # a repeated report acks nothing twice
    assert acked == [0, 1, 2]
    receiver.drain()
    wait_until(lambda: ("drained", seq) in shipped, 5, "drained")
    receiver._on_message(bad_message(9), lambda: acked.append(9))  # noqa: SLF001 - after drain: neither queued nor acked
    assert acked == [0, 1, 2] and sum(m[0] == "chunk" for m in shipped) == 1 and not died


def test_an_in_process_shipper_that_dies_is_started_again(cfg, config_path):
    class Pipeline:
        def __init__(self):
            self.chunks = []

        def submit_many(self, items, on_committed=None):
            self.chunks.append(items)
            if len(self.chunks) == 1:
                raise RuntimeError("boom")
            on_committed()

    pipeline = Pipeline()
    in_process = cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update={"receivers": 0})})
    source = mqtt_source(in_process, config_path, in_process.source("mqtt_sensors"), pipeline, None)
    assert isinstance(source, MqttSource)
    receiver, acked = source.receiver, []
    receiver.start_shipper()
    receiver._on_message(bad_message(1), lambda: acked.append(1))  # noqa: SLF001 - paho's callback
    wait_until(lambda: len(pipeline.chunks) == 1, 5, "the first chunk")
    receiver._on_message(bad_message(2), lambda: acked.append(2))  # noqa: SLF001
    wait_until(lambda: len(pipeline.chunks) == 2, 10, "a new shipper shipping the next chunk")
    assert acked == [2]  # the lost chunk was never acked: the broker sends it again
    assert source.meter.dead_letters_total == 2
