"""Validate MQTT payloads into Events; anything wrong becomes a Reject(reason) for the dead-letter table.

Pure functions of (config, registry, topic, raw bytes, received_at): no I/O, no clock, no logging,
so every bad input in tests/data/payloads/ maps to exactly one reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import orjson

from ops_center.core.config import Config
from ops_center.core.devices import DEVICE_KINDS
from ops_center.core.geo import locate, outside_site
from ops_center.core.model import Event
from ops_center.core.plausible import IMPLAUSIBLE_TIME, implausible, plausible_window
from ops_center.core.source_mapping import load_category_map
from ops_center.store.photos import MAX_PHOTOS, is_photo_id

# Dead-letter reasons (docs/ingest.md lists them with examples).
OVERSIZED = "oversized"
INVALID_UTF8 = "invalid_utf8"
MALFORMED_JSON = "malformed_json"
WRONG_TYPE = "wrong_type"
MISSING_FIELD = "missing_field"
INVALID_VALUE = "invalid_value"
BAD_TOPIC = "bad_topic"
UNKNOWN_KIND = "unknown_kind"
UNKNOWN_DEVICE = "unknown_device"
KIND_MISMATCH = "kind_mismatch"
UNKNOWN_GRID = "unknown_grid"
TOO_DEEP = "too_deep"
TOO_MANY_FIELDS = "too_many_fields"
OUTSIDE_AREA = "outside_area"
REASONS = (
    OVERSIZED,
    INVALID_UTF8,
    MALFORMED_JSON,
    WRONG_TYPE,
    MISSING_FIELD,
    INVALID_VALUE,
    BAD_TOPIC,
    UNKNOWN_KIND,
    UNKNOWN_DEVICE,
    KIND_MISMATCH,
    UNKNOWN_GRID,
    TOO_DEEP,
    TOO_MANY_FIELDS,
    IMPLAUSIBLE_TIME,
    OUTSIDE_AREA,
)
SENSOR_KINDS = DEVICE_KINDS
MAX_TEXT = 4000  # characters of free text kept from a report
SENSOR_FIELDS = ("ts", "value", "metric", "event", "battery")
# Fields the pipeline reads as our own verdicts: a vendor payload may not set them.
RESERVED_FIELDS = ("mapped", "source_code", "outside_area")


@dataclass(frozen=True, slots=True)
class Reject:
    """Why an input could not become an event."""

    reason: str
    detail: str = ""


class Invalid(ValueError):
    """Raised inside the validators; carries the dead-letter reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def decode_json(raw: bytes, *, encoding: str = "utf-8", bad_encoding: str = INVALID_UTF8) -> object:
    """Bytes → any JSON value; a bad encoding or bad syntax is an Invalid with the dead-letter reason."""
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise Invalid(bad_encoding, f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise Invalid(MALFORMED_JSON, f"not JSON: {exc}") from None


def decode_object(raw: bytes, max_bytes: int, *, max_depth: int = 8, max_fields: int = 64) -> dict:
    """Bytes → JSON object, checking size, UTF-8, syntax, then shape, in that order."""
    if len(raw) > max_bytes:
        raise Invalid(OVERSIZED, f"payload is {len(raw)} bytes, limit {max_bytes}")
    data = decode_json(raw)
    if not isinstance(data, dict):
        raise Invalid(WRONG_TYPE, f"payload must be a JSON object, got {type(data).__name__}")
    check_shape(data, max_depth, max_fields)
    return data


def check_shape(data: dict, max_depth: int, max_fields: int) -> None:
    """Bound nesting and width, so a 1 KB payload cannot blow a recursion limit or a row downstream."""
    if len(data) > max_fields:
        raise Invalid(TOO_MANY_FIELDS, f"payload has {len(data)} fields, limit {max_fields}")
    stack: list[tuple[object, int]] = [(data, 1)]  # iterative: the check itself must not recurse
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            raise Invalid(TOO_DEEP, f"payload nests deeper than {max_depth} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def _check_time(cfg: Config, occurred_at: datetime, received_at: datetime) -> None:
    reason = implausible(occurred_at, received_at, *plausible_window(cfg))
    if reason:
        raise Invalid(IMPLAUSIBLE_TIME, reason)


def _decode(cfg: Config, raw: bytes) -> dict:
    mqtt = cfg.mqtt
    return decode_object(raw, mqtt.max_payload_bytes, max_depth=mqtt.max_payload_depth,
                         max_fields=mqtt.max_payload_fields)


def parse_time(value: object, name: str, tz: ZoneInfo) -> datetime:
    """ISO 8601 (naive means site local time) or Unix seconds/milliseconds → aware UTC datetime."""
    if isinstance(value, bool):
        raise Invalid(WRONG_TYPE, f"{name} must be an ISO 8601 string or a Unix time, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value <= 0:
            raise Invalid(INVALID_VALUE, f"{name} {value!r} is not a valid Unix time")
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise Invalid(INVALID_VALUE, f"{name} {value!r} is out of range") from None
    if not isinstance(value, str):
        raise Invalid(WRONG_TYPE, f"{name} must be an ISO 8601 string or a Unix time, got {type(value).__name__}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(INVALID_VALUE, f"{name} {value!r} is not an ISO 8601 time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    try:
        return dt.astimezone(UTC)
    except (OverflowError, ValueError):  # year 1 at +08:00 is year 0 in UTC
        raise Invalid(IMPLAUSIBLE_TIME, f"{name} {value!r} is outside the representable range") from None


def _get(data: Mapping, name: str, types: type | tuple[type, ...], *, required: bool = False) -> object:
    value = data.get(name)
    if value is None:
        if required:
            raise Invalid(MISSING_FIELD, f"missing field {name!r}")
        return None
    # bool is an int in Python but never a valid number here
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise Invalid(WRONG_TYPE, f"field {name!r} must be {_names(types)}, got bool")
    if not isinstance(value, types):
        raise Invalid(WRONG_TYPE, f"field {name!r} must be {_names(types)}, got {type(value).__name__}")
    return value


def _names(types: type | tuple[type, ...]) -> str:
    names = {int: "number", float: "number", str: "string", bool: "boolean"}
    items = types if isinstance(types, tuple) else (types,)
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in items))


def _number(data: Mapping, name: str) -> float | None:
    raw = _get(data, name, (int, float))
    if not isinstance(raw, int | float):  # absent: _get refused every other type
        return None
    value = float(raw)
    if not math.isfinite(value):
        raise Invalid(INVALID_VALUE, f"field {name!r} is not a finite number")
    return value


def _text(data: Mapping, name: str, *, required: bool = False) -> str | None:
    value = _get(data, name, str, required=required)
    if not isinstance(value, str):  # absent: _get refused every other type
        return None
    if required and not value.strip():
        raise Invalid(MISSING_FIELD, f"field {name!r} is empty")
    return value[:MAX_TEXT]


def _site_tz(cfg: Config) -> ZoneInfo:
    return ZoneInfo(cfg.site.timezone)


def outside_rule(cfg: Config, lat: float | None, lon: float | None, fields: dict, label: str = "lat/lon") -> bool:
    """`areas.outside` for a reported point outside the site: raise the dead letter, or mark the
    fields and return True (the caller files the event under `site.default_area`)."""
    if lat is None or lon is None or not outside_site(cfg, lat, lon):
        return False
    if cfg.areas.outside == "dead_letter":
        raise Invalid(OUTSIDE_AREA, f"{label} {lat},{lon} is outside the site")
    fields["outside_area"] = True
    return True


def topic_parts(prefix: str, topic: str) -> list[str]:
    """The topic's levels after the configured prefix (which may itself contain slashes)."""
    head = prefix.strip("/") + "/"
    if not topic.startswith(head):
        raise Invalid(BAD_TOPIC, f"topic {topic!r} is not under {head!r}")
    return topic[len(head) :].split("/")


def parse_sensor(cfg: Config, registry, source_id: str, topic: str, raw: bytes, received_at: datetime) -> Event:
    """`<prefix>/sensor/<kind>/<device_id>` + `{ts, value?, metric?, event?, battery?}` → Event."""
    parts = topic_parts(cfg.mqtt.topic_prefix, topic)
    if len(parts) != 3 or parts[0] != "sensor" or not parts[1] or not parts[2]:
        raise Invalid(BAD_TOPIC, f"expected <prefix>/sensor/<kind>/<device_id>, got {topic!r}")
    kind, device_id = parts[1], parts[2]
    if kind not in SENSOR_KINDS:
        raise Invalid(UNKNOWN_KIND, f"unknown sensor kind {kind!r}")
    data = _decode(cfg, raw)
    if data.get("ts") is None:
        raise Invalid(MISSING_FIELD, "missing field 'ts'")
    occurred_at = parse_time(data["ts"], "ts", _site_tz(cfg))
    _check_time(cfg, occurred_at, received_at)
    value = _number(data, "value")
    metric = _text(data, "metric")
    event = _text(data, "event")
    battery = _number(data, "battery")
    if value is None and event is None:
        raise Invalid(MISSING_FIELD, "a sensor message needs 'value' or 'event'")
    if battery is not None and not 0 <= battery <= 100:
        raise Invalid(INVALID_VALUE, f"battery {battery} is outside 0..100")
    device = registry.get(device_id) if registry is not None else None
    if device is None:
        raise Invalid(UNKNOWN_DEVICE, f"device {device_id!r} is not registered")
    if device.kind != kind:
        raise Invalid(KIND_MISMATCH, f"device {device_id} is registered as {device.kind!r}, topic says {kind!r}")
    if value is not None and metric is None:
        metric = kind
    area = locate(cfg, registry, device_id=device_id)
    fields = {"lone_elder": device.lone_elder, "building": device.building}
    if battery is not None:
        fields["battery"] = battery
    for key, item in data.items():  # keep vendor extras, they are evidence
        if key not in SENSOR_FIELDS and key not in RESERVED_FIELDS and key not in fields:
            fields[key] = item
    if event is not None and event != "restore":
        _map_vendor_code(cfg, source_id, data, fields)
    return Event(
        source="sensor",
        source_id=source_id,
        natural_key=f"{device_id}|{occurred_at.isoformat()}|{event or metric}",
        occurred_at=occurred_at,
        received_at=received_at,
        kind=kind,
        device_id=device_id,
        metric=metric,
        value=value,
        event=event,
        area_code=area,
        lat=device.lat,
        lon=device.lon,
        address=device.address or None,
        fields=fields,
    )


def _map_vendor_code(cfg: Config, source_id: str, data: dict, fields: dict) -> None:
    """A sensor vendor's own alarm code, looked up in the source's category map (docs/ingest.md)."""
    src = cfg.source(source_id)
    if src is None or src.kind != "mqtt_sensor" or not src.mapping.category_map:
        return
    code, entry = load_category_map(str(cfg.path_of(src.mapping.category_map))).lookup(data)
    if code is None:
        return
    fields["source_code"] = code[:MAX_TEXT]
    if entry is not None:
        fields["mapped"] = {"domain": entry.domain, "category": entry.category, "severity": entry.severity,
                            "name": entry.name or code}


def parse_grid(cfg: Config, registry, source_id: str, topic: str, raw: bytes, received_at: datetime) -> Event:
    """`<prefix>/grid/<grid_code>/report` + `{report_id, reporter, category?, text, lat?, lon?, photo_url?, photos?, ts}`.

    `photos` lists ids of photos the center already stores (the phone screen uploads them first)."""
    parts = topic_parts(cfg.mqtt.topic_prefix, topic)
    if len(parts) != 3 or parts[0] != "grid" or parts[2] != "report" or not parts[1]:
        raise Invalid(BAD_TOPIC, f"expected <prefix>/grid/<grid_code>/report, got {topic!r}")
    grid_code = parts[1]
    data = _decode(cfg, raw)
    report_id = _get(data, "report_id", (str, int), required=True)
    report_id = str(report_id).strip()
    if not report_id:
        raise Invalid(MISSING_FIELD, "field 'report_id' is empty")
    reporter = _text(data, "reporter", required=True)
    text = _text(data, "text", required=True)
    if "ts" not in data or data["ts"] is None:
        raise Invalid(MISSING_FIELD, "missing field 'ts'")
    occurred_at = parse_time(data["ts"], "ts", _site_tz(cfg))
    _check_time(cfg, occurred_at, received_at)
    category = _text(data, "category")
    photo_url = _text(data, "photo_url")
    photos = _photo_ids(data)
    lat, lon = _number(data, "lat"), _number(data, "lon")
    if (lat is None) != (lon is None):
        raise Invalid(MISSING_FIELD, "'lat' and 'lon' come together")
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Invalid(INVALID_VALUE, f"lat/lon {lat},{lon} out of range")
    if grid_code not in cfg.area_by_code:
        raise Invalid(UNKNOWN_GRID, f"grid code {grid_code!r} is not a configured area")
    area = locate(cfg, registry, grid_code=grid_code)
    fields: dict[str, object] = {"reporter": reporter, "grid_code": grid_code,
                                 "position": "reported" if lat is not None else "grid_centroid"}
    if outside_rule(cfg, lat, lon, fields):
        area = cfg.site.default_area
    if lat is None:
        lat, lon = cfg.area_by_code[grid_code].centroid
    if photo_url:
        fields["photo_url"] = photo_url
    if photos:
        fields["photos"] = photos
    return Event(
        source="grid",
        source_id=source_id,
        natural_key=report_id,
        occurred_at=occurred_at,
        received_at=received_at,
        text=text or "",
        category=category,
        area_code=area,
        lat=lat,
        lon=lon,
        fields=fields,
    )


def _photo_ids(data: Mapping) -> list[str]:
    """Optional `photos`: at most MAX_PHOTOS stored photo ids (`<sha256>.<jpg|png|webp>`)."""
    value = data.get("photos")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid(WRONG_TYPE, "field 'photos' must be a list of photo ids")
    if len(value) > MAX_PHOTOS:
        raise Invalid(INVALID_VALUE, f"field 'photos' has {len(value)} ids, at most {MAX_PHOTOS}")
    bad = next((v for v in value if not is_photo_id(v)), None)
    if bad is not None:
        raise Invalid(INVALID_VALUE, f"{bad[:80]!r} is not a photo id")
    return list(dict.fromkeys(value))


def truncate(raw: bytes, limit: int = 200) -> str:
    """A log-safe preview of a payload: never the whole thing, never a decode error."""
    text = raw[:limit].decode("utf-8", errors="backslashreplace")
    return text + (f"… (+{len(raw) - limit} bytes)" if len(raw) > limit else "")
