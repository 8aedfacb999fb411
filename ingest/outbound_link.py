"""The one outbound publishing path (QoS 1, queued while offline, flushed at stop), in-process or in a child.

`Outbound` publishes through it directly with `mqtt.receivers: 0`; with receivers the publisher process
(ingest/outbound_process.py) runs this same class and the writer only hands messages over a pipe.
"""

from __future__ import annotations

import logging
import time

from ingest.mqtt_client import MqttLink
from ops_center.core.config import MqttConfig

log = logging.getLogger(__name__)

EXIT_GRACE_S = 5  # at stop, time for queued publishes to leave
KEEP_INFOS = 1000  # publish receipts kept before the delivered ones are dropped
RC_QUEUED = (0, 4)  # 4: not connected yet, queued by paho and sent on connect


class Publisher:
    """A non-persistent MqttLink that publishes at QoS 1 and, when stopped, gives what is queued time to go."""

    def __init__(self, cfg: MqttConfig, client_id: str, *, url: str | None, mqtt5: bool, name: str = "mqtt_out"):
        self.link = MqttLink(cfg, client_id, url=url, persistent=False, mqtt5=mqtt5, name=name)
        self._infos: list = []

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
        if info.rc == 0:  # a message queued offline (rc 4) has no receipt to wait on: is_published() raises on it
            self._infos.append(info)
        if len(self._infos) > KEEP_INFOS:
            self._infos = [i for i in self._infos if not i.is_published()]
        return True

    def stop(self) -> None:
        """Wait up to EXIT_GRACE_S for what is queued, then disconnect."""
        deadline = time.monotonic() + EXIT_GRACE_S
        if self.link.connected.is_set():
            for info in self._infos:
                if not info.is_published():
                    info.wait_for_publish(max(0.01, deadline - time.monotonic()))
        self._infos = []
        self.link.stop()
