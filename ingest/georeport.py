"""12345 hotline records: Open311 GeoReport v2 requests (JSON) and CSV exports → Events.

One request becomes one event with natural key `service_request_id`; a later version of it
(`updated_datetime` after `requested_datetime`) becomes `service_request_id@updated_datetime`, so
re-reading the same data creates nothing new while a status change lands on the incident timeline
(the pipeline joins them through `fields['request_id']`; whether an event opens an incident or
updates one is decided there, by what is stored, not here).

Each source may bring its own shape (`sources[].mapping`): column names, date formats, the time
zone of times without an offset, the statuses that mean closed, and a map from its own category
codes to ours. Everything a request carries beyond our columns is kept in `fields['extra']`.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import orjson

from ingest.payloads import (
    INVALID_VALUE,
    MISSING_FIELD,
    WRONG_TYPE,
    Invalid,
    Reject,
    decode_json,
    outside_rule,
    parse_time,
)
from ops_center.core.config import Config, SourceMapping
from ops_center.core.geo import locate
from ops_center.core.model import Event
from ops_center.core.source_mapping import load_category_map

INVALID_ENCODING = "invalid_encoding"
UNSUPPORTED_FILE = "unsupported_file"
MALFORMED_CSV = "malformed_csv"
MAX_TEXT = 4000
MAX_EXTRA = 500  # characters per kept extra value
MAX_EXTRA_FIELDS = 80
# Request fields with a column of their own on the event; anything else goes to fields['extra'].
KEPT = ("status", "status_notes", "service_code", "service_name", "agency_responsible", "media_url",
        "service_notice", "zipcode", "address_id")
USED = frozenset({"service_request_id", "requested_datetime", "updated_datetime", "expected_datetime", "description",
                  "lat", "long", "lon", "address", *KEPT})
DEFAULT_MAPPING = SourceMapping()

# CSV header → GeoReport field. Chinese headers are what 12345 work-order exports typically use.
CSV_COLUMNS = {
    "service_request_id": "service_request_id",
    "requested_datetime": "requested_datetime",
    "updated_datetime": "updated_datetime",
    "status": "status",
    "status_notes": "status_notes",
    "service_code": "service_code",
    "service_name": "service_name",
    "description": "description",
    "address": "address",
    "lat": "lat",
    "long": "long",
    "lon": "long",
    "media_url": "media_url",
    "agency_responsible": "agency_responsible",
    "工单编号": "service_request_id",
    "受理时间": "requested_datetime",
    "更新时间": "updated_datetime",
    "工单状态": "status",
    "办理情况": "status_notes",
    "诉求类别": "service_name",
    "类别编码": "service_code",
    "诉求内容": "description",
    "地址": "address",
    "纬度": "lat",
    "经度": "long",
    "图片": "media_url",
    "承办单位": "agency_responsible",
}
REQUIRED = ("service_request_id", "requested_datetime", "description")


@dataclass(frozen=True, slots=True)
class Parsed:
    """What one document yielded: events, and per-record rejects with the record's raw bytes."""

    events: list[Event]
    rejects: list[tuple[Reject, bytes]]


def _text(record: dict, name: str) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if type(value) is str:  # every CSV cell: the checks below cost as much again, 13 times a row
        return value.strip()[:MAX_TEXT] or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise Invalid(WRONG_TYPE, f"field {name!r} must be a string, got {type(value).__name__}")
    value = value.strip()
    return value[:MAX_TEXT] or None


def _coord(record: dict, name: str) -> float | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise Invalid(WRONG_TYPE, f"field {name!r} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Invalid(WRONG_TYPE, f"field {name!r} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise Invalid(INVALID_VALUE, f"field {name!r} is not finite")
    return number


@lru_cache(maxsize=64)
def _lowered(statuses: tuple[str, ...]) -> frozenset[str]:
    """A mapping's closed statuses, lower-cased once (per record it was a set built again)."""
    return frozenset(s.lower() for s in statuses)


def mapping_for(cfg: Config, source_id: str) -> SourceMapping:
    """The configured mapping of a source (the defaults for one not in config, as in tests)."""
    src = cfg.source(source_id)
    return src.mapping if src is not None else DEFAULT_MAPPING


def parse_source_time(value: object, name: str, tz: ZoneInfo, formats: tuple[str, ...]) -> datetime:
    """ISO 8601 or Unix time first, then the source's own formats; naive times are in the source's zone."""
    try:
        return parse_time(value, name, tz)
    except Invalid:
        if not formats or not isinstance(value, str):
            raise
    text = value.strip()
    for fmt in formats:
        try:
            dt = datetime.strptime(text, fmt)  # noqa: DTZ007 - the zone is applied on the next line
        except ValueError:
            continue
        return (dt if dt.tzinfo is not None else dt.replace(tzinfo=tz)).astimezone(UTC)
    raise Invalid(INVALID_VALUE, f"{name} {value!r} matches neither ISO 8601 nor {', '.join(formats)}")


def _extra(record: dict) -> dict:
    """What the request carries beyond our columns (notes, attributes, a CSV's other columns), bounded."""
    out: dict[str, object] = {}
    for name, value in record.items():
        if name in USED or name.startswith("_") or value is None or value == "" or len(out) >= MAX_EXTRA_FIELDS:
            continue
        if isinstance(value, str):
            value = value[:MAX_EXTRA]
        elif not isinstance(value, (int, float, bool)):
            text = orjson.dumps(value, default=str).decode()
            value = value if len(text) <= MAX_EXTRA * 4 else text[: MAX_EXTRA * 4]
        out[str(name)[:100]] = value
    return out


def record_to_event(
    cfg: Config, registry, source_id: str, record: object, received_at: datetime, origin: str,
    mapping: SourceMapping | None = None,
) -> Event:
    """One GeoReport v2 service request (dict) → Event; raises Invalid with the dead-letter reason."""
    if not isinstance(record, dict):
        raise Invalid(WRONG_TYPE, f"a service request must be an object, got {type(record).__name__}")
    if "_bad_width" in record:
        raise Invalid(MALFORMED_CSV, record["_bad_width"])
    mapping = mapping or mapping_for(cfg, source_id)
    if mapping.columns:
        record = {mapping.columns.get(k, k): v for k, v in record.items()}
    tz = ZoneInfo(mapping.timezone or cfg.site.timezone)
    formats = mapping.date_formats
    request_id = _text(record, "service_request_id")
    if not request_id:
        raise Invalid(MISSING_FIELD, "missing field 'service_request_id'")
    if not record.get("requested_datetime"):
        raise Invalid(MISSING_FIELD, "missing field 'requested_datetime'")
    requested = parse_source_time(record["requested_datetime"], "requested_datetime", tz, formats)
    updated = (parse_source_time(record["updated_datetime"], "updated_datetime", tz, formats)
               if record.get("updated_datetime") else None)
    expected = (parse_source_time(record["expected_datetime"], "expected_datetime", tz, formats)
                if record.get("expected_datetime") else None)
    description = _text(record, "description")
    service_name = _text(record, "service_name")
    if not description and not service_name:
        raise Invalid(MISSING_FIELD, "a request needs 'description' or 'service_name'")
    lat, lon = _coord(record, "lat"), _coord(record, "long" if "long" in record else "lon")
    if (lat is None) != (lon is None):
        raise Invalid(MISSING_FIELD, "'lat' and 'long' come together")
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Invalid(INVALID_VALUE, f"lat/long {lat},{lon} out of range")
    address = _text(record, "address")
    # An update of a known request is its own event (a later natural key) that joins the request's incident.
    natural_key, occurred_at = ((f"{request_id}@{updated.isoformat()}", updated)
                                if updated is not None and updated > requested else (request_id, requested))
    fields: dict = {
        "request_id": request_id,
        "origin": origin,
        "requested_datetime": requested.isoformat(),
    }
    for name in KEPT:
        value = _text(record, name)
        if value:
            fields[name] = value
    if updated is not None:
        fields["updated_datetime"] = updated.isoformat()
    if expected is not None:
        fields["expected_datetime"] = expected.isoformat()
    extra = _extra(record)
    if extra:
        fields["extra"] = extra
    status = (fields.get("status") or "").strip().lower()
    if status and status in _lowered(mapping.closed_statuses):
        fields["closed_at_source"] = True
    if mapping.category_map:
        code, entry = load_category_map(str(cfg.path_of(mapping.category_map))).lookup(record)
        if code is not None:
            fields["source_code"] = code
        if entry is not None:
            fields["mapped"] = {"domain": entry.domain, "category": entry.category, "severity": entry.severity,
                                "name": entry.name or service_name or code}
    area = locate(cfg, registry, lat=lat, lon=lon, address=address)
    if outside_rule(cfg, lat, lon, fields, "lat/long"):
        area = cfg.site.default_area
    return Event(
        source="hotline",
        source_id=source_id,
        natural_key=natural_key,
        occurred_at=occurred_at,
        received_at=received_at,
        text=description or service_name or "",
        category=service_name or _text(record, "service_code"),
        area_code=area,
        lat=lat,
        lon=lon,
        address=address,
        fields=fields,
    )


def parse_records(
    cfg: Config, registry, source_id: str, records: list, received_at: datetime, origin: str,
    mapping: SourceMapping | None = None,
) -> Parsed:
    """Each record on its own: a bad one is rejected, the others still land."""
    mapping = mapping or mapping_for(cfg, source_id)
    events: list[Event] = []
    rejects: list[tuple[Reject, bytes]] = []
    for record in records:
        try:
            events.append(record_to_event(cfg, registry, source_id, record, received_at, origin, mapping))
        except Invalid as exc:
            raw = orjson.dumps(record, default=str)
            rejects.append((Reject(exc.reason, f"{origin}: {exc.detail}"), raw))
    return Parsed(events, rejects)


def load_json_document(raw: bytes) -> list:
    """A GeoReport `requests.json` body: a JSON list of requests (an object wrapping `requests` is accepted)."""
    doc = decode_json(raw, encoding="utf-8-sig", bad_encoding=INVALID_ENCODING)
    if isinstance(doc, dict) and isinstance(doc.get("requests"), list):
        doc = doc["requests"]
    if isinstance(doc, dict) and "service_request_id" in doc:
        doc = [doc]
    if not isinstance(doc, list):
        raise Invalid(WRONG_TYPE, f"expected a list of service requests, got {type(doc).__name__}")
    return doc


def decode_csv(raw: bytes) -> str:
    """UTF-8 (with or without BOM) first, then GBK (as GB18030, its superset)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise Invalid(INVALID_ENCODING, f"neither UTF-8 nor GBK: {exc.reason} at byte {exc.start}") from None


def load_csv_document(raw: bytes, mapping: SourceMapping | None = None) -> list[dict]:
    """CSV rows → GeoReport-shaped dicts, by the documented column names (English or Chinese) or the
    source's own `mapping.columns`; other columns are kept under their own names (as extras)."""
    text = decode_csv(raw)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise Invalid(MISSING_FIELD, "empty CSV: expected a header row") from None
    except csv.Error as exc:
        raise Invalid(MALFORMED_CSV, f"CSV syntax error in header: {exc}") from None
    columns = {**CSV_COLUMNS, **(mapping.columns if mapping else {})}
    names = [columns.get(h.strip(), h.strip()) for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if "description" in missing and "service_name" in names:
        missing.remove("description")
    if missing:
        raise Invalid(MISSING_FIELD, f"CSV header lacks column(s) {', '.join(missing)}; got {header}")
    rows: list[dict] = []
    for cells in _rows(reader):
        if not any(c.strip() for c in cells):
            continue
        record = {name: cell for name, cell in zip(names, cells, strict=False) if name}
        if len(cells) != len(header):
            record["_bad_width"] = f"line {reader.line_num}: expected {len(header)} columns, got {len(cells)}"
        rows.append(record)
    return rows


def _rows(reader) -> Iterator[list[str]]:
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise Invalid(MALFORMED_CSV, f"CSV syntax error on line {reader.line_num}: {exc}") from None


def salvage_records(raw: bytes, max_attempts: int = 20_000) -> list[dict]:
    """The service requests that still parse, one by one, from a broken `requests.json` (cut off,
    one bad record): each top-level `{…}` after the list's `[` that decodes to an object with a
    `service_request_id`."""
    text = raw.decode("utf-8", errors="replace")
    start = text.find("[")
    if start < 0:
        return []
    decoder = json.JSONDecoder()
    out: list[dict] = []
    pos = start + 1
    for _ in range(max_attempts):
        pos = text.find("{", pos)
        if pos < 0:
            break
        try:
            obj, end = decoder.raw_decode(text, pos)
        except ValueError:
            pos += 1  # a broken record: resynchronise on the next object
            continue
        if isinstance(obj, dict) and "service_request_id" in obj:
            out.append(obj)
            pos = end
        else:
            pos += 1
    return out
