"""In-memory view of open incidents, so dedup and correlation never scan the incidents table per event."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb

from ops_center.core.domains import OPEN_STATUSES
from ops_center.core.model import Decision, Event
from ops_center.store.store import from_db
from rules.correlate import Places


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


class OpenIndex:
    """Open incidents by id and dedup key, and the recently reported ones by place (rules.correlate.Places).

    Correlation only ever joins an incident reported within the correlation window, so the places
    hold just those. Owned by the pipeline and touched only on the writer thread.
    """

    def __init__(self, window: timedelta, distance_m: float) -> None:
        self.window = window
        self.by_id: dict[int, OpenIncident] = {}
        self.by_dedup: dict[str, int] = {}
        self.places = Places(distance_m, window)

    def load(self, conn: duckdb.DuckDBPyConnection, now: datetime) -> None:
        """(Re)build from the store: open incidents only, one query; places only for those reported lately."""
        self.by_id.clear()
        self.by_dedup.clear()
        self.places.clear()
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
        if not place and not inc.dedup_key:
            # Nothing could ever find it (no key for a repeat, no place for correlation): a 100,000-row export
            # of old requests kept ~20 MB of these for the next reload to drop.
            return
        self.by_id[inc.incident_id] = inc
        if inc.dedup_key:
            self.by_dedup[inc.dedup_key] = inc.incident_id
        if place:
            self.touch(inc)

    def touch(self, inc: OpenIncident) -> None:
        """A new report arrived: the incident is (again) a correlation candidate at its place."""
        self.places.touch(inc)

    def discard(self, incident_id: int) -> None:
        inc = self.by_id.pop(incident_id, None)
        if inc is None:
            return
        if inc.dedup_key and self.by_dedup.get(inc.dedup_key) == incident_id:
            del self.by_dedup[inc.dedup_key]
        self.places.remove(inc)

    def expire(self, now: datetime) -> None:
        """Forget places of incidents not reported within the window (they stay open and dedupable)."""
        self.places.expire(now)

    def match(self, event: Event, decision: Decision) -> OpenIncident | None:
        """The open incident correlation joins the event to, or None (rules.correlate, as the backtest asks)."""
        return self.places.match(event, decision)
