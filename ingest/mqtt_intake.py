"""What an MQTT source does with one message, in the writer process or a receiver process alike.

The subscription, the session's client id, the topic decoding and the parse into an Event or a dead
letter (the bounds on size, depth and fields are the parser's) live here once, so the in-process
source (`mqtt.receivers: 0`) and the receiver processes cannot drift apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import paho.mqtt.client as mqtt

from ingest.payloads import Invalid, truncate
from ops_center.core.clock import utc_now
from ops_center.core.config import Config
from ops_center.core.log_limit import LogLimiter
from ops_center.core.model import DeadLetter, Event

log = logging.getLogger(__name__)

Parser = Callable[[Config, object, str, str, bytes, datetime], Event]
INTERNAL_ERROR = "internal_error"


def subscription(cfg: Config, topic: str) -> str:
    """`$share/<group>/<topic>` when several sessions split the topic (mqtt.shared_group, or N > 1 receivers)."""
    if cfg.mqtt.shared_group:
        return f"$share/{cfg.mqtt.shared_group}/{topic}"
    if cfg.mqtt.receivers > 1:
        return f"$share/{cfg.mqtt.client_id}/{topic}"
    return topic


def session_client_id(cfg: Config, source_id: str, index: int | None = None) -> str:
    """The persistent session's id: `<client_id>-<source id>`, and `-<n>` for receiver process n."""
    base = f"{cfg.mqtt.client_id}-{source_id}"
    return base if index is None else f"{base}-{index}"


def message_topic(msg: mqtt.MQTTMessage) -> str:
    """The topic as text; a topic that is not UTF-8 is kept readable rather than dropped."""
    try:
        return msg.topic
    except UnicodeDecodeError:
        return msg._topic.decode("utf-8", errors="replace")  # noqa: SLF001 - paho keeps raw topic bytes there


class Intake:
    """One message → Event or DeadLetter; never raises, and says why a payload was refused (rate-limited)."""

    def __init__(self, cfg: Config, source_id: str, parse: Parser, registry,
                 clock: Callable[[], datetime] = utc_now):
        self.cfg, self.source_id, self.registry = cfg, source_id, registry
        self._parse, self._clock = parse, clock
        self._limit = LogLimiter(log)

    def item(self, msg: mqtt.MQTTMessage) -> Event | DeadLetter:
        return self.parse(message_topic(msg), bytes(msg.payload), self._clock())

    def parse(self, topic: str, raw: bytes, received: datetime) -> Event | DeadLetter:
        try:
            return self._parse(self.cfg, self.registry, self.source_id, topic, raw, received)
        except Invalid as exc:
            reason, detail = exc.reason, exc.detail
            self._limit.warning(f"{self.source_id}: {reason}", "%s: dead letter (%s) on %s: %s; payload %s",
                                self.source_id, reason, topic, detail, truncate(raw))
        except Exception as exc:  # noqa: BLE001 - a parser bug is a dead letter too, never a crash
            reason, detail = INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"
            self._limit.error(f"{self.source_id}: {reason} {type(exc).__name__}",
                              "%s: could not process message on %s; payload %s", self.source_id, topic,
                              truncate(raw))
        return DeadLetter(self.source_id, topic, reason, raw[: self.cfg.mqtt.max_payload_bytes], detail, received)
