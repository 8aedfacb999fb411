"""The one outbound publishing path (QoS 1, queued while offline, flushed at stop), in-process or in a child.

`Outbound` publishes through it directly with `mqtt.receivers: 0`; with receivers the publisher process
(ingest/outbound_process.py) runs this same class and the writer only hands messages over a pipe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from ingest.mqtt_client import MqttLink
from ingest.outbound_wire import messages
from ops_center.core.config import MqttConfig
from ops_center.core.log_limit import LogLimiter

log = logging.getLogger(__name__)

EXIT_GRACE_S = 5  # at stop, time for queued publishes to leave
RC_QUEUED = (0, 4)  # 4: not connected yet, queued by paho and sent on connect
# Messages handed to paho and not yet acknowledged. paho numbers QoS 1 messages 1..65535 and refuses one whose
# number is still held (rc 15), so past 65,535 a backlog (a 100,000-row export while the cores were busy, a
# broker away) lost messages; the rest now waits here, in order, and goes to paho as acknowledgements come.
HELD_MAX = 10_000
FEED_AT = HELD_MAX - 1_000  # the backlog is topped up once this many are held: one wake-up per 1,000 PUBACKs


class Publisher:
    """A non-persistent MqttLink that publishes at QoS 1, never holds more than paho can number, and, when
    stopped, gives what is queued time to go."""

    def __init__(self, cfg: MqttConfig, client_id: str, *, url: str | None, mqtt5: bool, name: str = "mqtt_out"):
        self.cfg = cfg
        self.link = MqttLink(cfg, client_id, url=url, persistent=False, mqtt5=mqtt5, name=name,
                             on_published=self._published)
        self._cond = threading.Condition()
        self._held = 0  # handed to paho, not yet acknowledged
        self._backlog: deque[tuple[str, bytes]] = deque()  # waiting for paho to have room, oldest first
        self._stopping = False
        self._feeder: threading.Thread | None = None
        self._refused = LogLimiter(log)

    @property
    def state(self) -> str:
        return self.link.state

    @property
    def connected(self):
        return self.link.connected

    @property
    def pending(self) -> int:
        """Messages not yet acknowledged by the broker: held by paho or waiting for it."""
        with self._cond:
            return self._held + len(self._backlog)

    def start(self) -> None:
        self._stopping = False
        self._feeder = threading.Thread(target=self._feed, name=f"{self.link.name}-feeder", daemon=True)
        self._feeder.start()
        self.link.start()

    def publish(self, topic: str, payload: bytes) -> bool:
        """Queue one QoS 1 message, in order after those waiting; False (logged) when paho refused it."""
        with self._cond:
            if self._backlog or self._held >= HELD_MAX:
                self._backlog.append((topic, payload))
                return True
            self._held += 1
        return self._hand(topic, payload)

    def publish_many(self, pairs: list[tuple[str, bytes]]) -> int:
        """Queue (topic, payload) pairs in order; how many paho took."""
        return sum(self.publish(topic, payload) for topic, payload in pairs)

    def publish_events(self, events: list) -> int:
        """Queue published bus events (ingest/outbound_wire.py) as their messages, in order; how many paho took."""
        return self.publish_many(messages(self.cfg, events))

    def _hand(self, topic: str, payload: bytes) -> bool:
        """Give one message to paho (already counted as held)."""
        info = self.link.publish(topic, payload, qos=1)
        if info.rc in RC_QUEUED:
            return True
        with self._cond:
            self._held -= 1
        log.warning("%s: publish on %s refused: rc=%s", self.link.name, topic, info.rc)
        return False

    def _published(self, reason_code) -> None:
        """paho's network thread: one message acknowledged; wake the feeder when there is room for a step."""
        if reason_code.is_failure:
            self._refused.warning(str(reason_code), "%s: the broker refused a message: %s", self.link.name,
                                  reason_code)
        with self._cond:
            self._held -= 1
            if self._backlog and self._held <= FEED_AT or not self._held:
                self._cond.notify_all()

    def _feed(self) -> None:
        """Hand the backlog to paho, oldest first, as acknowledgements make room."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: (self._backlog and self._held <= FEED_AT)
                                    or (self._stopping and not self._backlog))
                if not self._backlog:
                    return  # stopping, nothing left
                step = [self._backlog.popleft() for _ in range(min(len(self._backlog), HELD_MAX - self._held))]
                self._held += len(step)
            for topic, payload in step:
                self._hand(topic, payload)

    def stop(self) -> None:
        """Wait up to EXIT_GRACE_S (while connected) for what is queued to be acknowledged, then disconnect."""
        deadline = time.monotonic() + EXIT_GRACE_S
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            while (self._held or self._backlog) and self.link.connected.is_set() and time.monotonic() < deadline:
                self._cond.wait(max(0.01, min(0.1, deadline - time.monotonic())))
            left = self._held + len(self._backlog)
            self._backlog.clear()
            self._cond.notify_all()  # the feeder ends
        if left:
            log.warning("%s: stopping with %d messages not acknowledged by the broker", self.link.name, left)
        if self._feeder is not None:
            self._feeder.join(1)
        self.link.stop()
