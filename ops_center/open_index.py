"""In-memory view of open incidents, so dedup and correlation never scan the incidents table per event."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from ops_center.domains import OPEN_STATUSES
from ops_center.store import from_db


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
    """Open incidents by id and by dedup key; owned by the pipeline, touched only on the writer thread."""

    def __init__(self) -> None:
        self.by_id: dict[int, OpenIncident] = {}
        self.by_dedup: dict[str, int] = {}
        self.by_domain: dict[str, set[int]] = {}

    def load(self, conn: duckdb.DuckDBPyConnection) -> None:
        """(Re)build from the store: open incidents only, one query."""
        self.by_id.clear()
        self.by_dedup.clear()
        self.by_domain.clear()
        rows = conn.execute(
            "SELECT incident_id, domain, dedup_key, area_code, lat, lon, "
            "coalesce(last_report_at, created_at), report_count, sources "
            "FROM incidents WHERE status IN (SELECT unnest(?::VARCHAR[]))",
            [list(OPEN_STATUSES)],
        ).fetchall()
        for r in rows:
            self.add(OpenIncident(r[0], r[1], r[2], r[3], r[4], r[5], from_db(r[6]), r[7], list(r[8] or [])))

    def add(self, inc: OpenIncident) -> None:
        self.by_id[inc.incident_id] = inc
        if inc.dedup_key:
            self.by_dedup[inc.dedup_key] = inc.incident_id
        self.by_domain.setdefault(inc.domain, set()).add(inc.incident_id)

    def discard(self, incident_id: int) -> None:
        inc = self.by_id.pop(incident_id, None)
        if inc is None:
            return
        if inc.dedup_key and self.by_dedup.get(inc.dedup_key) == incident_id:
            del self.by_dedup[inc.dedup_key]
        self.by_domain.get(inc.domain, set()).discard(incident_id)

    def candidates(self, domain: str) -> list[OpenIncident]:
        return [self.by_id[i] for i in self.by_domain.get(domain, ())]
