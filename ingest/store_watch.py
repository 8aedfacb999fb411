"""The store as a row of source health: a disk-full or invalidated store shows on the wall and admin page."""

from __future__ import annotations

from datetime import datetime

from ingest.health import SourceHealth


class StoreWatch:
    """Not an intake: start/stop do nothing; health() reports the store's write fault or batcher restarts."""

    source_id = "store"
    name = "数据存储"

    def __init__(self, store, pipeline=None):
        self._store = store
        self._pipeline = pipeline

    def start(self) -> None:
        """Nothing to run: the state is read when health is asked for."""

    def stop(self) -> None:
        """Nothing to stop."""

    def health(self, now: datetime | None = None) -> SourceHealth:
        failing = self._store.fault()
        fault = failing
        if not fault and self._pipeline is not None and self._pipeline.restarts:
            fault = f"入库线程异常后已重启 {self._pipeline.restarts} 次"  # past, but worth a look
        return SourceHealth(self.source_id, self.name, "error" if failing else "running", None, 0.0, 0.0, 0, fault)
