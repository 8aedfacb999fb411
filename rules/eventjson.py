"""Build an Event from a loose JSON object (classify/explain input, bench, tests), filling gaps."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ops_center.core.domains import SOURCE_KINDS
from ops_center.core.model import Event

_ATTRS = ("kind", "device_id", "metric", "event", "category", "area_code", "address")
_KNOWN = set(_ATTRS) | {"source", "source_id", "natural_key", "text", "value", "lat", "lon", "ts",
                        "occurred_at", "received_at", "fields"}
DEFAULT_SOURCE_IDS = {"sensor": "mqtt_sensors", "grid": "mqtt_grid", "hotline": "hotline_drop", "system": "system"}


class EventInputError(ValueError):
    """The JSON object cannot be an Event; the message says which key is wrong."""


def _time(value: Any, key: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise EventInputError(f"{key}: not an ISO time or epoch seconds: {value!r}") from None
        if dt.tzinfo is None:
            raise EventInputError(f"{key}: time {value!r} has no timezone offset")
        return dt
    raise EventInputError(f"{key}: expected ISO time or epoch seconds, got {value!r}")


def event_time(value: Any) -> datetime:
    """An aware datetime from ISO text (with offset) or epoch seconds; raises EventInputError."""
    dt = _time(value, "time")
    if dt is None:
        raise EventInputError("time: missing")
    return dt


def _number(value: Any, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise EventInputError(f"{key}: expected a number, got {value!r}") from None
    return float(value)


def event_from_dict(obj: Any, now: datetime, line: int | None = None) -> Event:
    """`{"source": "hotline", "text": …}` or a sensor reading → Event; unknown keys go to fields."""
    if not isinstance(obj, Mapping):
        raise EventInputError("expected a JSON object")
    source = obj.get("source", "hotline" if obj.get("text") else None)
    if source not in SOURCE_KINDS:
        raise EventInputError(f"source: expected one of {', '.join(SOURCE_KINDS)}, got {source!r}")
    text = obj.get("text") or ""
    if not isinstance(text, str):
        raise EventInputError(f"text: expected a string, got {text!r}")
    occurred = _time(obj.get("occurred_at", obj.get("ts")), "ts") or now
    received = _time(obj.get("received_at"), "received_at") or occurred
    fields = dict(obj.get("fields") or {})
    fields.update({k: v for k, v in obj.items() if k not in _KNOWN})
    attrs = {k: (None if obj.get(k) is None else str(obj.get(k))) for k in _ATTRS}
    natural_key = obj.get("natural_key")
    if natural_key is None:
        basis = f"{source}|{attrs['device_id']}|{occurred.isoformat()}|{text}|{line}"
        natural_key = "cli-" + hashlib.sha1(basis.encode()).hexdigest()[:16]
    return Event(
        source=source, source_id=str(obj.get("source_id") or DEFAULT_SOURCE_IDS[source]),
        natural_key=str(natural_key), occurred_at=occurred, received_at=received,
        value=_number(obj.get("value"), "value"), text=text,
        lat=_number(obj.get("lat"), "lat"), lon=_number(obj.get("lon"), "lon"), fields=fields, **attrs,
    )


def decision_dict(d: Any) -> dict[str, Any]:
    """A Decision as plain JSON-able data (classify output, admin page)."""
    return {
        "domain": d.domain, "category": d.category, "severity": d.severity, "rule_id": d.rule_id,
        "level": d.level, "department": d.department, "title": d.title, "dedup_key": d.dedup_key,
        "dedup_window_s": d.dedup_window.total_seconds() if d.dedup_window is not None else None,
        "notify_domains": list(d.notify_domains), "amplified_by": list(d.amplified_by), "clears": d.clears,
    }
