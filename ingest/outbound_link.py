"""The one outbound publishing path (QoS 1, queued while offline, flushed at stop), in-process or in a child.

`Outbound` publishes through it directly with `mqtt.receivers: 0`; with receivers the publisher process
(ingest/outbound_process.py) runs this same class and the writer only hands messages over a pipe.
"""

from __future__ import annotations

import logging
import time
from collections import deque

from ingest.mqtt_client import MqttLink
from ingest.outbound_wire import messages
from ops_center.core.config import MqttConfig

log = logging.getLogger(__name__)

EXIT_GRACE_S = 5  # at stop, time for queued publishes to leave
KEEP_INFOS = 1000  # publish receipts kept before the delivered ones further back are looked for
RC_QUEUED = (0, 4)  # 4: not connected yet, queued by paho and sent on connect


class Publisher:
    """A non-persistent MqttLink that publishes at QoS 1 and, when stopped, gives what is queued time to go."""

    def __init__(self, cfg: MqttConfig, client_id: str, *, url: str | None, mqtt5: bool, name: str = "mqtt_out"):
        self.cfg = cfg
        self.link = MqttLink(cfg, client_id, url=url, persistent=False, mqtt5=mqtt5, name=name)
        self._infos: deque = deque()  # receipts of rc-0 publishes not known to be delivered, oldest first
        self._prune_at = KEEP_INFOS

    @property
    def state(self) -> str:
        return self.link.state

    @property
    def connected(self):
        return self.link.connected

    def start(self) -> None:
        self.link.start()

    def publish(self, topic: str, payload: bytes) -> bool:
        """Queue one QoS 1 message; False (logged) when paho refused it."""
        info = self.link.publish(topic, payload, qos=1)
        if info.rc not in RC_QUEUED:
            log.warning("%s: publish on %s refused: rc=%s", self.link.name, topic, info.rc)
            return False
        if info.rc != 0:  # queued offline: paho sends it on connect, and its receipt raises when asked
            return True
        self._forget_delivered(info)
        return True

    def publish_many(self, pairs: list[tuple[str, bytes]]) -> int:
        """Queue (topic, payload) pairs in order; how many paho took."""
        return sum(self.publish(topic, payload) for topic, payload in pairs)

    def publish_events(self, events: list) -> int:
        """Queue published bus events (ingest/outbound_wire.py) as their messages, in order; how many paho took."""
        return self.publish_many(messages(self.cfg, events))

    def _forget_delivered(self, info) -> None:
        """Keep `info`; drop delivered receipts in amortised O(1) per publish.

        PUBACKs mostly come in order, so the delivered ones are at the front. A receipt stuck there (its
        PUBACK still to come after a reconnect) gets a whole pass only once the deque has doubled since the
        last one: rescanning every receipt on every publish past KEEP_INFOS made each publish cost O(backlog),
        71 µs per message with a 100,000-incident export (the busiest process of the run).
        """
        infos = self._infos
        infos.append(info)
        while infos and infos[0].is_published():
            infos.popleft()
        if len(infos) > self._prune_at:
            self._infos = infos = deque(i for i in infos if not i.is_published())
            self._prune_at = max(KEEP_INFOS, 2 * len(infos))

    def stop(self) -> None:
        """Wait up to EXIT_GRACE_S for what is queued, then disconnect."""
        deadline = time.monotonic() + EXIT_GRACE_S
        if self.link.connected.is_set():
            for info in self._infos:
                if not info.is_published():
                    info.wait_for_publish(max(0.01, deadline - time.monotonic()))
        self._infos.clear()
        self.link.stop()
