"""One MQTT receiver process: the shared Receiver, with its chunks shipped over a pipe to the writer process.

paho's packet handling costs about as much CPU as the whole write path, and both need the GIL; in a
process of its own it runs on the other core. Nothing here touches the store: a message is acked only
when the writer process reports that the chunk carrying it committed, so a crash of either process
leaves the message unacked and the broker redelivers it (and the writer's dedup drops the repeat).

Wire protocol over the duplex pipe (pickled tuples):
  receiver → writer: what the Receiver ships (ingest/mqtt_receiver.py): "chunk", "state", "drained"
  writer → receiver: ("committed", seq) | ("stop",) | ("exit",)
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.reduction import ForkingPickler

from ingest.mqtt_intake import INTERNAL_ERROR, Intake, Parser
from ingest.mqtt_receiver import Receiver
from ops_center.core.clock import utc_now
from ops_center.core.config import Config, SourceConfig
from ops_center.core.devices import load_devices
from ops_center.core.gc_tuning import settle_gc
from ops_center.core.model import DeadLetter, Event

log = logging.getLogger(__name__)

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
    run(spec, registry, conn)


def run(spec: ReceiverSpec, registry, conn) -> None:
    """Receive until the writer says exit or goes away; never acks anything it did not commit."""
    receiver = Receiver(spec.cfg, Intake(spec.cfg, spec.source.id, spec.parse, registry), spec.client_id,
                        spec.subscription, url=spec.url, mqtt5=spec.mqtt5, ship=PipeShipper(conn, spec.source.id),
                        on_shipper_died=exit_for_restart)
    receiver.start()
    try:
        for command in pipe_messages(conn):
            if command[0] == "committed":
                receiver.committed(command[1])
            elif command[0] == "stop":
                receiver.drain()
            elif command[0] == "exit":
                return
        log.warning("%s: the writer process went away; stopping without acking", spec.source.id)
    finally:
        receiver.stop()
        log.info("%s: receiver %d stopped", spec.source.id, os.getpid())


def exit_for_restart() -> None:
    """A shipper that died leaves the process alive but deaf: end it so the pool starts a new one."""
    logging.shutdown()
    os._exit(EXIT_SHIPPER_DIED)


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


class PipeShipper:
    """The Receiver's `ship` in a child: pickle for the pipe; False once the writer is gone."""

    def __init__(self, conn, source_id: str):
        self.conn, self.source_id = conn, source_id
        self._lock = threading.Lock()

    def __call__(self, message: tuple) -> bool:
        data = self._pickle(message)
        try:
            with self._lock:
                self.conn.send_bytes(data)
            return True
        except (OSError, ValueError):
            return False  # the writer is gone: nothing more will be acked

    def _pickle(self, message: tuple) -> bytes:
        """A chunk with an item that will not pickle ships that item as a dead letter instead."""
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
