"""The city's side of federation in the store: districts' changes applied exactly once, in sequence order.

Each district numbers its changes (ops_center/service/outbox.py). The city keeps, per district, the
sequence applied so far (`seq`, the watermark), the highest sequence it has heard of (`head`) and when
it last heard anything, in `fed_watermarks`, updated in the same transaction as the rows. A change at
`seq + 1` is applied and moves the watermark; one at or below it is a redelivery and is skipped; one
beyond it opens a gap: it and the rest of its message are skipped (the district's outbox still has
them) and `head` says how far the replay must reach. Redeliveries, replays and lost bridge messages
therefore all end in the same state: every change applied once, in order.

A change is a snapshot of the whole incident row, so applying it replaces the city's copy; the timeline
entries it carries are appended (once, as the change is applied once), so the city shows the district's history;
its work-order rows (`related`: assignments, supervisions, verifications, callbacks, extensions) replace the
city's rows of that incident, so the city's 责任单位 and 督办 sheets come from the same KPI module as the districts'. City incident
ids are `district code × 10¹⁰ + the district's id` (below 2⁵³, so exact in JavaScript) (`city_incident_id`): unique per district,
and the district and its own id are read back from the id alone.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

from ops_center.service.outbox import RELATED_KEYS
from ops_center.store.store import Store, from_db, to_db

log = logging.getLogger(__name__)

ID_SPACE = 10**10  # a district's own ids stay below this; 6-digit code × 10¹⁰ < 2⁵³, exact in the browser


def city_incident_id(district_code: str, upstream_id: int) -> int:
    """The id a district's incident has at the city."""
    if not 0 < upstream_id < ID_SPACE:
        raise ValueError(f"district incident id {upstream_id} outside 1..10^10")
    return int(district_code) * ID_SPACE + upstream_id


def upstream_of(city_id: int) -> tuple[str, int]:
    """(district code, the district's incident id) of a city incident id."""
    return f"{city_id // ID_SPACE:06d}", city_id % ID_SPACE


@dataclass(frozen=True, slots=True)
class Watermark:
    """Where the city stands with one district."""

    seq: int = 0  # every change up to here is applied
    head: int = 0  # the highest sequence heard of (a change or a heartbeat)
    last_heard: datetime | None = None
    oldest: int = 0  # the district's oldest kept sequence (its heartbeats): a replay cannot reach below it

    @property
    def needs_resync(self) -> bool:
        """Missing changes the district's outbox no longer holds (an outage longer than federation.keep)."""
        return self.head > self.seq and self.oldest > self.seq + 1


@dataclass
class Applied:
    """What one batch of messages did."""

    watermarks: dict[str, Watermark]
    changed: set[int] = dataclasses.field(default_factory=set)
    applied: int = 0
    duplicates: int = 0
    gaps: int = 0
    unknown: int = 0


_UPSERT = """
INSERT INTO incidents BY NAME
SELECT * EXCLUDE (city_id, base, incident_id, merged_into), city_id AS incident_id,
       CASE WHEN merged_into IS NULL THEN NULL ELSE base + merged_into END AS merged_into
FROM (SELECT city_id, base, unnest(json_transform(snapshot, $shape)) FROM fed_rows)
"""
# Every applied change's timeline entries, in sequence order (`n`), under the city's id.
_TIMELINE = """
INSERT INTO incident_timeline BY NAME
SELECT city_id AS incident_id, unnest(entry) FROM (
    SELECT n, city_id, unnest(json_transform(timeline, $shape)) AS entry, generate_subscripts(json_transform(timeline, $shape), 1) AS k
    FROM fed_timelines) ORDER BY n, k
"""
# Id columns that name rows of a district's own id space (besides incident_id), mapped like incident ids.
_RELATED_IDS = {"assignments": ("assignment_id", "replaced_by"), "supervisions": ("supervision_id",),
                "verifications": ("verification_id",), "callbacks": ("callback_id",),
                "extensions": ("extension_id", "assignment_id")}
assert set(_RELATED_IDS) == set(RELATED_KEYS), "every mirrored table maps its ids"


def _related_sql(table: str) -> str:
    """Replace-insert of one mirrored table's rows for the incidents in `fed_related` (constants only)."""
    mapped = ", ".join(["city_id AS incident_id", *(f"base + {c} AS {c}" for c in _RELATED_IDS[table])])
    return (f"INSERT INTO {table} BY NAME SELECT * EXCLUDE (city_id, base) REPLACE ({mapped}) FROM ("  # noqa: S608
            f"SELECT city_id, base, unnest(r) FROM (SELECT city_id, base, "
            f"unnest(json_transform(related->'{table}', $shape)) AS r FROM fed_related))")


class FederatedIncidents:
    """Applies districts' change messages to the city's store; the watermarks live here and in the table."""

    def __init__(self, store: Store, districts: tuple[str, ...], clock):
        self.store, self.districts, self.clock = store, frozenset(districts), clock
        self._shape = json.dumps({name: kind for name, kind, *_ in store.query("DESCRIBE incidents")})
        self._entry_shape = json.dumps([{name: kind for name, kind, *_ in store.query("DESCRIBE incident_timeline")
                                         if name not in ("incident_id", "entry_id")}])
        self._related_shapes = {table: json.dumps([{name: kind for name, kind, *_ in store.query(f"DESCRIBE {table}")}])
                                for table in RELATED_KEYS}
        self.watermarks = {code: Watermark() for code in districts}
        for code, seq, head, heard, oldest in store.query(
                "SELECT district_code, seq, head, last_heard, oldest FROM fed_watermarks"):
            if code in self.watermarks:
                self.watermarks[code] = Watermark(int(seq), int(head), from_db(heard), int(oldest or 0))

    def apply(self, messages: list[dict]) -> Applied:
        """Apply decoded messages (changes or heartbeats) in one transaction; the watermarks move on commit."""
        result = self.store.write(lambda conn: self.apply_in(conn, messages))
        self.watermarks = result.watermarks
        return result

    def apply_in(self, conn: duckdb.DuckDBPyConnection, messages: list[dict]) -> Applied:
        now = self.clock()
        marks = dict(self.watermarks)
        out = Applied(marks)
        latest: dict[int, tuple[int, str]] = {}  # city id -> (base, snapshot JSON): the last change wins
        related: dict[int, tuple[int, str]] = {}  # city id -> (base, work-order rows JSON): the last change wins
        timelines: list[tuple[int, str]] = []  # (city id, entries JSON) of every applied change, in order
        touched: set[str] = set()
        for msg in messages:
            code = msg["district"]
            if code not in self.districts:
                out.unknown += 1
                continue
            mark = marks[code]
            seq, head = mark.seq, max(mark.head, int(msg.get("head") or 0))
            oldest = mark.oldest if msg.get("oldest") is None else int(msg["oldest"])
            for change in msg.get("changes") or ():
                n = int(change["seq"])
                if n <= seq:
                    out.duplicates += 1
                    continue
                if n != seq + 1:
                    out.gaps += 1
                    head = max(head, n)
                    break
                base = int(code) * ID_SPACE
                city_id = city_incident_id(code, int(change["incident_id"]))
                latest[city_id] = (base, change["row"])
                if change.get("timeline"):
                    timelines.append((city_id, change["timeline"]))
                if change.get("related") is not None:
                    related[city_id] = (base, change["related"])
                seq = n
                out.applied += 1
            marks[code] = Watermark(seq, max(head, seq), now, oldest)
            touched.add(code)
        if latest:
            rows = pa.table({"city_id": pa.array(list(latest), pa.int64()),
                             "base": pa.array([b for b, _ in latest.values()], pa.int64()),
                             "snapshot": pa.array([r for _, r in latest.values()], pa.string())})
            conn.register("fed_rows", rows)
            try:
                conn.execute("DELETE FROM incidents WHERE incident_id IN (SELECT city_id FROM fed_rows)")
                conn.execute(_UPSERT, {"shape": self._shape})
            finally:
                conn.unregister("fed_rows")
            out.changed = set(latest)
        if timelines:
            self._append_timelines(conn, timelines)
        if related:
            self._replace_related(conn, related)
        for code in touched:
            mark = marks[code]
            conn.execute("INSERT INTO fed_watermarks (district_code, seq, head, last_heard, applied_at, oldest) "
                         "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (district_code) DO UPDATE SET "
                         "seq = excluded.seq, head = excluded.head, last_heard = excluded.last_heard, "
                         "applied_at = excluded.applied_at, oldest = excluded.oldest",
                         [code, mark.seq, mark.head, to_db(mark.last_heard), to_db(now), mark.oldest]).fetchall()
        return out

    def _append_timelines(self, conn: duckdb.DuckDBPyConnection, timelines: list[tuple[int, str]]) -> None:
        """The districts' timeline entries, appended once: each change is applied once (its sequence)."""
        entries = pa.table({"n": pa.array(range(len(timelines)), pa.int64()),
                            "city_id": pa.array([c for c, _ in timelines], pa.int64()),
                            "timeline": pa.array([t for _, t in timelines], pa.string())})
        conn.execute("SELECT 1").fetchall()  # register() refuses while an earlier result is unread
        conn.register("fed_timelines", entries)
        try:
            conn.execute(_TIMELINE, {"shape": self._entry_shape})
        finally:
            conn.unregister("fed_timelines")

    def _replace_related(self, conn: duckdb.DuckDBPyConnection, related: dict[int, tuple[int, str]]) -> None:
        """The incidents' work-order rows as their districts hold them now (a snapshot: replace, never add)."""
        rows = pa.table({"city_id": pa.array(list(related), pa.int64()),
                         "base": pa.array([b for b, _ in related.values()], pa.int64()),
                         "related": pa.array([r for _, r in related.values()], pa.string())})
        conn.execute("SELECT 1").fetchall()  # register() refuses while an earlier result is unread
        conn.register("fed_related", rows)
        try:
            for table, shape in self._related_shapes.items():
                conn.execute(f"DELETE FROM {table} WHERE incident_id IN (SELECT city_id FROM fed_related)")  # noqa: S608
                conn.execute(_related_sql(table), {"shape": shape})
        finally:
            conn.unregister("fed_related")
