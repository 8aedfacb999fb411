"""Outbound MQTT publishing in a child process: paho's QoS 1 send and PUBACK handling off the writer's GIL.

With `mqtt.receivers` ≥ 1 the MQTT work of the center runs in child processes; this is the outbound
half. The bus thread hands (topic, payload) to a sender thread that ships whatever has gathered as one
pipe message: a 100,000-row export opens 100,000 incidents, and one pipe write each cost ~10 % of the
writer process; paho's publish path in-process would cost tens of µs per message. The child publishes
through the same `Publisher` the in-process mode uses (ingest/outbound_link.py). Delivery is as
before: QoS 1, in order, queued in memory while the broker is unreachable, lost with the process.

Wire protocol: writer → publisher ("publish", [(event class name, field values), …]) | ("exit",) (the
events are serialised here, not in the writer: ingest/outbound_wire.py);
publisher → writer ("state", link state, connected).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from ingest.outbound_link import EXIT_GRACE_S, Publisher
from ingest.outbound_wire import pack, unpack
from ingest.receiver_process import ignore_stop_signals, pipe_messages
from ops_center.core.config import MqttConfig
from ops_center.core.gc_tuning import settle_gc

log = logging.getLogger(__name__)

STATE_POLL_S = 0.5
SEND_MAX = 1000  # messages per pipe message: small pickles, and the publisher starts on them early
# The publisher yields the CPU to the writer when both want it: telling others is second to storing (and acking)
# what came in. With a 100,000-row export the writer's commit thread waited 2.8-3.4 s for a core at nice 0 against
# 2.2-2.4 s with this; the publisher still keeps up, taking the cores' idle moments.
NICE = 10


def main(cfg: MqttConfig, client_id: str, url: str | None, mqtt5: bool, log_level: int, conn) -> None:
    """Process entry point (multiprocessing spawn target)."""
    ignore_stop_signals()
    os.nice(NICE)  # raising one's own niceness needs no privilege
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("paho").setLevel(logging.WARNING)
    publisher = Publisher(cfg, client_id, url=url, mqtt5=mqtt5)
    settle_gc()  # paho's per-message objects: 833 collections, 6 µs a message, with CPython's thresholds
    stop = threading.Event()
    threading.Thread(target=_report_state, args=(publisher, conn, stop), name="outbound-state", daemon=True).start()
    publisher.start()
    try:
        for message in pipe_messages(conn):  # ends when the writer is gone
            if message[0] == "exit":
                break
            publisher.publish_events(unpack(message[1]))
    finally:
        stop.set()
        publisher.stop()


def _report_state(publisher: Publisher, conn, stop: threading.Event) -> None:
    last = None
    while not stop.wait(0 if last is None else STATE_POLL_S):
        now = (publisher.state, publisher.connected.is_set())
        if now != last:
            last = now
            try:
                conn.send(("state", *now))
            except (OSError, ValueError):
                return


class ProcessPublisher:
    """Parent side: the same start/publish_events/stop/state face as a Publisher, which lives in the child."""

    def __init__(self, cfg: MqttConfig, client_id: str, *, url: str | None, mqtt5: bool):
        self.cfg, self.client_id, self.url, self.mqtt5 = cfg, client_id, url, mqtt5
        self.state = "stopped"
        self.connected = threading.Event()
        self._conn: Connection | None = None
        self._process: BaseProcess | None = None
        self._lock = threading.Lock()  # one writer on the pipe at a time
        self._stopping = False
        self._gathered: list[tuple[str, tuple]] = []  # packed events (ingest/outbound_wire.py)
        self._cond = threading.Condition()
        self._sender: threading.Thread | None = None

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
        self._sender = threading.Thread(target=self._send_loop, name="outbound-sender", daemon=True)
        self._sender.start()

    def publish_events(self, events: list) -> int:
        """Queue published bus events for the publisher process, in order; 0 when it is not running."""
        if self._conn is None or self._stopping or self.state == "error":
            return 0
        packed = pack(events)
        with self._cond:
            idle = not self._gathered
            self._gathered.extend(packed)
            if idle:
                self._cond.notify()
        return len(packed)

    def _send_loop(self) -> None:
        """Ship what gathered since the last send as one pipe message, in order, until stop."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._gathered or self._stopping)
                batch, self._gathered = self._gathered[:SEND_MAX], self._gathered[SEND_MAX:]
                stopping = self._stopping
            if batch and not self._send(("publish", batch)):
                log.warning("outbound: %d messages not handed over: publisher process down", len(batch))
            if stopping and not batch:
                return

    def _send(self, message: tuple) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            with self._lock:
                conn.send(message)
            return True
        except (OSError, ValueError):
            return False

    def stop(self) -> None:
        if self._process is None or self._conn is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._sender is not None:
            self._sender.join(EXIT_GRACE_S)  # what the bus handed over goes out before exit
        self._send(("exit",))
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
