"""An MQTT-fed source: topic + payload → Event (or dead letter) → pipeline, acked after commit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import paho.mqtt.client as mqtt

from ingest.health import Meter, SourceHealth
from ingest.mqtt_client import MqttLink
from ingest.payloads import Invalid, truncate
from ops_center.core.clock import utc_now
from ops_center.core.config import Config, SourceConfig
from ops_center.core.model import Event

log = logging.getLogger(__name__)

Parser = Callable[[Config, object, str, str, bytes, datetime], Event]
LOUD_DEAD_LETTERS_PER_MIN = 10  # beyond this, bad payloads are logged at debug level only
INTERNAL_ERROR = "internal_error"


def shared(cfg: Config, topic: str) -> str:
    """`$share/<group>/<topic>` when several ingest processes split the load (mqtt.shared_group)."""
    return f"$share/{cfg.mqtt.shared_group}/{topic}" if cfg.mqtt.shared_group else topic


class MqttSource:
    """One configured MQTT source with its own persistent session (client id `<client_id>-<source id>`)."""

    def __init__(
        self,
        cfg: Config,
        source: SourceConfig,
        topic: str,
        parse: Parser,
        pipeline,
        registry,
        *,
        url: str | None = None,
        mqtt5: bool = True,
        clock: Callable[[], datetime] = utc_now,
    ):
        self.cfg = cfg
        self.source_id = source.id
        self.name = source.name
        self.heartbeat = source.heartbeat
        self.topic = topic
        self._parse = parse
        self._pipeline = pipeline
        self._registry = registry
        self._clock = clock
        self.meter = Meter(clock)
        self.link = MqttLink(
            cfg.mqtt,
            f"{cfg.mqtt.client_id}-{source.id}",
            url=url,
            subscriptions=[shared(cfg, topic)],
            on_message=self._on_message,
            mqtt5=mqtt5,
            name=source.id,
        )

    def start(self) -> None:
        self.link.start()

    def stop(self) -> None:
        """Let what is queued commit first, so its acks still reach the broker (fewer redeliveries)."""
        try:
            self._pipeline.flush(10)
        except Exception:  # noqa: BLE001 - unacked messages are simply redelivered and deduplicated
            log.debug("%s: flush before stop failed", self.source_id, exc_info=True)
        self.link.stop()

    def health(self, now: datetime | None = None) -> SourceHealth:
        return self.meter.health(self.source_id, self.name, self.link.state, now)

    def wait_subscribed(self, timeout: float) -> bool:
        """True once the broker confirmed the subscription (tests and benches wait on it)."""
        return self.link.subscribed.wait(timeout)

    def _on_message(self, msg: mqtt.MQTTMessage, ack: Callable[[], None]) -> None:
        """Runs on paho's thread: validate in memory, hand over, return. Never raises."""
        received = self._clock()
        raw = bytes(msg.payload)
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = msg._topic.decode("utf-8", errors="replace")  # noqa: SLF001 - paho keeps raw topic bytes there
        try:
            event = self._parse(self.cfg, self._registry, self.source_id, topic, raw, received)
        except Invalid as exc:
            self._dead_letter(topic, exc.reason, exc.detail, raw, received, ack)
            return
        except Exception as exc:  # noqa: BLE001 - a parser bug is a dead letter too, never a crash
            log.exception("%s: could not process message on %s", self.source_id, topic)
            self._dead_letter(topic, INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", raw, received, ack)
            return
        self.meter.message(received)
        self._pipeline.submit(event, on_committed=ack)

    def _dead_letter(self, topic: str, reason: str, detail: str, raw: bytes, received: datetime, ack) -> None:
        self.meter.dead_letter(received)
        loud = self.meter.rates(received)[1] <= LOUD_DEAD_LETTERS_PER_MIN
        log.log(
            logging.WARNING if loud else logging.DEBUG,
            "%s: dead letter (%s) on %s: %s; payload %s",
            self.source_id, reason, topic, detail, truncate(raw),
        )
        limit = self.cfg.mqtt.max_payload_bytes
        kept = raw if len(raw) <= limit else raw[:limit]
        self._pipeline.dead_letter(self.source_id, topic, reason, kept, detail, on_committed=ack)
