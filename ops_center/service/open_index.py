"""In-memory view of open incidents, so dedup and correlation never scan the incidents table per event."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb

from ops_center.core.domains import OPEN_STATUSES
from ops_center.store.store import from_db


@dataclass(slots=True)
class OpenIncident:
    """What dedup and correlation need to know about one open incident."""

    incident_id: int
    domain: str
    dedup_key: str | None
    area_code: str
    lat: float | None
    lon: float | None
    last_report_at: datetime
    report_count: int
    sources: list[str] = field(default_factory=list)


CELL_DEG = 0.005  # ≈ 550 m north-south, ≈ 480 m east-west at Chengdu: wider than any correlation distance


def cell_of(lat: float, lon: float) -> tuple[int, int]:
    """The map cell a point falls in: the unit both the live and the backtest correlation index use."""
    return int(lat // CELL_DEG), int(lon // CELL_DEG)


class OpenIndex:
    """Open incidents by id and dedup key, and the recently reported ones by place.

    Correlation only ever joins an incident reported within the correlation window, so the place
    index holds just those: thousands of old open incidents in one cell cost nothing per event.
    Owned by the pipeline and touched only on the writer thread.
    """

    def __init__(self, window: timedelta = timedelta(minutes=30)) -> None:
        self.window = window
        self.by_id: dict[int, OpenIncident] = {}
        self.by_dedup: dict[str, int] = {}
        self.by_place: dict[tuple, set[int]] = {}  # (domain, cell) and (domain, area_code) -> recent ids
        self._recent: deque[tuple[datetime, int]] = deque()  # (reported at, id), oldest first

    def load(self, conn: duckdb.DuckDBPyConnection, now: datetime) -> None:
        """(Re)build from the store: open incidents only, one query; places only for those reported lately."""
        self.by_id.clear()
        self.by_dedup.clear()
        self.by_place.clear()
        self._recent.clear()
        rows = conn.execute(
            "SELECT incident_id, domain, dedup_key, area_code, lat, lon, "
            "coalesce(last_report_at, created_at) AS reported, report_count, sources "
            "FROM incidents WHERE status IN (SELECT unnest(?::VARCHAR[])) ORDER BY reported",
            [list(OPEN_STATUSES)],
        ).fetchall()
        recent_from = now - self.window  # older ones are only dedup targets: no place entries
        for r in rows:
            inc = OpenIncident(r[0], r[1], r[2], r[3], r[4], r[5], from_db(r[6]), r[7], list(r[8] or []))
            self.add(inc, place=inc.last_report_at >= recent_from)

    def add(self, inc: OpenIncident, *, place: bool = True) -> None:
        self.by_id[inc.incident_id] = inc
        if inc.dedup_key:
            self.by_dedup[inc.dedup_key] = inc.incident_id
        if place:
            self.touch(inc)

    def touch(self, inc: OpenIncident) -> None:
        """A new report arrived: the incident is (again) a correlation candidate at its place."""
        for key in self._places(inc):
            self.by_place.setdefault(key, set()).add(inc.incident_id)
        self._recent.append((inc.last_report_at, inc.incident_id))

    def discard(self, incident_id: int) -> None:
        inc = self.by_id.pop(incident_id, None)
        if inc is None:
            return
        if inc.dedup_key and self.by_dedup.get(inc.dedup_key) == incident_id:
            del self.by_dedup[inc.dedup_key]
        self._unplace(inc)

    def expire(self, now: datetime) -> None:
        """Forget places of incidents not reported within the window (they stay open and dedupable)."""
        cutoff = now - self.window
        while self._recent and self._recent[0][0] < cutoff:
            _, incident_id = self._recent.popleft()
            inc = self.by_id.get(incident_id)
            if inc is not None and inc.last_report_at < cutoff:
                self._unplace(inc)

    def candidates(self, domain: str, lat: float | None, lon: float | None, area_code: str | None) -> list[OpenIncident]:
        """Recently reported open incidents of the domain nearby or in the same area: what correlation may join."""
        ids: set[int] = set(self.by_place.get((domain, area_code), ())) if area_code else set()
        if lat is not None and lon is not None:
            row, col = cell_of(lat, lon)
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    ids.update(self.by_place.get((domain, (row + dr, col + dc)), ()))
        return [self.by_id[i] for i in ids]

    @staticmethod
    def _places(inc: OpenIncident) -> list[tuple]:
        keys: list[tuple] = [(inc.domain, inc.area_code)]
        if inc.lat is not None and inc.lon is not None:
            keys.append((inc.domain, cell_of(inc.lat, inc.lon)))
        return keys

    def _unplace(self, inc: OpenIncident) -> None:
        for key in self._places(inc):
            bucket = self.by_place.get(key)
            if bucket is not None:
                bucket.discard(inc.incident_id)
                if not bucket:
                    del self.by_place[key]
