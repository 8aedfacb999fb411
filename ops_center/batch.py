"""One batch of accepted inputs applied in one transaction: dedup, rules, incidents, timeline."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from ops_center.bus import IncidentCreated, IncidentUpdated
from ops_center.config import Config
from ops_center.domains import SOURCE_NAMES, UNCLASSIFIED
from ops_center.model import Decision, Event
from ops_center.open_index import OpenIncident, OpenIndex
from ops_center.store import Store, append, from_db, to_db

log = logging.getLogger(__name__)

SUPPRESSION_RELOAD = timedelta(seconds=5)
INDEX_RELOAD = timedelta(seconds=60)  # safety net; closures arrive through note_closed at once


def key_hash(source_id: str, natural_key: str) -> int:
    """63-bit hash of the source-scoped natural key (fits BIGINT): the column dedup checks."""
    digest = hashlib.blake2b(f"{source_id}\x1f{natural_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Input we could not accept, kept with its raw bytes and the reason."""

    source_id: str
    topic: str | None
    reason: str
    raw: bytes
    detail: str = ""
    received_at: datetime | None = None


@dataclass
class BatchResult:
    """What one committed batch produced: bus events to publish and counts for source health."""

    domain_events: list = field(default_factory=list)
    accepted: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    incident_ids: set[int] = field(default_factory=set)


def system_decision(event: Event, cfg: Config) -> Decision:
    """Built-in decision for the product's own events (a silent feed), which no rule file owns."""
    source = cfg.source(event.source_id)
    name = source.name if source else event.source_id
    return Decision(
        rule_id="builtin.feed_silent", domain=UNCLASSIFIED, category="feed_silent", severity="P2",
        level="district", department=None, title=f"数据源静默：{name}",
        dedup_key=f"feed_silent|{event.source_id}", dedup_window=timedelta(days=365),
        clears=event.event == "restore",
    )


class BatchWriter:
    """Runs on the store's writer thread; holds the open-incident index and the rules' `for` state."""

    def __init__(self, store: Store, cfg: Config, rules, policy, clock: Callable[[], datetime]):
        self.store, self.cfg, self.rules, self.policy, self.clock = store, cfg, rules, policy, clock
        self.index = OpenIndex(cfg.rules.correlation.window)
        self._deadlines: dict[tuple, tuple[datetime, datetime]] = {}  # per batch: all share one `now`
        self._index_at: datetime | None = None
        self._closed: list[int] = []
        self._closed_lock = threading.Lock()
        self._suppressions: list = []
        self._suppressed_values: set[str] = set()
        self._suppressed_areas: tuple[str, ...] = ()
        self._suppressions_at: datetime | None = None
        self._rule_state = None

    # --- entry point -----------------------------------------------------------------------

    def apply(self, conn: duckdb.DuckDBPyConnection, events: list[Event], dead: list[DeadLetter]) -> BatchResult:
        now = self.clock()
        self._deadlines.clear()
        result = BatchResult()
        self._insert_dead_letters(conn, dead, now)
        fresh = self._dedup(conn, events, result)
        if fresh:
            self._process(conn, fresh, now, result)
        return result

    # --- dedup -------------------------------------------------------------------------------

    def _dedup(self, conn: duckdb.DuckDBPyConnection, events: list[Event], result: BatchResult) -> list:
        hashed: dict[int, Event] = {}
        for ev in events:
            h = key_hash(ev.source_id, ev.natural_key)
            if h in hashed:
                result.duplicates[ev.source_id] = result.duplicates.get(ev.source_id, 0) + 1
            else:
                hashed[h] = ev
        if not hashed:
            return []
        keys = pd.DataFrame({"h": np.fromiter(hashed, dtype=np.int64, count=len(hashed))})
        # Events are appended in time order, so the horizon lets zonemaps skip all but recent row groups.
        since = to_db(self.clock() - self.cfg.store.dedup_horizon)
        conn.register("batch_keys", keys)
        try:
            known = {r[0] for r in conn.execute(
                "SELECT DISTINCT key_hash FROM events WHERE received_at >= ? AND key_hash IN (SELECT h FROM batch_keys)",
                [since]).fetchall()}
        finally:
            conn.unregister("batch_keys")
        fresh = []
        for h, ev in hashed.items():
            if h in known:
                result.duplicates[ev.source_id] = result.duplicates.get(ev.source_id, 0) + 1
            else:
                fresh.append((h, ev))
                result.accepted[ev.source_id] = result.accepted.get(ev.source_id, 0) + 1
        return fresh

    # --- rules, incidents ----------------------------------------------------------------------

    def _process(self, conn: duckdb.DuckDBPyConnection, fresh: list, now: datetime, result: BatchResult) -> None:
        first_id = self.store.allocate_ids(conn, "events", len(fresh))
        self._reload_suppressions(conn, now)
        self._refresh_index(conn, now)
        writes = _Writes()
        originals = self._hotline_originals(conn, [ev for _, ev in fresh])
        for offset, (h, ev) in enumerate(fresh):
            event_id = first_id + offset
            incident_id, rule_id, suppressed = None, None, None
            thread = (ev.source_id, ev.fields.get("request_id")) if ev.source == "hotline" else None
            if thread in originals:
                incident_id = originals[thread]
                if incident_id is not None:
                    self._hotline_update(ev, incident_id, now, writes)
            else:
                for decision in self._decide(ev):
                    rule_id = rule_id or decision.rule_id
                    sup = self._suppressed(ev, decision, now)
                    if sup is not None:
                        suppressed = sup
                        continue
                    target = self._apply_decision(conn, ev, decision, now, writes, result)
                    incident_id = incident_id or target
                if thread is not None and thread[1] is not None:
                    originals[thread] = incident_id
            writes.event(event_id, h, ev, incident_id, rule_id, suppressed)
        writes.flush(conn, self.index)
        result.domain_events.extend(writes.domain_events)
        result.incident_ids.update(writes.touched)

    def note_closed(self, incident_id: int) -> None:
        """Called from the bus thread when a human or the sweep closes an incident."""
        with self._closed_lock:
            self._closed.append(incident_id)

    def _refresh_index(self, conn: duckdb.DuckDBPyConnection, now: datetime) -> None:
        with self._closed_lock:
            closed, self._closed = self._closed, []
        for incident_id in closed:
            self.index.discard(incident_id)
        if self._index_at is None or now - self._index_at >= INDEX_RELOAD:
            self.index.load(conn)
            self._index_at = now
        self.index.expire(now)

    def _decide(self, ev: Event) -> list[Decision]:
        if ev.source == "system":
            return [system_decision(ev, self.cfg)] if ev.kind == "feed_silent" else []
        ruleset = self.rules.current
        if self._rule_state is None or getattr(self, "_rules_version", None) != getattr(self.rules, "version", None):
            from rules.engine import RuleState

            self._rule_state = RuleState()
            self._rules_version = getattr(self.rules, "version", None)
        try:
            return ruleset.evaluate(ev, self._rule_state)
        except Exception:  # noqa: BLE001 - one bad event must not sink the batch
            log.exception("rule evaluation failed for %s/%s", ev.source_id, ev.natural_key)
            return []

    def _reload_suppressions(self, conn: duckdb.DuckDBPyConnection, now: datetime) -> None:
        if self._suppressions_at and now - self._suppressions_at < SUPPRESSION_RELOAD:
            return
        df = conn.execute(
            "SELECT suppression_id, scope, value, starts_at, ends_at, cancelled_at FROM suppressions "
            "WHERE cancelled_at IS NULL AND ends_at > ?", [to_db(now)]).df()
        self._suppressions = [
            dict(r, starts_at=from_db(r["starts_at"]), ends_at=from_db(r["ends_at"]), cancelled_at=None)
            for r in df.to_dict("records")
        ]
        # What any suppression could touch, so most events skip the full check.
        self._suppressed_values = {str(r["value"]) for r in self._suppressions if r["scope"] != "area"}
        self._suppressed_areas = tuple(str(r["value"]) for r in self._suppressions if r["scope"] == "area")
        self._suppressions_at = now

    def _suppressed(self, ev: Event, decision: Decision, now: datetime) -> int | None:
        if not self._suppressions:
            return None
        if (ev.device_id not in self._suppressed_values and decision.domain not in self._suppressed_values
                and not (ev.area_code and ev.area_code.startswith(self._suppressed_areas))):
            return None
        from rules.suppress import active_suppression

        return active_suppression(ev, decision, self._suppressions, now)

    def _apply_decision(self, conn, ev: Event, decision: Decision, now: datetime, writes: _Writes,
                        result: BatchResult) -> int | None:
        if decision.clears:
            target = self.index.by_dedup.get(decision.dedup_key) if decision.dedup_key else None
            if target is not None:
                auto_resolve = ev.source == "system"
                writes.cleared(target, ev, decision, now, auto_resolve)
                if auto_resolve:
                    self.index.discard(target)
            return target
        if decision.dedup_key:
            target = self.index.by_dedup.get(decision.dedup_key)
            inc = self.index.by_id.get(target) if target is not None else None
            window = decision.dedup_window or timedelta(hours=1)
            if inc is not None and now - inc.last_report_at <= window:
                writes.bump(inc, ev, now, correlated=False)
                self.index.touch(inc)
                return inc.incident_id
        inc = self._correlate(ev, decision)
        if inc is not None:
            writes.bump(inc, ev, now, correlated=True)
            self.index.touch(inc)
            return inc.incident_id
        return self._create(conn, ev, decision, now, writes)

    def _correlate(self, ev: Event, decision: Decision) -> OpenIncident | None:
        if decision.domain == UNCLASSIFIED:
            return None
        candidates = self.index.candidates(decision.domain, ev.lat, ev.lon, ev.area_code)
        if not candidates:
            return None
        from rules.correlate import find_match

        corr = self.cfg.rules.correlation
        match = find_match(ev, decision, candidates, corr.distance_m, corr.window)
        return self.index.by_id.get(match) if match is not None else None

    def _create(self, conn, ev: Event, decision: Decision, now: datetime, writes: _Writes) -> int:
        incident_id = self.store.allocate_ids(conn, "incidents", 1)
        area = ev.area_code or self.cfg.site.default_area
        key = (decision.domain, decision.severity, decision.category)
        due = self._deadlines.get(key)
        if due is None:
            due = self._deadlines[key] = (self.policy.ack_due(*key, now), self.policy.resolve_due(*key, now))
        ack_due, resolve_due = due
        writes.create(incident_id, ev, decision, area, now, ack_due, resolve_due)
        self.index.add(OpenIncident(incident_id, decision.domain, decision.dedup_key, area, ev.lat, ev.lon, now, 1,
                                    [ev.source]))
        return incident_id

    # --- hotline updates ------------------------------------------------------------------------

    def _hotline_originals(self, conn, events: list[Event]) -> dict:
        """(source_id, request_id) -> incident of requests seen before, so an update joins its incident."""
        wanted = {key_hash(ev.source_id, str(ev.fields["request_id"])): (ev.source_id, ev.fields["request_id"])
                  for ev in events if ev.source == "hotline" and ev.fields.get("request_id") is not None}
        if not wanted:
            return {}
        rows = conn.execute(
            "SELECT ref_hash, min(incident_id) FROM events WHERE ref_hash IN (SELECT unnest(?::BIGINT[])) "
            "GROUP BY ref_hash", [list(wanted)]).fetchall()
        return {wanted[h]: incident_id for h, incident_id in rows}

    def _hotline_update(self, ev: Event, incident_id: int, now: datetime, writes: _Writes) -> None:
        writes.timeline(incident_id, now, "hotline", "hotline_update", None, None,
                        ev.text or ev.fields.get("status_notes") or "12345工单更新",
                        {"status": ev.fields.get("status"), "natural_key": ev.natural_key})
        satisfied = ev.fields.get("satisfied")
        if isinstance(satisfied, bool):
            writes.satisfaction[incident_id] = satisfied

    # --- dead letters -----------------------------------------------------------------------------

    def _insert_dead_letters(self, conn, dead: list[DeadLetter], now: datetime) -> None:
        if not dead:
            return
        first = self.store.allocate_ids(conn, "dead_letters", len(dead))
        append(conn, "dead_letters", _arrow(_DEAD_LETTER_SCHEMA, (
            range(first, first + len(dead)), [d.received_at or now for d in dead], [d.source_id for d in dead],
            [d.topic for d in dead], [d.reason for d in dead], [d.detail[:2000] for d in dead],
            [bytes(d.raw) for d in dead])))




class _Writes:
    """Rows a batch will write, gathered as columns and flushed with a few bulk statements."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.readings: list[tuple] = []
        self.incidents: list[dict] = []
        self.bumps: dict[int, OpenIncident] = {}
        self.timeline_rows: list[tuple] = []
        self.satisfaction: dict[int, bool] = {}
        self.resolved: list[int] = []
        self.domain_events: list = []
        self.touched: set[int] = set()

    def event(self, event_id: int, h: int, ev: Event, incident_id, rule_id, suppressed) -> None:
        ref = ev.fields.get("request_id") if ev.fields else None
        self.events.append((
            event_id, ev.source, ev.source_id, ev.natural_key, h, ev.occurred_at, ev.received_at,
            ev.kind, ev.device_id, ev.metric, ev.value, ev.event, ev.text, ev.category, ev.area_code, ev.lat, ev.lon,
            ev.address, orjson.dumps(dict(ev.fields), default=str).decode() if ev.fields else None,
            incident_id, rule_id, suppressed, key_hash(ev.source_id, str(ref)) if ref is not None else None,
        ))
        if ev.source == "sensor" and ev.value is not None and ev.device_id:
            self.readings.append((ev.device_id, ev.kind, ev.metric, ev.occurred_at, ev.value, ev.area_code))

    def timeline(self, incident_id, ts, actor, action, from_status, to_status, note, data=None) -> None:
        self.timeline_rows.append((incident_id, ts, actor, action, from_status, to_status, note,
                                   orjson.dumps(data).decode() if data else None))
        self.touched.add(incident_id)

    def create(self, incident_id, ev: Event, d: Decision, area: str, now, ack_due, resolve_due) -> None:
        self.incidents.append({
            "incident_id": incident_id, "version": 1, "status": "new", "domain": d.domain,
            "category": d.category, "severity": d.severity, "title": d.title[:200], "area_code": area,
            "street_code": area[:9] if len(area) >= 9 else None, "district_code": area[:6],
            "level": d.level, "department": d.department, "lat": ev.lat, "lon": ev.lon, "source": ev.source,
            "sources": [ev.source], "rule_id": d.rule_id, "dedup_key": d.dedup_key, "report_count": 1,
            "created_at": now, "updated_at": now, "last_report_at": now,
            "ack_due_at": ack_due, "resolve_due_at": resolve_due,
            "notify_domains": list(d.notify_domains),
        })
        note = ev.text[:500] if ev.text else f"{SOURCE_NAMES.get(ev.source, ev.source)}：{d.title}"
        self.timeline(incident_id, now, "system", "created", None, "new", note,
                      {"rule_id": d.rule_id, "source": ev.source, "amplified_by": list(d.amplified_by)})
        self.domain_events.append(IncidentCreated(
            incident_id=incident_id, at=now, domain=d.domain, category=d.category, severity=d.severity,
            area_code=area, level=d.level, title=d.title, source=ev.source, notify_domains=tuple(d.notify_domains)))

    def bump(self, inc: OpenIncident, ev: Event, now, correlated: bool) -> None:
        inc.report_count += 1
        inc.last_report_at = now
        if ev.source not in inc.sources:
            inc.sources.append(ev.source)
        self.bumps[inc.incident_id] = inc
        action = "correlated" if correlated else "repeat"
        what = "关联上报" if correlated else "重复上报"
        note = f"{SOURCE_NAMES.get(ev.source, ev.source)}{what}（第{inc.report_count}次）" + (f"：{ev.text[:200]}" if ev.text else "")
        self.timeline(inc.incident_id, now, "system", action, None, None, note, {"source": ev.source})
        self.domain_events.append(IncidentUpdated(incident_id=inc.incident_id, at=now, report_count=inc.report_count,
                                                  source=ev.source, correlated=correlated))

    def cleared(self, incident_id: int, ev: Event, d: Decision, now, auto_resolve: bool) -> None:
        note = "恢复正常：" + (ev.text[:200] if ev.text else d.title)
        if auto_resolve:
            self.resolved.append(incident_id)
            self.timeline(incident_id, now, "system", "resolve", "new", "resolved", note)
        else:
            self.timeline(incident_id, now, "system", "cleared", None, None, note)

    def flush(self, conn: duckdb.DuckDBPyConnection, index: OpenIndex) -> None:
        if self.events:
            columns = zip(*self.events, strict=True)
            append(conn, "events", _arrow(_EVENT_SCHEMA, columns))
        if self.readings:
            append(conn, "readings", _arrow(_READING_SCHEMA, zip(*self.readings, strict=True)))
        # Repeats within the batch that created the incident are folded into its insert: DuckDB rewrites
        # an updated list column as delete + insert, and doing that to a row inserted in the same
        # transaction trips the primary key.
        created = {row["incident_id"]: row for row in self.incidents}
        for incident_id, inc in self.bumps.items():
            row = created.get(incident_id)
            if row is not None:
                row.update(report_count=inc.report_count, last_report_at=inc.last_report_at,
                           sources=list(inc.sources))
        if self.incidents:
            append(conn, "incidents", _arrow(_INCIDENT_SCHEMA, ([row[name] for row in self.incidents]
                                                                 for name, _ in _INCIDENT_SCHEMA)))
        bumps = [inc for i, inc in self.bumps.items() if i not in created]
        if bumps:
            bdf = pd.DataFrame({
                "incident_id": [b.incident_id for b in bumps], "report_count": [b.report_count for b in bumps],
                "last_report_at": [to_db(b.last_report_at) for b in bumps], "sources": [list(b.sources) for b in bumps],
            })
            conn.register("bumps_df", bdf)
            conn.execute(
                "UPDATE incidents SET report_count = b.report_count, last_report_at = b.last_report_at, "
                "sources = b.sources, updated_at = b.last_report_at FROM bumps_df b "
                "WHERE incidents.incident_id = b.incident_id")
            conn.unregister("bumps_df")
        for incident_id, satisfied in self.satisfaction.items():
            conn.execute("UPDATE incidents SET satisfied = ? WHERE incident_id = ?", [satisfied, incident_id])
        for incident_id in self.resolved:
            conn.execute("UPDATE incidents SET status = 'resolved', resolved_at = last_report_at, "
                         "version = version + 1 WHERE incident_id = ? AND status IN ('new', 'acknowledged', 'dispatched')",
                         [incident_id])
        if self.timeline_rows:
            append(conn, "incident_timeline", _arrow(_TIMELINE_SCHEMA, zip(*self.timeline_rows, strict=True)))


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
_TIMELINE_SCHEMA = (("incident_id", _INT), ("ts", _TS), ("actor", _STR), ("action", _STR), ("from_status", _STR),
                    ("to_status", _STR), ("note", _STR), ("data", _STR))
_DEAD_LETTER_SCHEMA = (("dead_letter_id", _INT), ("received_at", _TS), ("source_id", _STR), ("topic", _STR),
                       ("reason", _STR), ("detail", _STR), ("raw", pa.binary()))
_READING_SCHEMA = (("device_id", _STR), ("kind", _STR), ("metric", _STR), ("ts", _TS), ("value", _F64),
                   ("area_code", _STR))
_NAIVE_UTC = pa.timestamp("us")


def _arrow(schema: tuple, columns) -> pa.Table:
    """Columns of Python values -> Arrow; aware datetimes become the store's naive UTC in one vector cast."""
    out = {}
    for (name, typ), col in zip(schema, columns, strict=True):
        arr = pa.array(col, type=typ)
        out[name] = arr.cast(_NAIVE_UTC) if typ is _TS else arr
    return pa.table(out)
