"""Wiring: build_sources from config, and the demo path through the embedded amqtt broker (MQTT 3.1.1)."""

from __future__ import annotations

import pytest

from ingest import sensors
from ingest.broker import start_embedded
from ingest.drop_folder import DropFolder
from ingest.health import FeedWatch, SourceHealth
from ingest.mqtt_source import MqttSource
from ingest.receiver_pool import ReceiverPool
from ingest.simulator import Simulator
from ingest.sources import build_sources
from ops_center.core.clock import utc_now
from tests.fixtures_ingest import Publisher, isolated_cfg, make_app, wait_until
from tests.fixtures_mqtt import free_port


def test_build_sources_follows_config(cfg, config_path):
    class NoPipeline:
        pass

    assert cfg.mqtt.receivers == 1  # the shipped config receives in a child process per MQTT source
    pooled = build_sources(cfg, config_path, NoPipeline(), None, None, utc_now)
    assert [type(s) for s in pooled] == [ReceiverPool, ReceiverPool, DropFolder, Simulator, FeedWatch]
    spec = pooled[0].spec(0)
    assert spec.client_id == f"{cfg.mqtt.client_id}-mqtt_sensors-0" and spec.mqtt5 is False  # amqtt speaks 3.1.1
    assert spec.subscription == "ops/sensor/+/+" and spec.devices_path == str(config_path.parent / cfg.devices.path)

    in_process = cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update={"receivers": 0})})
    built = build_sources(in_process, config_path, NoPipeline(), None, None, utc_now)
    assert [type(s) for s in built] == [MqttSource, MqttSource, DropFolder, Simulator, FeedWatch]
    assert [s.source_id for s in built] == ["mqtt_sensors", "mqtt_grid", "hotline_drop", "simulator", "feed_watch"]
    assert built[0].link.client_id == f"{cfg.mqtt.client_id}-mqtt_sensors"
    assert built[0].link._mqtt5 is False  # noqa: SLF001 - the embedded broker speaks 3.1.1 only
    assert built[2].path == config_path.parent / "data" / "runtime" / "hotline_drop"
    assert built[3].drop_folder == built[2].path
    assert all(isinstance(s.health(), SourceHealth) for s in built)

    override = build_sources(in_process, config_path, NoPipeline(), None, None, utc_now,
                             mqtt_url="mqtt://127.0.0.1:1999", simulator=False)
    assert [s.source_id for s in override] == ["mqtt_sensors", "mqtt_grid", "hotline_drop", "feed_watch"]
    assert override[0].link.address.port == 1999 and override[0].link._mqtt5 is True  # noqa: SLF001


def test_shared_subscription_when_a_group_is_set(cfg, config_path):
    shared_cfg = cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update={"shared_group": "ingest", "receivers": 0})})
    built = build_sources(shared_cfg, config_path, None, None, None, utc_now, simulator=False)
    assert built[0].link.subscriptions == ("$share/ingest/ops/sensor/+/+",)
    assert built[1].link.subscriptions == ("$share/ingest/ops/grid/+/report",)


def test_embedded_broker_carries_the_demo(cfg, config_path, db_path):
    port = free_port()
    demo = isolated_cfg(cfg, f"mqtt://127.0.0.1:{port}", embedded=True)
    broker = start_embedded(demo)
    app = make_app(demo, config_path, db_path)
    try:
        source = app.run(sensors.build(demo, demo.source("mqtt_sensors"), app.pipeline, app.registry, mqtt5=False))
        assert source.link.subscribed.wait(10)
        pub = Publisher("127.0.0.1", port, "demo-pub")
        pub.publish_all([(f"{demo.mqtt.topic_prefix}/sensor/smoke/SMK-0003",
                          b'{"ts": "2026-11-24T10:00:00+08:00", "event": "alarm"}')])
        pub.close()
        wait_until(lambda: app.count("SELECT count(*) FROM events WHERE device_id = 'SMK-0003'") == 1,
                   what="event via amqtt")
    finally:
        app.close()
        broker.stop()


def test_embedded_broker_refuses_a_public_address(cfg):
    public = cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update={"url": "mqtt://0.0.0.0:1883"})})
    with pytest.raises(ValueError, match="loopback"):
        start_embedded(public)
