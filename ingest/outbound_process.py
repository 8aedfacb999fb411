"""Outbound MQTT publishing in a child process: paho's QoS 1 send and PUBACK handling off the writer's GIL.

With `mqtt.receivers` ≥ 1 the MQTT work of the center runs in child processes; this is the outbound
half. The bus thread hands over (topic, payload) through a pipe (a couple of µs) instead of running
paho's publish path (tens of µs per message, measured at 14 % of the writer process under load).
Delivery is as before: QoS 1, queued in memory while the broker is unreachable, lost with the process.

Wire protocol: writer → publisher ("publish", topic, payload) | ("exit",);
publisher → writer ("state", link state, connected).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time

from ingest.mqtt_client import MqttLink
from ingest.receiver_process import ignore_stop_signals, pipe_messages
from ops_center.core.config import MqttConfig

log = logging.getLogger(__name__)

STATE_POLL_S = 0.5
EXIT_GRACE_S = 5  # at exit, time for queued publishes to leave


def main(cfg: MqttConfig, client_id: str, url: str | None, mqtt5: bool, log_level: int, conn) -> None:
    """Process entry point (multiprocessing spawn target)."""
    ignore_stop_signals()
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("paho").setLevel(logging.WARNING)
    link = MqttLink(cfg, client_id, url=url, persistent=False, mqtt5=mqtt5, name="mqtt_out")
    stop = threading.Event()
    threading.Thread(target=_report_state, args=(link, conn, stop), name="outbound-state", daemon=True).start()
    link.start()
    infos = []
    try:
        for message in pipe_messages(conn):  # ends when the writer is gone
            if message[0] == "exit":
                break
            info = link.publish(message[1], message[2], qos=1)
            infos.append(info)
            if len(infos) > 1000:
                infos = [i for i in infos if not i.is_published()]
        deadline = time.monotonic() + EXIT_GRACE_S
        for info in infos:
            if info.rc == 0 and not info.is_published():
                info.wait_for_publish(max(0.01, deadline - time.monotonic()))
    finally:
        stop.set()
        link.stop()


def _report_state(link: MqttLink, conn, stop: threading.Event) -> None:
    last = None
    while not stop.wait(0 if last is None else STATE_POLL_S):
        now = (link.state, link.connected.is_set())
        if now != last:
            last = now
            try:
                conn.send(("state", *now))
            except (OSError, ValueError):
                return


class ProcessPublisher:
    """Parent side: same publish/start/stop/state face as an MqttLink, the paho client lives in a child."""

    def __init__(self, cfg: MqttConfig, client_id: str, *, url: str | None, mqtt5: bool):
        self.cfg, self.client_id, self.url, self.mqtt5 = cfg, client_id, url, mqtt5
        self.state = "stopped"
        self.connected = threading.Event()
        self._conn = None
        self._process = None
        self._lock = threading.Lock()
        self._stopping = False

    def start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent_end, child_end = ctx.Pipe(duplex=True)
        self._stopping = False
        self._process = ctx.Process(
            target=main, name="outbound-publisher", daemon=True,
            args=(self.cfg, self.client_id, self.url, self.mqtt5, logging.getLogger().getEffectiveLevel(), child_end))
        self.state = "connecting"
        self._process.start()
        child_end.close()
        self._conn = parent_end
        threading.Thread(target=self._read, args=(parent_end,), name="outbound-reader", daemon=True).start()

    def publish(self, topic: str, payload: bytes) -> bool:
        """Hand one message to the publisher process; False when it is not running."""
        try:
            with self._lock:
                self._conn.send(("publish", topic, payload))
            return True
        except (OSError, ValueError, AttributeError):
            return False

    def stop(self) -> None:
        if self._process is None:
            return
        self._stopping = True
        try:
            with self._lock:
                self._conn.send(("exit",))
        except (OSError, ValueError):
            pass
        self._process.join(EXIT_GRACE_S + 5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self.state = "stopped"
        self.connected.clear()

    def _read(self, conn) -> None:
        for message in pipe_messages(conn):
            if message[0] == "state":
                self.state = message[1]
                (self.connected.set if message[2] else self.connected.clear)()
        if not self._stopping:
            log.error("outbound publisher process ended (exit code %s)",
                      self._process.exitcode if self._process else None)
            self.state = "error"
        self.connected.clear()
