"""The store as a row of source health: a disk-full or invalidated store shows on the wall and admin page."""

from __future__ import annotations

from datetime import datetime

from ingest.health import SourceHealth


class StoreWatch:
    """Not an intake: start/stop do nothing; health() reports the store's write fault, if any."""

    source_id = "store"
    name = "数据存储"

    def __init__(self, store):
        self._store = store

    def start(self) -> None:
        """Nothing to run: the state is read when health is asked for."""

    def stop(self) -> None:
        """Nothing to stop."""

    def health(self, now: datetime | None = None) -> SourceHealth:
        fault = self._store.fault()
        return SourceHealth(self.source_id, self.name, "error" if fault else "running", None, 0.0, 0.0, 0, fault)
