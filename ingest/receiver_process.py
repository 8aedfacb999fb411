"""One MQTT receiver process: subscribe, parse, ship chunks to the writer process, ack what it committed.

paho's packet handling costs about as much CPU as the whole write path, and both need the GIL; in a
process of its own it runs on the other core. Nothing here touches the store: a message is acked only
when the writer process reports that the chunk carrying it committed, so a crash of either process
leaves the message unacked and the broker redelivers it (and the writer's dedup drops the repeat).

Wire protocol over the duplex pipe (pickled tuples):
  receiver → writer: ("chunk", seq, items, messages, dead, last_at) | ("state", link state, subscribed)
                     | ("drained", last seq)
  ("state", …) is repeated every HEARTBEAT_S as a sign of life for the writer's watchdog.
  writer → receiver: ("committed", seq) | ("stop",) | ("exit",)
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.reduction import ForkingPickler

from ingest.mqtt_client import MqttLink
from ingest.mqtt_source import INTERNAL_ERROR, Parser
from ingest.payloads import Invalid
from ops_center.core.clock import utc_now
from ops_center.core.config import Config, SourceConfig
from ops_center.core.devices import load_devices
from ops_center.core.gc_tuning import settle_gc
from ops_center.core.model import DeadLetter, Event

log = logging.getLogger(__name__)

CHUNK_MAX = 500  # messages per chunk: a fraction of the broker's in-flight window, so it never stalls
CHUNK_LINGER_S = 0.005  # a chunk leaves after 5 ms at most: latency stays far below the writer's batching
HEARTBEAT_S = 1.0  # the shipper repeats its state this often, so the writer can tell a stall from quiet
EXIT_SHIPPER_DIED = 70  # the process exits with this when its shipper thread dies: the pool restarts it


@dataclass(frozen=True)
class ReceiverSpec:
    """Everything a receiver process needs, picklable (the device registry is reloaded from its file)."""

    cfg: Config
    source: SourceConfig
    devices_path: str
    subscription: str
    parse: Parser
    client_id: str
    url: str | None
    mqtt5: bool
    log_level: int = logging.INFO


def main(spec: ReceiverSpec, conn) -> None:
    """Process entry point (multiprocessing spawn target)."""
    ignore_stop_signals()
    logging.basicConfig(level=spec.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("paho").setLevel(logging.WARNING)
    registry = load_devices(spec.devices_path, spec.cfg)
    settle_gc()
    Receiver(spec, registry, conn).run()


def pipe_messages(conn) -> Iterator[tuple]:
    """Messages from a pipe until the process at the other end closes it or dies."""
    while True:
        try:
            yield conn.recv()
        except (EOFError, OSError):
            return


def ignore_stop_signals() -> None:
    """Ctrl-C and SIGTERM reach the whole process group; the writer process decides when a child stops.

    It drains and stops its children in order; if it dies instead, the child sees its pipe close.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class Receiver:
    """The receiving half of an MQTT source; the writer process holds the other half (ReceiverPool)."""

    def __init__(self, spec: ReceiverSpec, registry, conn):
        self.spec, self.registry, self.conn = spec, registry, conn
        self.source_id = spec.source.id
        self._cond = threading.Condition()
        self._items: list = []
        self._acks: list = []
        self._messages = self._dead = 0
        self._last_at: datetime | None = None
        self._inflight: dict[int, list] = {}
        self._seq = 0
        self._closing = False
        self._send_lock = threading.Lock()
        self.link = MqttLink(spec.cfg.mqtt, spec.client_id, url=spec.url, subscriptions=[spec.subscription],
                             on_message=self._on_message, mqtt5=spec.mqtt5, name=self.source_id)

    def run(self) -> None:
        """Receive until the writer says exit or goes away; never acks anything it did not commit."""
        shipper = threading.Thread(target=self._ship_loop, name="receiver-ship", daemon=True)
        shipper.start()
        self.link.start()
        try:
            self._command_loop()
        finally:
            with self._cond:
                self._closing = True
                self._cond.notify_all()
            self.link.stop()
            log.info("%s: receiver %d stopped", self.source_id, os.getpid())

    # --- paho's thread: parse and queue, never block for long ---

    def _on_message(self, msg, ack) -> None:
        received = utc_now()
        raw = bytes(msg.payload)
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = msg._topic.decode("utf-8", errors="replace")  # noqa: SLF001 - paho keeps raw topic bytes there
        item = self._parse(topic, raw, received)
        with self._cond:
            if self._closing:
                return  # not acked: the broker redelivers it to whoever receives next
            self._items.append(item)
            self._acks.append(ack)
            self._messages += 1
            self._dead += isinstance(item, DeadLetter)
            self._last_at = received
            if len(self._items) in (1, CHUNK_MAX):
                self._cond.notify_all()

    def _parse(self, topic: str, raw: bytes, received: datetime):
        spec = self.spec
        try:
            return spec.parse(spec.cfg, self.registry, self.source_id, topic, raw, received)
        except Invalid as exc:
            reason, detail = exc.reason, exc.detail
        except Exception as exc:  # noqa: BLE001 - a parser bug is a dead letter too, never a crash
            log.exception("%s: could not process message on %s", self.source_id, topic)
            reason, detail = INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"
        limit = spec.cfg.mqtt.max_payload_bytes
        return DeadLetter(self.source_id, topic, reason, raw[:limit], detail, received)

    # --- shipping chunks and link state to the writer ---

    def _ship_loop(self) -> None:
        """A shipper that dies would leave the process alive but deaf: end the process so the pool restarts it."""
        try:
            self._ship()
        except BaseException:  # noqa: BLE001 - anything here would silence the source; restart instead
            log.critical("%s: receiver %d shipper thread died; exiting so the writer restarts it",
                         self.source_id, os.getpid(), exc_info=True)
            logging.shutdown()
            os._exit(EXIT_SHIPPER_DIED)

    def _ship(self) -> None:
        state, beat = None, 0.0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._items or self._closing, timeout=0.5)
                if self._items and not self._closing:  # let a chunk fill for a few ms, not longer
                    self._cond.wait_for(lambda: len(self._items) >= CHUNK_MAX or self._closing, CHUNK_LINGER_S)
                chunk = self._take()
                closing, last = self._closing, self._seq
            if chunk is not None and not self._send(chunk):
                return
            now = (self.link.state, self.link.subscribed.is_set())
            if now != state or time.monotonic() - beat >= HEARTBEAT_S:
                state, beat = now, time.monotonic()
                if not self._send(("state", *state)):
                    return
            if closing and chunk is None:
                self._send(("drained", last))
                return

    def _take(self) -> tuple | None:
        if not self._items:
            return None
        self._seq += 1
        self._inflight[self._seq] = self._acks
        chunk = ("chunk", self._seq, self._items, self._messages, self._dead, self._last_at)
        self._items, self._acks, self._messages, self._dead = [], [], 0, 0
        return chunk

    def _send(self, message: tuple) -> bool:
        data = self._pickle(message)
        try:
            with self._send_lock:
                self.conn.send_bytes(data)
            return True
        except (OSError, ValueError):
            return False  # the writer is gone: nothing more will be acked

    def _pickle(self, message: tuple) -> bytes:
        """Pickle for the pipe; a chunk with an item that will not pickle ships that item as a dead letter."""
        try:
            return bytes(ForkingPickler.dumps(message))
        except Exception:  # noqa: BLE001 - parse-time bounds should make this unreachable; never die of it
            if message[0] != "chunk":
                raise
            log.exception("%s: a chunk would not pickle; shipping its bad items as dead letters", self.source_id)
        kind, seq, items, messages, dead, last_at = message
        safe = [self._picklable(item) for item in items]
        dead = sum(isinstance(item, DeadLetter) for item in safe)
        return bytes(ForkingPickler.dumps((kind, seq, safe, messages, dead, last_at)))

    def _picklable(self, item):
        try:
            ForkingPickler.dumps(item)
            return item
        except Exception as exc:  # noqa: BLE001 - see _pickle
            key = item.natural_key if isinstance(item, Event) else ""
            detail = f"could not be shipped to the writer: {type(exc).__name__}: {str(exc)[:200]}"
            return DeadLetter(self.source_id, getattr(item, "topic", None), INTERNAL_ERROR, key.encode(), detail,
                              utc_now())

    # --- commands from the writer ---

    def _command_loop(self) -> None:
        for command in pipe_messages(self.conn):
            if command[0] == "committed":
                with self._cond:
                    acks = self._inflight.pop(command[1], ())
                for ack in acks:
                    ack()
            elif command[0] == "stop":
                self._drain()
            elif command[0] == "exit":
                return
        log.warning("%s: the writer process went away; stopping without acking", self.source_id)

    def _drain(self) -> None:
        """Stop taking messages; the shipper sends what is queued, then ("drained", last chunk)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
