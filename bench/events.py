"""Real-looking `Event`s for benches: synthetic history read back from a cached store."""

from __future__ import annotations

import json
from datetime import UTC

import duckdb

from bench.common import dataset


def stored_events(n: int, *, offset: int = 0):
    """The first n stored events of a cached synthetic store, as pipeline `Event`s (ordered by time)."""
    from ops_center.core.model import Event

    size = 20_000 if n <= 20_000 else 1_000_000 if n <= 1_200_000 else 10_000_000
    path = dataset(size)
    conn = duckdb.connect(str(path), read_only=True)
    try:
        df = conn.execute(
            "SELECT source, source_id, natural_key, occurred_at, received_at, kind, device_id, metric, value, event, "
            "text, category, area_code, lat, lon, address, fields FROM events ORDER BY event_id LIMIT ? OFFSET ?",
            [n, offset]).df()
    finally:
        conn.close()
    out = []
    for r in df.itertuples(index=False):
        out.append(Event(
            source=r.source, source_id=r.source_id, natural_key=r.natural_key,
            occurred_at=r.occurred_at.to_pydatetime().replace(tzinfo=UTC),
            received_at=r.received_at.to_pydatetime().replace(tzinfo=UTC),
            kind=_s(r.kind), device_id=_s(r.device_id), metric=_s(r.metric),
            value=None if r.value != r.value else float(r.value), event=_s(r.event), text=r.text or "",
            category=_s(r.category), area_code=_s(r.area_code), lat=r.lat, lon=r.lon, address=_s(r.address),
            fields=json.loads(r.fields) if isinstance(r.fields, str) else {},
        ))
    return out


def _s(value):
    return value if isinstance(value, str) else None
