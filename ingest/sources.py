"""Build every configured source (plus the demo simulator and the feed_silent watch) from config."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ingest import drop_folder, grid, open311, sensors
from ingest.health import FeedWatch
from ingest.mqtt_client import use_mqtt5
from ingest.mqtt_intake import session_client_id, subscription
from ingest.payloads import parse_grid, parse_sensor
from ingest.receiver_pool import ReceiverPool
from ingest.simulator import Simulator
from ops_center.core.config import Config, resolve_path

log = logging.getLogger(__name__)

MQTT_KINDS = {  # source kind -> (topic, payload parser, in-process builder)
    "mqtt_sensor": (sensors.sensor_topic, parse_sensor, sensors.build),
    "mqtt_grid": (grid.grid_topic, parse_grid, grid.build),
}


def build_sources(
    cfg: Config,
    config_path: str | Path,
    pipeline,
    registry,
    bus,
    clock: Callable[[], datetime],
    *,
    mqtt_url: str | None = None,
    simulator: bool | None = None,
) -> list:
    """Sources in start order: intake sources, the simulator (if on), then the feed_silent watch.

    `mqtt_url` overrides `mqtt.url` (run.py --mqtt-url); `simulator=False` is --no-simulator and
    None follows `simulator.enabled`. Outbound MQTT is not built here: `Outbound.attach(ctx)` (the
    bus is passed for symmetry with it and unused). Nothing is started.
    """
    mqtt5 = use_mqtt5(cfg.mqtt, mqtt_url)
    intake: list = []
    sim_id, sim_name, drop_path = "simulator", "演示模拟器", None
    for src in cfg.sources:
        if not src.enabled:
            log.info("source %s is disabled in config", src.id)
            continue
        if src.kind in MQTT_KINDS:
            intake.append(mqtt_source(cfg, config_path, src, pipeline, registry, url=mqtt_url, mqtt5=mqtt5,
                                      clock=clock))
        elif src.kind == "open311":
            intake.append(open311.build(cfg, src, pipeline, registry, clock))
        elif src.kind == "drop_folder":
            source = drop_folder.build(cfg, src, pipeline, registry, clock, config_path=config_path)
            drop_path = drop_path or source.path
            intake.append(source)
        elif src.kind == "simulator":
            sim_id, sim_name = src.id, src.name
    out = list(intake)
    if simulator if simulator is not None else cfg.simulator.enabled:
        out.append(Simulator(cfg, registry, source_id=sim_id, name=sim_name, url=mqtt_url, drop_folder=drop_path,
                             clock=clock))
    out.append(FeedWatch([(s, s.heartbeat) for s in intake], pipeline, clock))
    return out


def mqtt_source(cfg: Config, config_path: str | Path, src, pipeline, registry, **kwargs):
    """In-process (`mqtt.receivers: 0`) or received by child processes (ReceiverPool)."""
    topic, parse, build = MQTT_KINDS[src.kind]
    if cfg.mqtt.receivers == 0:
        return build(cfg, src, pipeline, registry, **kwargs)
    return ReceiverPool(cfg, src, topic(cfg), parse, pipeline, resolve_path(config_path, cfg.devices.path), **kwargs)


def mqtt_sessions(cfg: Config) -> list[tuple[str, str, str]]:
    """(source id, client id, subscription) of every persistent session the MQTT sources resume."""
    out: list[tuple[str, str, str]] = []
    for src in cfg.sources:
        if src.enabled and src.kind in MQTT_KINDS:
            topic = MQTT_KINDS[src.kind][0](cfg)
            indexes = range(cfg.mqtt.receivers) if cfg.mqtt.receivers else [None]
            out.extend((src.id, session_client_id(cfg, src.id, i), subscription(cfg, topic)) for i in indexes)
    return out
