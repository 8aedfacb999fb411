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

from ops_center.domains import UNCLASSIFIED
from ops_center.geo import haversine_m
from ops_center.model import Decision, Event

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
               window: timedelta) -> Any:
    """The open incident this event should join, or None: same domain, near in space and time.

    Preference: an incident that does not yet have this source kind (that is what correlation is
    for: the call confirming the sensor), then the nearest, then the most recent. Without
    coordinates on either side, the same area code counts as near (ranked after real distances).
    """
    if decision.domain == UNCLASSIFIED or decision.clears:
        return None
    has_point = event.lat is not None and event.lon is not None
    if has_point:  # a cheap box test first: most candidates fail it, and haversine costs ten times more
        dlat, dlon = _box(distance_m, event.lat)
    best: tuple | None = None
    best_c: Any = None
    for c in candidates:
        view = _View(c) if isinstance(c, Mapping) else c
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
        new_source = event.source not in (view.sources or ())
        rank = (not new_source, distance, -last.timestamp(), int(view.incident_id))
        if best is None or rank < best:
            best, best_c = rank, c
    return best_c


def _box(distance_m: float, lat: float) -> tuple[float, float]:
    """Half-height and half-width in degrees of a box holding every point within distance_m of latitude lat."""
    dlat = distance_m / M_PER_DEG_LAT
    return dlat, dlat / max(0.05, math.cos(math.radians(lat)))


class Places:
    """Recently reported open incidents of each domain by map cell and by area: where correlation looks.

    A cell is `distance_m` tall (as many degrees wide), so a match lies in the few cells the distance
    box touches, at any configured distance. Only incidents reported within the window are placed:
    correlation never joins an older one, so thousands of old open incidents cost nothing per event.
    Entries are the callers' own incident objects (incident_id, domain, lat, lon, area_code,
    last_report_at, sources); `touch` after a report moves last_report_at.
    """

    def __init__(self, distance_m: float, window: timedelta):
        if distance_m <= 0:
            raise ValueError(f"correlation distance must be positive, not {distance_m!r}")
        self.distance_m = distance_m
        self.window = window
        self.cell_deg = distance_m / M_PER_DEG_LAT
        self.by_key: dict[tuple, dict[int, Any]] = {}  # (domain, (row, col)) and (domain, area) -> id -> incident
        self._recent: deque[tuple[datetime, Any]] = deque()  # (reported at, incident), oldest first

    def cell(self, lat: float, lon: float) -> tuple[int, int]:
        return math.floor(lat / self.cell_deg), math.floor(lon / self.cell_deg)

    def touch(self, inc: Any) -> None:
        """(Re)place an incident just created or reported again: a candidate until its report is a window old."""
        for key in self._keys(inc):
            bucket = self.by_key.get(key)
            if bucket is None:
                self.by_key[key] = {inc.incident_id: inc}
            else:
                bucket[inc.incident_id] = inc
        self._recent.append((inc.last_report_at, inc))

    def remove(self, inc: Any) -> None:
        for key in self._keys(inc):
            bucket = self.by_key.get(key)
            if bucket is not None and bucket.pop(inc.incident_id, None) is not None and not bucket:
                del self.by_key[key]

    def expire(self, now: datetime) -> None:
        """Forget incidents not reported within the window of `now` (they may stay open elsewhere)."""
        cutoff = now - self.window
        recent = self._recent
        while recent and recent[0][0] < cutoff:
            _, inc = recent.popleft()
            if inc.last_report_at < cutoff:
                self.remove(inc)

    def clear(self) -> None:
        self.by_key.clear()
        self._recent.clear()

    def candidates(self, domain: str, lat: float | None, lon: float | None, area_code: str | None) -> list:
        """Placed incidents of the domain in the same area or in a cell within the distance box of the point."""
        found: dict[int, Any] = {}
        if area_code:
            found.update(self.by_key.get((domain, area_code), ()))
        if lat is not None and lon is not None:
            dlat, dlon = _box(self.distance_m, lat)
            size = self.cell_deg
            col0 = math.floor((lon - dlon - EDGE_DEG) / size)
            col1 = math.floor((lon + dlon + EDGE_DEG) / size)
            for row in range(math.floor((lat - dlat - EDGE_DEG) / size), math.floor((lat + dlat + EDGE_DEG) / size) + 1):
                for col in range(col0, col1 + 1):
                    bucket = self.by_key.get((domain, (row, col)))
                    if bucket:
                        found.update(bucket)
        return list(found.values())

    def match(self, event: Event, decision: Decision) -> Any:
        """The placed incident the event joins, or None: best_match over the candidates near it."""
        if decision.domain == UNCLASSIFIED or decision.clears:
            return None
        candidates = self.candidates(decision.domain, event.lat, event.lon, event.area_code)
        if not candidates:
            return None
        return best_match(event, decision, candidates, self.distance_m, self.window)

    def _keys(self, inc: Any) -> list[tuple]:
        keys: list[tuple] = [(inc.domain, inc.area_code)] if inc.area_code else []
        if inc.lat is not None and inc.lon is not None:
            keys.append((inc.domain, self.cell(inc.lat, inc.lon)))
        return keys
