"""Grid workers' reports (网格员上报): `<prefix>/grid/<grid_code>/report`, located by the grid code."""

from __future__ import annotations

from ingest.mqtt_source import MqttSource
from ingest.payloads import parse_grid
from ops_center.core.config import Config, SourceConfig


def grid_topic(cfg: Config) -> str:
    return f"{cfg.mqtt.topic_prefix.strip('/')}/grid/+/report"


def build(cfg: Config, source: SourceConfig, pipeline, registry, **kwargs) -> MqttSource:
    """Free-text reports; an unconfigured grid code is a dead letter (unknown_grid)."""
    return MqttSource(cfg, source, grid_topic(cfg), parse_grid, pipeline, registry, **kwargs)
