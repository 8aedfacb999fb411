"""Cross-source correlation: a sensor alarm, a 12345 call and a grid report of one event become one incident.

The one implementation, live and in the backtest: `Places` holds the recently reported open incidents
(the pipeline's OpenIndex keeps its own in one, the backtest its would-be incidents) and `Places.match`
asks `find_match`, which decides and ranks.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ops_center.core.domains import UNCLASSIFIED
from ops_center.core.geo import haversine_m
from ops_center.core.model import Decision, Event

__all__ = ["Candidate", "Places", "Reported", "find_match", "best_match", "haversine_m"]

M_PER_DEG_LAT = 111_000.0  # a little under the true 111,195 m: boxes in degrees err on the wide side
EDGE_DEG = 1e-9  # widens the searched cell range a hair, so float rounding at a cell edge never drops a candidate


@dataclass(frozen=True, slots=True)
class Candidate:
    """An open incident as correlation needs it (the pipeline may pass dicts with the same keys)."""

    incident_id: int
    domain: str
    lat: float | None
    lon: float | None
    last_report_at: datetime
    sources: tuple[str, ...] = ()
    area_code: str | None = None


@dataclass(slots=True)
class Reported:
    """A (would-be) open incident that reports keep alive: what the backtest keeps in its Places."""

    incident_id: int
    domain: str
    lat: float | None
    lon: float | None
    area_code: str | None
    last_report_at: datetime
    sources: list[str]


class _View:
    """Attribute access to a dict candidate, so the loop below reads every kind the same way."""

    __slots__ = ("_d",)

    def __init__(self, d: Mapping):
        self._d = d

    def __getattr__(self, key: str) -> Any:
        return self._d.get(key)


def find_match(event: Event, decision: Decision, candidates: Iterable[Any], distance_m: float,
               window: timedelta) -> int | None:
    """The id of the open incident this event should join, or None (see best_match)."""
    best = best_match(event, decision, candidates, distance_m, window)
    if best is None:
        return None
    return int(best["incident_id"] if isinstance(best, Mapping) else best.incident_id)


def best_match(event: Event, decision: Decision, candidates: Iterable[Any], distance_m: float,
               window: timedelta, box: tuple[float, float] | None = None) -> Any:
    """The open incident this event should join, or None: same domain, near in space and time.

    Preference: an incident that does not yet have this source kind (that is what correlation is
    for: the call confirming the sensor), then the nearest, then the most recent. Without
    coordinates on either side, the same area code counts as near (ranked after real distances).
    `box` is _box(distance_m, event.lat) when the caller has it already.
    """
    if decision.domain == UNCLASSIFIED or decision.clears:
        return None
    has_point = event.lat is not None and event.lon is not None
    if has_point:  # a cheap box test first: most candidates fail it, and haversine costs ten times more
        dlat, dlon = box or _box(distance_m, event.lat)
    best: tuple | None = None
    best_c: Any = None
    for c in candidates:
        view = _View(c) if isinstance(c, dict) else c
        if view.domain != decision.domain:
            continue
        last = view.last_report_at
        if last is None:
            continue
        if last.tzinfo is None:
            last = last.replace(tzinfo=UTC)  # the store hands back naive UTC
        if abs(event.occurred_at - last) > window:
            continue
        lat, lon = view.lat, view.lon
        if has_point and lat is not None and lon is not None:
            if abs(lat - event.lat) > dlat or abs(lon - event.lon) > dlon:
                continue
            distance = haversine_m(event.lat, event.lon, lat, lon)
            if distance > distance_m:
                continue
        elif event.area_code and getattr(view, "area_code", None) == event.area_code:
            distance = distance_m  # same area, unknown distance: after every located match
        else:
            continue
        rank = (event.source in (view.sources or ()), distance, -last.timestamp(), int(view.incident_id))
        if best is None or rank < best:
            best, best_c = rank, c
    return best_c


def _box(distance_m: float, lat: float) -> tuple[float, float]:
    """Half-height and half-width in degrees of a box holding every point within distance_m of latitude lat."""
    dlat = distance_m / M_PER_DEG_LAT
    return dlat, dlat / max(0.05, math.cos(math.radians(lat)))


class Places:
    """Recently reported open incidents of each domain by map cell and by area: where correlation looks.

    A cell is twice the distance tall (as many degrees wide), so a match lies in the 2 × 2 or 2 × 3
    cells the distance box touches, at any configured distance. Only incidents reported within the
    window are placed: correlation never joins an older one, so thousands of old open incidents cost
    nothing per event. Entries are the callers' own incident objects (incident_id, domain, lat, lon,
    area_code, last_report_at, sources); `touch` after a report moves last_report_at.
    """

    def __init__(self, distance_m: float, window: timedelta):
        if distance_m <= 0:
            raise ValueError(f"correlation distance must be positive, not {distance_m!r}")
        self.distance_m = distance_m
        self.window = window
        self.dlat = distance_m / M_PER_DEG_LAT
        self.cells_per_deg = M_PER_DEG_LAT / (2 * distance_m)
        # domain -> row -> column -> id -> incident; nested, so a lookup builds no key tuples (hot path)
        self.cells: dict[str, dict[int, dict[int, dict[int, Any]]]] = {}
        # domain -> area code -> id -> incident: every incident (what an event without a point may join),
        # and those without a point (what a located event may join besides its cells: best_match's area rule)
        self.areas: dict[str, dict[str, dict[int, Any]]] = {}
        self.unlocated: dict[str, dict[str, dict[int, Any]]] = {}
        self._recent: deque[tuple[datetime, Any]] = deque()  # (reported at, incident), oldest first

    def cell(self, lat: float, lon: float) -> tuple[int, int]:
        return math.floor(lat * self.cells_per_deg), math.floor(lon * self.cells_per_deg)

    def touch(self, inc: Any) -> None:
        """(Re)place an incident just created or reported again: a candidate until its report is a window old."""
        incident_id = inc.incident_id
        for bucket in self._buckets(inc):
            bucket[incident_id] = inc
        self._recent.append((inc.last_report_at, inc))

    def remove(self, inc: Any) -> None:
        """Take an incident out (it closed, or its last report is a window old); empty buckets go too."""
        located = inc.lat is not None and inc.lon is not None
        if inc.area_code:
            for index in (self.areas, self.unlocated) if not located else (self.areas,):
                by_area = index.get(inc.domain)
                bucket = by_area.get(inc.area_code) if by_area else None
                if bucket is not None and bucket.pop(inc.incident_id, None) is not None and not bucket:
                    del by_area[inc.area_code]
        if located:
            row, col = self.cell(inc.lat, inc.lon)
            rows = self.cells.get(inc.domain)
            cols = rows.get(row) if rows else None
            bucket = cols.get(col) if cols else None
            if bucket is not None and bucket.pop(inc.incident_id, None) is not None and not bucket:
                del cols[col]
                if not cols:
                    del rows[row]

    def expire(self, now: datetime) -> None:
        """Forget incidents not reported within the window of `now` (they may stay open elsewhere).

        Only a saving: best_match checks the window itself, so an entry kept a little longer changes nothing.
        """
        cutoff = now - self.window
        recent = self._recent
        while recent and recent[0][0] < cutoff:
            _, inc = recent.popleft()
            if inc.last_report_at < cutoff:
                self.remove(inc)

    def clear(self) -> None:
        self.cells.clear()
        self.areas.clear()
        self.unlocated.clear()
        self._recent.clear()

    def candidates(self, domain: str, lat: float | None, lon: float | None, area_code: str | None) -> list:
        """What best_match may pick for an event here: without a point, every incident of its area; with one,
        those in the cells its distance box touches and the area's incidents without a point (no duplicates)."""
        if lat is None or lon is None:
            by_area = self.areas.get(domain) if area_code else None
            bucket = by_area.get(area_code) if by_area else None
            return list(bucket.values()) if bucket else []
        found: list = []
        by_area = self.unlocated.get(domain) if area_code else None
        bucket = by_area.get(area_code) if by_area else None
        if bucket:
            found.extend(bucket.values())
        rows = self.cells.get(domain)
        if rows:
            dlat = self.dlat  # _box, inlined (hot)
            dlon = dlat / max(0.05, math.cos(math.radians(lat)))
            per = self.cells_per_deg
            col0, col1 = math.floor((lon - dlon - EDGE_DEG) * per), math.floor((lon + dlon + EDGE_DEG) * per)
            for row in range(math.floor((lat - dlat - EDGE_DEG) * per), math.floor((lat + dlat + EDGE_DEG) * per) + 1):
                cols = rows.get(row)
                if cols:
                    for col in range(col0, col1 + 1):
                        bucket = cols.get(col)
                        if bucket:
                            found.extend(bucket.values())
        return found

    def match(self, event: Event, decision: Decision) -> Any:
        """The placed incident the event joins, or None: best_match over the candidates near it."""
        if decision.domain == UNCLASSIFIED or decision.clears:
            return None
        candidates = self.candidates(decision.domain, event.lat, event.lon, event.area_code)
        if not candidates:
            return None
        box = None if event.lat is None or event.lon is None else _box(self.distance_m, event.lat)
        return best_match(event, decision, candidates, self.distance_m, self.window, box)

    def _buckets(self, inc: Any) -> list[dict[int, Any]]:
        """The area and cell buckets an incident belongs in, made on first use."""
        located = inc.lat is not None and inc.lon is not None
        out = []
        if inc.area_code:
            for index in (self.areas, self.unlocated) if not located else (self.areas,):
                by_area = index.get(inc.domain)
                if by_area is None:
                    by_area = index[inc.domain] = {}
                bucket = by_area.get(inc.area_code)
                if bucket is None:
                    bucket = by_area[inc.area_code] = {}
                out.append(bucket)
        if located:
            row, col = self.cell(inc.lat, inc.lon)
            rows = self.cells.get(inc.domain)
            if rows is None:
                rows = self.cells[inc.domain] = {}
            cols = rows.get(row)
            if cols is None:
                cols = rows[row] = {}
            bucket = cols.get(col)
            if bucket is None:
                bucket = cols[col] = {}
            out.append(bucket)
        return out
