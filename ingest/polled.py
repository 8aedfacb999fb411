"""The shared shape of the polled hotline sources: a thread doing one unit of work per interval."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from ingest.health import Meter, SourceHealth
from ops_center.config import SourceConfig

log = logging.getLogger(__name__)


class PolledSource:
    """start() runs `work_once()` every `poll_interval` until stop(); a failing round never ends the thread."""

    thread_prefix = "poll"
    stop_timeout_s = 20.0

    def __init__(self, source: SourceConfig, clock: Callable[[], datetime]):
        self.source_id = source.id
        self.name = source.name
        self.heartbeat = source.heartbeat
        self.interval = source.poll_interval.total_seconds()
        self._clock = clock
        self.meter = Meter(clock)
        self._state = "stopped"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

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
        return self.meter.health(self.source_id, self.name, self._state, now)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.work_once()
            except Exception:  # noqa: BLE001 - the source must outlive any one bad round
                self._state = "error"
                log.exception("%s: polling round failed", self.source_id)
            if self._stop.wait(self.interval):
                break
