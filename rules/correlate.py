"""Cross-source correlation: a sensor alarm, a 12345 call and a grid report of one event become one incident."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ops_center.core.domains import UNCLASSIFIED
from ops_center.core.model import Decision, Event

EARTH_RADIUS_M = 6_371_008.8


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


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres; plenty accurate at street scale."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


class _View:
    """Attribute access to a dict candidate, so the loop below reads every kind the same way."""

    __slots__ = ("_d",)

    def __init__(self, d: Mapping):
        self._d = d

    def __getattr__(self, key: str) -> Any:
        return self._d.get(key)


def find_match(event: Event, decision: Decision, candidates: Iterable[Any], distance_m: float,
               window: timedelta) -> int | None:
    """The open incident this event should join, or None: same domain, near in space and time.

    Preference: an incident that does not yet have this source kind (that is what correlation is
    for: the call confirming the sensor), then the nearest, then the most recent. Without
    coordinates on either side, the same area code counts as near (ranked after real distances).
    """
    if decision.domain == UNCLASSIFIED or decision.clears:
        return None
    has_point = event.lat is not None and event.lon is not None
    if has_point:  # a cheap box test first: most candidates fail it, and haversine costs ten times more
        dlat = distance_m / 111_000.0
        dlon = dlat / max(0.05, math.cos(math.radians(event.lat)))
    best: tuple | None = None
    best_id: int | None = None
    for c in candidates:
        if isinstance(c, Mapping):
            c = _View(c)
        if c.domain != decision.domain:
            continue
        last = c.last_report_at
        if last is None:
            continue
        if last.tzinfo is None:
            last = last.replace(tzinfo=UTC)  # the store hands back naive UTC
        if abs(event.occurred_at - last) > window:
            continue
        lat, lon = c.lat, c.lon
        if has_point and lat is not None and lon is not None:
            if abs(lat - event.lat) > dlat or abs(lon - event.lon) > dlon:
                continue
            distance = haversine_m(event.lat, event.lon, lat, lon)
            if distance > distance_m:
                continue
        elif event.area_code and getattr(c, "area_code", None) == event.area_code:
            distance = distance_m  # same area, unknown distance: after every located match
        else:
            continue
        new_source = event.source not in (c.sources or ())
        rank = (not new_source, distance, -last.timestamp())
        if best is None or rank < best:
            best, best_id = rank, int(c.incident_id)
    return best_id
