"""The shared shape of the polled hotline sources: a thread doing one unit of work per interval.

health() doubles as the watchdog (FeedWatch asks every source for it every 5 s, the wall every
second): a thread that died is started again, and one that has shown no progress (`beat()`) for
`ingest.stall_after` is reported as stalled; both are logged at ERROR and shown in health().fault.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from ingest.health import Meter, SourceHealth
from ops_center.core.config import SourceConfig

log = logging.getLogger(__name__)


class PolledSource:
    """start() runs `work_once()` every `poll_interval` until stop(); a failing round never ends the thread."""

    thread_prefix = "poll"
    stop_timeout_s = 20.0

    def __init__(self, source: SourceConfig, clock: Callable[[], datetime], stall_after_s: float = 30.0):
        self.source_id = source.id
        self.name = source.name
        self.heartbeat = source.heartbeat
        self.interval = source.poll_interval.total_seconds()
        self._clock = clock
        self.meter = Meter(clock)
        self._state = "stopped"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stall_s = stall_after_s
        self._beat = time.monotonic()
        self._busy = False  # inside a round (a stall is only possible there)
        self._fault = ""
        self._fault_at = 0.0
        self._stall_logged = False

    def work_once(self) -> None:
        raise NotImplementedError

    def prepare(self) -> None:
        """Called by start() before the first round (create folders and the like)."""

    def start(self) -> None:
        self.prepare()
        self._stop.clear()
        self._state = "polling"
        self._thread = threading.Thread(target=self._run, name=f"{self.thread_prefix}-{self.source_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.stop_timeout_s)
        self._state = "stopped"

    def health(self, now: datetime | None = None) -> SourceHealth:
        self.watch()
        return self.meter.health(self.source_id, self.name, self._state, now, self._fault)

    def beat(self) -> None:
        """A sign of progress inside a long round (a committed chunk, a page read)."""
        self._beat = time.monotonic()
        self._stall_logged = False

    def watch(self) -> None:
        """Restart a dead polling thread; report one stuck in a round without progress."""
        thread = self._thread
        if thread is None or self._stop.is_set():
            return
        if not thread.is_alive():
            log.error("%s: polling thread died; starting it again", self.source_id)
            self._fault, self._fault_at = "轮询线程意外终止，已重启", time.monotonic()
            self.start()
            return
        if self._fault and not self._fault.startswith("轮询已") and time.monotonic() - self._fault_at > 600:
            self._fault = ""  # a restart stays visible for ten minutes
        stalled = self._busy and time.monotonic() - self._beat > self._stall_s
        if stalled and not self._stall_logged:
            log.error("%s: no progress for %.0f s inside a polling round", self.source_id,
                      time.monotonic() - self._beat)
            self._stall_logged = True
        if stalled:
            self._fault = f"轮询已 {time.monotonic() - self._beat:.0f} 秒无进展"
        elif self._fault.startswith("轮询已"):
            self._fault = ""

    def _run(self) -> None:
        while not self._stop.is_set():
            self._busy = True
            self.beat()
            try:
                self.work_once()
            except Exception:  # noqa: BLE001 - the source must outlive any one bad round
                self._state = "error"
                log.exception("%s: polling round failed", self.source_id)
            finally:
                self._busy = False
                self.beat()
            if self._stop.wait(self.interval):
                break
