"""The rows one pipeline batch writes, gathered as columns and flushed as typed Arrow tables."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import lru_cache

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ops_center.core.area_codes import district_of, street_of
from ops_center.core.domains import SOURCE_NAMES
from ops_center.core.model import Decision, Event
from ops_center.service.bus import IncidentCreated, IncidentUpdated
from ops_center.service.open_index import OpenIncident, OpenIndex
from ops_center.store.store import COORDINATE_DECIMALS, append


@lru_cache(maxsize=8_192)  # a batch (≤ batch_max_rows + a chunk piece) asks within itself
def key_hash(source_id: str, natural_key: str) -> int:
    """63-bit hash of the source-scoped natural key (fits BIGINT): the column dedup checks.

    Cached: a batch asks for the same keys up to three times (dedup, the request thread, the event row),
    and a 12345 request's natural key is its request id.
    """
    digest = hashlib.blake2b(f"{source_id}\x1f{natural_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def _json(fields) -> str:
    """An event's fields as JSON text; a plain dict (every parser's) without a copy first."""
    return orjson.dumps(fields if type(fields) is dict else dict(fields), default=str).decode()


@lru_cache(maxsize=16_384)  # the configured areas: a few thousand codes
def _street_district(area: str) -> tuple[str | None, str]:
    return street_of(area), district_of(area)


class BatchRows:
    """Rows a batch will write, gathered as columns and flushed with a few bulk statements."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.readings: list[tuple] = []
        self.incidents: list[tuple] = []  # in _INCIDENT_SCHEMA's order, transposed to columns at flush
        self._iso: dict = {}  # datetime -> isoformat within the batch: a chunk's rows share their received_at
        self.bumps: dict[int, OpenIncident] = {}
        self.timeline_rows: list[tuple] = []
        self.satisfaction: dict[int, bool] = {}
        # (incident id, lifecycle action, actor, note): status changes a source or rule asked for,
        # applied through the incident service after the rows above are written (same transaction).
        self.transitions: list[tuple] = []
        self.domain_events: list = []
        self.touched: set[int] = set()

    def event(self, event_id: int, h: int, ev: Event, incident_id, rule_id, suppressed) -> None:
        ref = ev.fields.get("request_id") if ev.fields else None
        self.events.append((
            event_id, ev.source, ev.source_id, ev.natural_key, h, ev.occurred_at, ev.received_at,
            ev.kind, ev.device_id, ev.metric, ev.value, ev.event, ev.text, ev.category, ev.area_code, ev.lat, ev.lon,
            ev.address, _json(ev.fields) if ev.fields else None,
            incident_id, rule_id, suppressed, key_hash(ev.source_id, str(ref)) if ref is not None else None,
        ))
        if ev.source == "sensor" and ev.value is not None and ev.device_id:
            self.readings.append((ev.device_id, ev.kind, ev.metric, ev.occurred_at, ev.value, ev.area_code))

    def timeline(self, incident_id, ts, actor, action, from_status, to_status, note, data=None) -> None:
        self.timeline_rows.append((incident_id, ts, actor, action, from_status, to_status, note,
                                   orjson.dumps(data).decode() if data else None))
        self.touched.add(incident_id)

    def create(self, incident_id, ev: Event, d: Decision, area: str, now, ack_due, resolve_due) -> None:
        self.incidents.append((
            incident_id, 1, "new", d.domain, d.category, d.severity, d.title[:200], area, *_street_district(area),
            d.level, d.department, ev.lat, ev.lon, ev.source, [ev.source], d.rule_id, d.dedup_key,
            1, now, now, now, ack_due, resolve_due, list(d.notify_domains),
        ))
        note = ev.text[:500] if ev.text else f"{SOURCE_NAMES.get(ev.source, ev.source)}：{d.title}"
        # The reading's (or request's) own time next to the receive time: a backlog replayed late still
        # says when it happened.
        self.timeline(incident_id, now, "system", "created", None, "new", note,
                      {"rule_id": d.rule_id, "source": ev.source, "amplified_by": list(d.amplified_by),
                       "occurred_at": ev.occurred_at.isoformat(), "received_at": self._isoformat(ev.received_at)})
        self.domain_events.append(IncidentCreated(
            incident_id=incident_id, at=now, domain=d.domain, category=d.category, severity=d.severity,
            area_code=area, level=d.level, title=d.title, source=ev.source, notify_domains=tuple(d.notify_domains)))

    def _isoformat(self, dt) -> str:
        iso = self._iso.get(dt)
        if iso is None:
            iso = self._iso[dt] = dt.isoformat()
        return iso

    def bump(self, inc: OpenIncident, ev: Event, now, correlated: bool, burst_from: int | None = None) -> None:
        """Count one more report; a repeat writes a timeline row only when it starts a burst (`burst_from`)."""
        inc.report_count += 1
        inc.last_report_at = now
        if ev.source not in inc.sources:
            inc.sources.append(ev.source)
        self.bumps[inc.incident_id] = inc
        if correlated or burst_from is not None:
            action = "correlated" if correlated else "repeat"
            what = "关联上报" if correlated else "重复上报"
            note = f"{SOURCE_NAMES.get(ev.source, ev.source)}{what}（第{inc.report_count}次）" + (
                f"：{ev.text[:200]}" if ev.text else "")
            data: dict[str, object] = {"source": ev.source}
            if burst_from:
                data["previous_burst"] = burst_from
                note += f"；上一轮连续上报{burst_from}次"
            self.timeline(inc.incident_id, now, "system", action, None, None, note, data)
        else:
            self.touched.add(inc.incident_id)
        self.domain_events.append(IncidentUpdated(incident_id=inc.incident_id, at=now, report_count=inc.report_count,
                                                  source=ev.source, correlated=correlated))

    def cleared(self, incident_id: int, ev: Event, d: Decision, now, auto_resolve: bool) -> None:
        note = "恢复正常：" + (ev.text[:200] if ev.text else d.title)
        if auto_resolve:
            self.transition(incident_id, "auto_resolve", "system", note)
        else:
            self.timeline(incident_id, now, "system", "cleared", None, None, note,
                          {"rule_id": d.rule_id, "reading_at": ev.occurred_at.isoformat(), "value": ev.value})

    def transition(self, incident_id: int, action: str, actor: str, note: str) -> None:
        """Queue a status change for the incident service (lifecycle graph, timeline, audit, bus event)."""
        self.transitions.append((incident_id, action, actor, note))
        self.touched.add(incident_id)

    def flush(self, conn: duckdb.DuckDBPyConnection, index: OpenIndex) -> None:
        if self.events:
            columns = zip(*self.events, strict=True)
            append(conn, "events", to_arrow(_EVENT_SCHEMA, columns))
        if self.readings:
            append(conn, "readings", to_arrow(_READING_SCHEMA, zip(*self.readings, strict=True)))
        # Repeats within the batch that created the incident are folded into its insert: DuckDB rewrites
        # an updated list column as delete + insert, and doing that to a row inserted in the same
        # transaction trips the primary key.
        created = {row[0]: at for at, row in enumerate(self.incidents)}
        for incident_id, inc in self.bumps.items():
            at = created.get(incident_id)
            if at is not None:
                row = list(self.incidents[at])
                row[_REPORT_COUNT], row[_LAST_REPORT_AT], row[_SOURCES] = (inc.report_count, inc.last_report_at,
                                                                         list(inc.sources))
                self.incidents[at] = tuple(row)
        if self.incidents:
            append(conn, "incidents", to_arrow(_INCIDENT_SCHEMA, zip(*self.incidents, strict=True)))
        bumps = [inc for i, inc in self.bumps.items() if i not in created]
        if bumps:
            bdf = to_arrow(_BUMP_SCHEMA, ([b.incident_id for b in bumps], [b.report_count for b in bumps],
                                          [b.last_report_at for b in bumps], [list(b.sources) for b in bumps]))
            conn.register("bumps_df", bdf)
            conn.execute(
                "UPDATE incidents SET report_count = b.report_count, last_report_at = b.last_report_at, "
                "sources = b.sources, updated_at = b.last_report_at FROM bumps_df b "
                "WHERE incidents.incident_id = b.incident_id")
            conn.unregister("bumps_df")
        for incident_id, satisfied in self.satisfaction.items():
            conn.execute("UPDATE incidents SET satisfied = ? WHERE incident_id = ?", [satisfied, incident_id])
        if self.timeline_rows:
            append(conn, "incident_timeline", to_arrow(_TIMELINE_SCHEMA, zip(*self.timeline_rows, strict=True)))


_STR, _INT, _F64, _TS = pa.string(), pa.int64(), pa.float64(), pa.timestamp("us", tz="UTC")
# Arrow types per column, in the order _Writes.event builds its tuples (no pandas object-column guessing).
_EVENT_SCHEMA = (
    ("event_id", _INT), ("source", _STR), ("source_id", _STR), ("natural_key", _STR), ("key_hash", _INT),
    ("occurred_at", _TS), ("received_at", _TS), ("kind", _STR), ("device_id", _STR), ("metric", _STR),
    ("value", _F64), ("event", _STR), ("text", _STR), ("category", _STR), ("area_code", _STR), ("lat", _F64),
    ("lon", _F64), ("address", _STR), ("fields", _STR), ("incident_id", _INT), ("rule_id", _STR),
    ("suppressed_by", _INT), ("ref_hash", _INT),
)
_INCIDENT_SCHEMA = (
    ("incident_id", _INT), ("version", _INT), ("status", _STR), ("domain", _STR), ("category", _STR),
    ("severity", _STR), ("title", _STR), ("area_code", _STR), ("street_code", _STR), ("district_code", _STR),
    ("level", _STR), ("department", _STR), ("lat", _F64), ("lon", _F64), ("source", _STR),
    ("sources", pa.list_(_STR)), ("rule_id", _STR), ("dedup_key", _STR), ("report_count", _INT),
    ("created_at", _TS), ("updated_at", _TS), ("last_report_at", _TS), ("ack_due_at", _TS),
    ("resolve_due_at", _TS), ("notify_domains", pa.list_(_STR)),
)
_INCIDENT_COLUMNS = [name for name, _ in _INCIDENT_SCHEMA]
_REPORT_COUNT, _LAST_REPORT_AT, _SOURCES = (_INCIDENT_COLUMNS.index(n) for n in ("report_count", "last_report_at",
                                                                                  "sources"))
_TIMELINE_SCHEMA = (("incident_id", _INT), ("ts", _TS), ("actor", _STR), ("action", _STR), ("from_status", _STR),
                    ("to_status", _STR), ("note", _STR), ("data", _STR))
DEAD_LETTER_SCHEMA = (("dead_letter_id", _INT), ("received_at", _TS), ("source_id", _STR), ("topic", _STR),
                       ("reason", _STR), ("detail", _STR), ("raw", pa.binary()))
_BUMP_SCHEMA = (("incident_id", _INT), ("report_count", _INT), ("last_report_at", _TS), ("sources", pa.list_(_STR)))
_READING_SCHEMA = (("device_id", _STR), ("kind", _STR), ("metric", _STR), ("ts", _TS), ("value", _F64),
                   ("area_code", _STR))
_NAIVE_UTC_S = pa.timestamp("s")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COORDINATES = frozenset({"lat", "lon"})


def to_arrow(schema: tuple, columns) -> pa.Table:
    """Columns of Python values -> Arrow in the store's form: naive UTC whole seconds, coordinates rounded."""
    out = {}
    for (name, typ), col in zip(schema, columns, strict=True):
        if typ is _TS:
            arr = pa.array(epoch_seconds(col), type=_INT).cast(_NAIVE_UTC_S)
        else:
            arr = pa.array(col, type=typ)
            if name in _COORDINATES:
                arr = pc.round(arr, COORDINATE_DECIMALS)
        out[name] = arr
    return pa.table(out)


def epoch_seconds(col) -> list[int | None]:
    """Datetimes (naive ones are UTC) -> whole seconds since the epoch, truncated as to_db truncates.

    Arrow converts an aware datetime through its tzinfo at ~16 µs when the values differ (every row's
    `occurred_at`); integer arithmetic on the timedelta gives the same second at ~0.4 µs. A batch's incident
    and timeline columns repeat one object (its `now`, a deadline), converted once per run of it.
    """
    out: list[int | None] = []
    last: datetime | None = None
    seconds: int | None = None
    for value in col:
        if value is not last:
            last = value
            if value is None:
                seconds = None
            else:
                delta = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)) - _EPOCH
                seconds = delta.days * 86400 + delta.seconds
                if seconds < 0 and delta.microseconds:
                    seconds += 1  # toward zero, like a cast
        out.append(seconds)
    return out
