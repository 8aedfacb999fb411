"""An MQTT source received by child processes: the writer process only unpickles chunks and commits them.

The receivers run the same Receiver and Intake as the in-process source (ingest/mqtt_receiver.py,
ingest/mqtt_intake.py); only the way chunks travel differs.

Each configured MQTT source gets `mqtt.receivers` processes (ingest/receiver_process.py), each with its
own persistent session `<client_id>-<source id>-<n>`; with more than one they split the topic through a
shared subscription. A chunk is submitted to the pipeline as one item and acknowledged back to its
receiver after commit, which then PUBACKs its messages. A receiver that dies is started again; one that
stops sending its heartbeat for `ingest.stall_after` (while the writer is not the one holding it back)
is killed and started again. Both are logged at ERROR and shown in health().fault.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from ingest.health import Meter, SourceHealth
from ingest.mqtt_intake import Parser, session_client_id, subscription
from ingest.mqtt_receiver import submit_chunk
from ingest.receiver_process import ReceiverSpec, main, pipe_messages
from ops_center.core.clock import utc_now
from ops_center.core.config import Config, SourceConfig

log = logging.getLogger(__name__)

RESTART_DELAYS_S = (1, 2, 5, 10, 30)  # back-off when a receiver keeps dying
STOP_TIMEOUT_S = 10
WATCH_INTERVAL_S = 1.0
START_GRACE_S = 60.0  # a receiver not heard from since it was spawned is starting (imports, connect), not stalled
FAULT_SHOWN_S = 600  # a restart stays visible in health for ten minutes
# link states, best first: the source reports the worst of its receivers'
_STATES = ("connected", "connecting", "disconnected", "starting", "auth_failed", "stopped")


class _Child:
    """One receiver process and the thread that reads its pipe."""

    def __init__(self, pool: ReceiverPool, index: int):
        self.pool, self.index = pool, index
        self.state = "starting"
        self.subscribed = threading.Event()
        self.drained = threading.Event()
        self.process: BaseProcess | None = None
        self.conn: Connection | None = None
        self._send_lock = threading.Lock()
        self.restarts = 0
        self.last_heard = time.monotonic()
        self.heard = False  # has this process sent anything yet? until then it is starting, not stalled
        self.busy = False  # the reader is inside pipeline.submit_many: backpressure, not a stall
        self.stalled = False  # killed by the watchdog: its exit is no news

    def start(self) -> None:
        ctx = multiprocessing.get_context("spawn")  # never fork a process that holds DuckDB and threads
        parent_end, child_end = ctx.Pipe(duplex=True)
        spec = self.pool.spec(self.index)
        self.process = ctx.Process(target=main, args=(spec, child_end), daemon=True,
                                   name=f"receiver-{spec.source.id}-{self.index}")
        self.process.start()
        child_end.close()
        self.conn = parent_end
        self.last_heard, self.heard = time.monotonic(), False
        self.drained.clear()
        threading.Thread(target=self._read, args=(parent_end,), name=self.process.name, daemon=True).start()

    def send(self, message: tuple, conn=None) -> None:
        """Called on the pipeline thread (commits) and at stop; a dead receiver is simply skipped.

        `conn` pins a commit report to the pipe its chunk came in on: a restarted receiver numbers its
        chunks from 1 again and must never ack its own chunk 3 because the dead one's chunk 3 committed.
        """
        try:
            with self._send_lock:
                target = conn or self.conn
                if target is not None:  # None: not started yet, the message has no receiver to go to
                    target.send(message)
        except (OSError, ValueError):
            log.debug("%s: receiver %d gone; %r not delivered", self.pool.source_id, self.index, message[0])

    def _read(self, conn) -> None:
        try:
            for message in pipe_messages(conn):
                self.last_heard, self.heard = time.monotonic(), True
                self.busy = True
                try:
                    self.pool.on_message(self, conn, message)
                finally:
                    self.busy = False
                    self.last_heard = time.monotonic()
        except Exception:  # noqa: BLE001 - a reader that dies would silence the source: restart the receiver
            log.exception("%s: reading receiver %d failed; restarting it", self.pool.source_id, self.index)
            if self.process is not None:
                self.process.kill()
        conn.close()
        self.subscribed.clear()
        self.pool.on_exit(self)


class ReceiverPool:
    """One configured MQTT source, same face as MqttSource (start, stop, health), received in processes."""

    def __init__(self, cfg: Config, source: SourceConfig, topic: str, parse: Parser, pipeline, devices_path: Path,
                 *, url: str | None = None, mqtt5: bool = True, clock: Callable[[], datetime] = utc_now):
        self.cfg, self.source, self.topic, self._parse = cfg, source, topic, parse
        self.source_id, self.name, self.heartbeat = source.id, source.name, source.heartbeat
        self._pipeline, self._devices_path, self._url, self._mqtt5 = pipeline, devices_path, url, mqtt5
        self.meter = Meter(clock)
        self._stopping = threading.Event()
        self._children = [_Child(self, i) for i in range(cfg.mqtt.receivers)]
        self._stall_s = cfg.ingest.stall_after.total_seconds()
        self._fault = ""
        self._fault_at = 0.0
        self._watchdog: threading.Thread | None = None

    def spec(self, index: int) -> ReceiverSpec:
        return ReceiverSpec(
            cfg=self.cfg, source=self.source, devices_path=str(self._devices_path),
            subscription=subscription(self.cfg, self.topic), parse=self._parse,
            client_id=session_client_id(self.cfg, self.source_id, index), url=self._url, mqtt5=self._mqtt5,
            log_level=logging.getLogger().getEffectiveLevel())

    # --- the source interface ---

    def start(self) -> None:
        self._stopping.clear()
        for child in self._children:
            child.start()
        self._watchdog = threading.Thread(target=self._watch, name=f"watchdog-{self.source_id}", daemon=True)
        self._watchdog.start()

    def stop(self) -> None:
        """Receivers stop taking messages and ship what they hold; once that commits they ack and exit."""
        self._stopping.set()
        live = [c for c in self._children if c.process is not None and c.process.is_alive()]
        for child in live:
            child.send(("stop",))
        for child in live:
            if not child.drained.wait(STOP_TIMEOUT_S):
                log.warning("%s: receiver %d did not drain in time", self.source_id, child.index)
        try:
            self._pipeline.flush(STOP_TIMEOUT_S)  # every chunk committed, so every "committed" was sent
        except Exception:  # noqa: BLE001 - unacked messages are simply redelivered and deduplicated
            log.debug("%s: flush before stop failed", self.source_id, exc_info=True)
        for child in live:
            child.send(("exit",))
        for child in self._children:
            if child.process is None:
                continue
            child.process.join(STOP_TIMEOUT_S)
            if child.process.is_alive():
                log.warning("%s: receiver %d did not exit; killing it", self.source_id, child.index)
                child.process.kill()
                child.process.join(5)

    def health(self, now: datetime | None = None) -> SourceHealth:
        recent = self._fault and time.monotonic() - self._fault_at < FAULT_SHOWN_S
        return self.meter.health(self.source_id, self.name, self.state, now, self._fault if recent else "")

    def _note_fault(self, text: str) -> None:
        self._fault, self._fault_at = text, time.monotonic()

    # --- the watchdog ---

    def _watch(self) -> None:
        """Kill a receiver that is alive but silent: its pipe then closes and on_exit starts a new one."""
        while not self._stopping.wait(WATCH_INTERVAL_S):
            for child in self._children:
                self.check_stalled(child, time.monotonic())

    def check_stalled(self, child: _Child, now: float) -> bool:
        """True (and the receiver killed) when it has sent nothing for stall_after and is not held back by us."""
        process = child.process
        # A spawned receiver imports and connects before its first word; on a loaded host that can take longer
        # than stall_after, and killing it then only restarts the same slow start, over and over.
        limit = self._stall_s if child.heard else max(self._stall_s, START_GRACE_S)
        if process is None or not process.is_alive() or child.busy or now - child.last_heard < limit:
            return False
        log.error("%s: receiver %d (pid %s) silent for %.0f s; killing it to restart", self.source_id,
                  child.index, process.pid, now - child.last_heard)
        self._note_fault(f"接收进程 {child.index} 停止响应，已重启")
        child.last_heard, child.stalled = now, True  # one kill per stall
        process.kill()
        return True

    @property
    def state(self) -> str:
        if self._stopping.is_set():
            return "stopped"
        return max((c.state for c in self._children), key=_STATES.index, default="stopped")

    def wait_subscribed(self, timeout: float) -> bool:
        """True once every receiver has subscribed (tests and benches wait on it)."""
        return all(child.subscribed.wait(timeout) for child in self._children)

    # --- messages from the receivers (their reader threads) ---

    def on_message(self, child: _Child, conn, message: tuple) -> None:
        kind = message[0]
        if kind == "chunk":
            seq = message[1]
            submit_chunk(self._pipeline, self.meter, message, lambda: child.send(("committed", seq), conn))
        elif kind == "state":
            child.state = message[1]
            (child.subscribed.set if message[2] else child.subscribed.clear)()
        elif kind == "drained":
            child.drained.set()

    def on_exit(self, child: _Child) -> None:
        """A receiver's pipe closed: expected when stopping, otherwise start it again after a pause."""
        child.drained.set()
        if self._stopping.is_set():
            child.state = "stopped"
            return
        child.state = "disconnected"
        process = child.process
        if process is not None:
            process.join(1)
        code = process.exitcode if process is not None else None
        delay = RESTART_DELAYS_S[min(child.restarts, len(RESTART_DELAYS_S) - 1)]
        log.error("%s: receiver %d exited (code %s); restarting in %d s", self.source_id, child.index, code, delay)
        if not child.stalled:
            self._note_fault(f"接收进程 {child.index} 异常退出（代码 {code}），{delay} 秒后重启")
        child.stalled = False
        child.restarts += 1
        if not self._stopping.wait(delay):
            child.start()
