"""Shared pytest fixtures for the ingest tests: the real app core on a fresh DuckDB file, MQTT helpers."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ops_center.core.config import Config

_seq = itertools.count(1)


def wait_until(condition: Callable[[], object], timeout: float = 20, what: str = "condition") -> object:
    """Poll `condition` until truthy; short waits on an Event, bounded by `timeout`, never a bare sleep."""
    tick = threading.Event()
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        tick.wait(0.05)


def isolated_cfg(cfg: Config, url: str, **mqtt_changes) -> Config:
    """The demo config pointed at a test broker, with a topic prefix and client id of its own.

    Persistent sessions outlive a test on the session-wide broker, so every test gets fresh names.
    """
    n = next(_seq)
    mqtt_cfg = cfg.mqtt.model_copy(
        update={"url": url, "embedded": False, "topic_prefix": f"t{n}/ops", "client_id": f"test{n}-ingest",
                **mqtt_changes}
    )
    # Test payloads carry fixed late-2026 times while the clock is live: widen the plausible past so they
    # stay plausible for years (ingest.max_age); the far-off times of tests/data/payloads stay implausible.
    ingest_cfg = cfg.ingest.model_copy(update={"max_age": timedelta(days=3650)})
    return cfg.model_copy(update={"mqtt": mqtt_cfg, "ingest": ingest_cfg,
                                  "simulator": cfg.simulator.model_copy(update={"enabled": False})})


class Publisher:
    """A plain QoS 1 publisher for tests."""

    def __init__(self, host: str, port: int, client_id: str):
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(200)
        self.client.connect(host, port, 30)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos)

    def publish_all(self, messages, timeout: float = 60) -> None:
        infos = [self.publish(t, p) for t, p in messages]
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Subscriber:
    """Collects every message on a topic filter (outbound tests, $SYS probes)."""

    def __init__(self, host: str, port: int, topic: str, client_id: str):
        self.messages: list[tuple[str, bytes]] = []
        self.latest: dict[str, bytes] = {}
        self.ready = threading.Event()
        self._topic = topic
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port, 30)
        self.client.loop_start()
        if not self.ready.wait(10):
            raise AssertionError(f"could not subscribe to {topic}")

    def _on_message(self, client, userdata, msg) -> None:
        self.messages.append((msg.topic, bytes(msg.payload)))
        self.latest[msg.topic] = bytes(msg.payload)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class IngestApp:
    """The real store + bus + pipeline of `ops_center.wiring.app`, on a test DuckDB file."""

    ctx: object
    cfg: Config
    config_path: Path
    started: list = field(default_factory=list)

    @property
    def pipeline(self):
        return self.ctx.pipeline

    @property
    def registry(self):
        return self.ctx.registry

    def run(self, *sources):
        for source in sources:
            source.start()
            self.started.append(source)
        return sources[0] if len(sources) == 1 else sources

    def rows(self, sql: str, params=None) -> list[tuple]:
        self.ctx.pipeline.flush(30)
        return self.ctx.store.query(sql, params or [])

    def count(self, sql: str, params=None) -> int:
        return self.rows(sql, params)[0][0]

    def close(self) -> None:
        for source in reversed(self.started):
            source.stop()
        self.ctx.pipeline.stop()
        self.ctx.bus.drain()
        self.ctx.bus.close()
        self.ctx.store.close()


def make_app(cfg: Config, config_path: Path, db_path: Path, clock=None) -> IngestApp:
    from ops_center.wiring.app import build_context

    kwargs = {"db_path": db_path}
    if clock is not None:
        kwargs["clock"] = clock
    ctx = build_context(cfg, config_path, **kwargs)
    ctx.pipeline.start()
    return IngestApp(ctx, cfg, config_path)


@pytest.fixture
def mqtt_cfg(cfg: Config, mosquitto) -> Config:
    return isolated_cfg(cfg, mosquitto.url)


@pytest.fixture
def ingest_app(mqtt_cfg: Config, config_path: Path, db_path: Path) -> Iterator[IngestApp]:
    app = make_app(mqtt_cfg, config_path, db_path)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def publisher(mosquitto) -> Iterator[Publisher]:
    pub = Publisher(mosquitto.host, mosquitto.port, f"test-pub-{next(_seq)}")
    try:
        yield pub
    finally:
        pub.close()
