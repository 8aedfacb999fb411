"""IoT sensors (物联感知): `<prefix>/sensor/<kind>/<device_id>`, located through the device registry."""

from __future__ import annotations

from ingest.mqtt_source import MqttSource
from ingest.payloads import parse_sensor
from ops_center.core.config import Config, SourceConfig


def sensor_topic(cfg: Config) -> str:
    return f"{cfg.mqtt.topic_prefix.strip('/')}/sensor/+/+"


def build(cfg: Config, source: SourceConfig, pipeline, registry, **kwargs) -> MqttSource:
    """Sensor readings and alarms; an unregistered device is a dead letter (unknown_device)."""
    return MqttSource(cfg, source, sensor_topic(cfg), parse_sensor, pipeline, registry, **kwargs)
