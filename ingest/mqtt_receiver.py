"""The receiving half of an MQTT source, wherever it runs: intake, chunks, and the acks after commit.

paho's thread turns each message into an Event or a dead letter (ingest/mqtt_intake.py) and queues it
with its ack; a shipping thread hands chunks (≤ CHUNK_MAX messages or CHUNK_LINGER_S) to `ship`, and
the chunk's messages are PUBACKed only when `committed(seq)` says the chunk is in the store. `ship`
is how chunks travel: a pipe to the writer process (ingest/receiver_process.py) or a direct call
into the pipeline (ingest/mqtt_source.py, `mqtt.receivers: 0`).

Messages shipped (tuples): ("chunk", seq, items, messages, dead, last_at) | ("state", link state,
subscribed), repeated every HEARTBEAT_S as a sign of life | ("drained", last seq) after drain().
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from ingest.mqtt_client import MqttLink
from ingest.mqtt_intake import Intake
from ops_center.core.config import Config
from ops_center.core.model import DeadLetter

log = logging.getLogger(__name__)

CHUNK_MAX = 500  # messages per chunk: a fraction of the broker's in-flight window, so it never stalls
CHUNK_LINGER_S = 0.005  # a chunk leaves after 5 ms at most: latency stays far below the writer's batching
HEARTBEAT_S = 1.0  # the shipper repeats its state this often, so the writer can tell a stall from quiet


class Receiver:
    """One MQTT session feeding an Intake; `ship` returns False once nobody will commit what it sends."""

    def __init__(self, cfg: Config, intake: Intake, client_id: str, subscription: str, *, url: str | None,
                 mqtt5: bool, ship: Callable[[tuple], bool], on_shipper_died: Callable[[], None]):
        self.intake, self.source_id = intake, intake.source_id
        self._ship_out, self._on_shipper_died = ship, on_shipper_died
        self._cond = threading.Condition()
        self._items: list = []
        self._acks: list = []
        self._messages = self._dead = 0
        self._last_at: datetime | None = None
        self._inflight: dict[int, list] = {}
        self._seq = 0
        self._closing = False
        self.link = MqttLink(cfg.mqtt, client_id, url=url, subscriptions=[subscription], on_message=self._on_message,
                             mqtt5=mqtt5, name=self.source_id)

    def start(self) -> None:
        with self._cond:
            self._closing = False  # a source stopped and started again takes messages again
        self.start_shipper()
        self.link.start()

    def start_shipper(self) -> None:
        """Also how an owner restarts a shipper that died (the chunk it held comes again on reconnect)."""
        threading.Thread(target=self._ship_loop, name=f"ship-{self.source_id}", daemon=True).start()

    def committed(self, seq: int) -> None:
        """The chunk `seq` is in the store: PUBACK its messages (called by the writer's commit)."""
        with self._cond:
            acks = self._inflight.pop(seq, ())
        for ack in acks:
            ack()

    def drain(self) -> None:
        """Stop taking messages; the shipper sends what is queued, then ("drained", last chunk)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    def stop(self) -> None:
        self.drain()
        self.link.stop()

    # --- paho's thread: parse and queue, never block for long ---

    def _on_message(self, msg, ack: Callable[[], None]) -> None:
        item = self.intake.item(msg)
        with self._cond:
            if self._closing:
                return  # not acked: the broker redelivers it to whoever receives next
            self._items.append(item)
            self._acks.append(ack)
            self._messages += 1
            self._dead += isinstance(item, DeadLetter)
            self._last_at = item.received_at
            if len(self._items) in (1, CHUNK_MAX):
                self._cond.notify_all()

    # --- the shipping thread ---

    def _ship_loop(self) -> None:
        """A shipper that dies would leave the source alive but deaf: the owner restarts it."""
        try:
            self._ship()
        except BaseException:  # noqa: BLE001 - anything here would silence the source
            log.critical("%s: shipper thread died", self.source_id, exc_info=True)
            self._on_shipper_died()

    def _ship(self) -> None:
        state, beat = None, 0.0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._items or self._closing, timeout=0.5)
                if self._items and not self._closing:  # let a chunk fill for a few ms, not longer
                    self._cond.wait_for(lambda: len(self._items) >= CHUNK_MAX or self._closing, CHUNK_LINGER_S)
                chunk = self._take()
                closing, last = self._closing, self._seq
            if chunk is not None and not self._ship_out(chunk):
                return
            now = (self.link.state, self.link.subscribed.is_set())
            if now != state or time.monotonic() - beat >= HEARTBEAT_S:
                state, beat = now, time.monotonic()
                if not self._ship_out(("state", *state)):
                    return
            if closing and chunk is None:
                self._ship_out(("drained", last))
                return

    def _take(self) -> tuple | None:
        if not self._items:
            return None
        self._seq += 1
        self._inflight[self._seq] = self._acks
        chunk = ("chunk", self._seq, self._items, self._messages, self._dead, self._last_at)
        self._items, self._acks, self._messages, self._dead = [], [], 0, 0
        return chunk


def submit_chunk(pipeline, meter, chunk: tuple, on_committed: Callable[[], None]) -> None:
    """The writer's side of a chunk, whichever way it came: count it, submit it as one pipeline item."""
    _, _seq, items, messages, dead, last_at = chunk
    meter.add(messages, dead, last_at)
    pipeline.submit_many(items, on_committed=on_committed)
