"""12345 hotline records: Open311 GeoReport v2 requests (JSON) and CSV exports → Events.

One request becomes one event with natural key `service_request_id`; a later version of it
(`updated_datetime` after `requested_datetime`) becomes `service_request_id@updated_datetime`, so
re-reading the same data creates nothing new while a status change lands on the incident timeline
(the pipeline joins them through `fields['request_id']`).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson

from ingest.payloads import (
    INVALID_VALUE,
    MISSING_FIELD,
    WRONG_TYPE,
    Invalid,
    Reject,
    decode_json,
    parse_time,
)
from ops_center.config import Config
from ops_center.geo import locate
from ops_center.model import Event

INVALID_ENCODING = "invalid_encoding"
UNSUPPORTED_FILE = "unsupported_file"
MALFORMED_CSV = "malformed_csv"
MAX_TEXT = 4000

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


def record_to_event(
    cfg: Config, registry, source_id: str, record: object, received_at: datetime, origin: str
) -> Event:
    """One GeoReport v2 service request (dict) → Event; raises Invalid with the dead-letter reason."""
    if not isinstance(record, dict):
        raise Invalid(WRONG_TYPE, f"a service request must be an object, got {type(record).__name__}")
    if "_bad_width" in record:
        raise Invalid(MALFORMED_CSV, record["_bad_width"])
    tz = ZoneInfo(cfg.site.timezone)
    request_id = _text(record, "service_request_id")
    if not request_id:
        raise Invalid(MISSING_FIELD, "missing field 'service_request_id'")
    if not record.get("requested_datetime"):
        raise Invalid(MISSING_FIELD, "missing field 'requested_datetime'")
    requested = parse_time(record["requested_datetime"], "requested_datetime", tz)
    updated = parse_time(record["updated_datetime"], "updated_datetime", tz) if record.get("updated_datetime") else None
    description = _text(record, "description")
    service_name = _text(record, "service_name")
    if not description and not service_name:
        raise Invalid(MISSING_FIELD, "a request needs 'description' or 'service_name'")
    lat, lon = _coord(record, "lat"), _coord(record, "long")
    if (lat is None) != (lon is None):
        raise Invalid(MISSING_FIELD, "'lat' and 'long' come together")
    if lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Invalid(INVALID_VALUE, f"lat/long {lat},{lon} out of range")
    address = _text(record, "address")
    is_update = updated is not None and updated > requested
    fields = {
        "request_id": request_id,
        "origin": origin,
        "requested_datetime": requested.isoformat(),
    }
    for name in ("status", "status_notes", "service_code", "service_name", "agency_responsible", "media_url"):
        value = _text(record, name)
        if value:
            fields[name] = value
    if updated is not None:
        fields["updated_datetime"] = updated.isoformat()
    return Event(
        source="hotline",
        source_id=source_id,
        natural_key=f"{request_id}@{updated.isoformat()}" if is_update else request_id,
        occurred_at=updated if is_update else requested,
        received_at=received_at,
        event="update" if is_update else None,
        text=description or service_name or "",
        category=service_name or _text(record, "service_code"),
        area_code=locate(cfg, registry, lat=lat, lon=lon, address=address),
        lat=lat,
        lon=lon,
        address=address,
        fields=fields,
    )


def parse_records(
    cfg: Config, registry, source_id: str, records: list, received_at: datetime, origin: str
) -> Parsed:
    """Each record on its own: a bad one is rejected, the others still land."""
    events: list[Event] = []
    rejects: list[tuple[Reject, bytes]] = []
    for record in records:
        try:
            events.append(record_to_event(cfg, registry, source_id, record, received_at, origin))
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


def load_csv_document(raw: bytes) -> list[dict]:
    """CSV rows → GeoReport-shaped dicts, by the documented column names (English or Chinese)."""
    text = decode_csv(raw)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise Invalid(MISSING_FIELD, "empty CSV: expected a header row") from None
    except csv.Error as exc:
        raise Invalid(MALFORMED_CSV, f"CSV syntax error in header: {exc}") from None
    names = [CSV_COLUMNS.get(h.strip()) for h in header]
    missing = [c for c in REQUIRED if c not in names]
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
