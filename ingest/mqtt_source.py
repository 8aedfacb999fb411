"""An MQTT source received in the writer process (`mqtt.receivers: 0`): the same Receiver, chunks go straight in.

The receiving half (ingest/mqtt_receiver.py) is the one the receiver processes run; here its chunks are
submitted to the pipeline directly instead of travelling over a pipe, and each chunk's commit PUBACKs it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from ingest.health import Meter, SourceHealth
from ingest.mqtt_intake import Intake, Parser, session_client_id, subscription
from ingest.mqtt_receiver import Receiver, submit_chunk
from ops_center.core.clock import utc_now
from ops_center.core.config import Config, SourceConfig

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10
SHIPPER_RESTART_S = 1.0


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
        self._pipeline = pipeline
        self.meter = Meter(clock)
        self._drained = threading.Event()
        self.receiver = Receiver(cfg, Intake(cfg, source.id, parse, registry, clock), session_client_id(cfg, source.id),
                                 subscription(cfg, topic), url=url, mqtt5=mqtt5, ship=self._take_chunk,
                                 on_shipper_died=self._restart_shipper)
        self.link = self.receiver.link

    def start(self) -> None:
        self._drained.clear()
        self.receiver.start()

    def stop(self) -> None:
        """Take no more, commit what is held, let its acks out (fewer redeliveries), then disconnect."""
        self.receiver.drain()
        if not self._drained.wait(STOP_TIMEOUT_S):
            log.warning("%s: receiver did not drain in time", self.source_id)
        try:
            self._pipeline.flush(STOP_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - unacked messages are simply redelivered and deduplicated
            log.debug("%s: flush before stop failed", self.source_id, exc_info=True)
        self.receiver.stop()

    def health(self, now: datetime | None = None) -> SourceHealth:
        return self.meter.health(self.source_id, self.name, self.link.state, now)

    def wait_subscribed(self, timeout: float) -> bool:
        """True once the broker confirmed the subscription (tests and benches wait on it)."""
        return self.link.subscribed.wait(timeout)

    def _take_chunk(self, message: tuple) -> bool:
        """The receiver's `ship`, on its shipping thread: a chunk goes to the pipeline, its commit acks it."""
        if message[0] == "chunk":
            seq = message[1]
            submit_chunk(self._pipeline, self.meter, message, lambda: self.receiver.committed(seq))
        elif message[0] == "drained":
            self._drained.set()
        return True

    def _restart_shipper(self) -> None:
        log.error("%s: restarting the shipper in %.0f s", self.source_id, SHIPPER_RESTART_S)
        timer = threading.Timer(SHIPPER_RESTART_S, self.receiver.start_shipper)
        timer.daemon = True
        timer.start()
