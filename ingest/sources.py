"""Build every configured source (plus the demo simulator and the feed_silent watch) from config."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ingest import drop_folder, grid, open311, sensors
from ingest.health import FeedWatch
from ingest.mqtt_client import use_mqtt5
from ingest.simulator import Simulator
from ops_center.config import Config, resolve_path

log = logging.getLogger(__name__)


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
        if src.kind == "mqtt_sensor":
            intake.append(sensors.build(cfg, src, pipeline, registry, url=mqtt_url, mqtt5=mqtt5, clock=clock))
        elif src.kind == "mqtt_grid":
            intake.append(grid.build(cfg, src, pipeline, registry, url=mqtt_url, mqtt5=mqtt5, clock=clock))
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


def drop_folder_path(cfg: Config, config_path: str | Path) -> Path | None:
    """Where the first configured drop folder lives (for tools that feed it)."""
    src = next((s for s in cfg.sources if s.kind == "drop_folder" and s.enabled), None)
    return resolve_path(config_path, src.path) if src and src.path else None
