"""One batch of accepted inputs applied in one transaction: dedup, rules, incidents, timeline."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa

from ops_center.core.config import Config
from ops_center.core.domains import UNCLASSIFIED
from ops_center.core.lifecycle import Actor
from ops_center.core.model import DeadLetter, Decision, Event
from ops_center.core.ports import RulesPort
from ops_center.core.sla import SlaPolicy
from ops_center.service.batch_rows import DEAD_LETTER_SCHEMA, BatchRows, key_hash, to_arrow
from ops_center.service.incidents import IncidentService
from ops_center.service.open_index import OpenIncident, OpenIndex
from ops_center.store.store import Store, append, from_db, to_db
from rules.engine import RuleState
from rules.suppress import active_suppression

log = logging.getLogger(__name__)

SUPPRESSION_RELOAD = timedelta(seconds=5)
# Safety net only (closures arrive through note_closed at once); a reload stalls the writer for about a
# second at 10 M incidents, which would show in the latency p99 if it ran every minute.
INDEX_RELOAD = timedelta(minutes=15)
# Repeats of one incident closer together than this are one burst: one timeline row per burst, the
# rest only count (a detector repeating its alarm every second must not write a row each time).
BURST_GAP = timedelta(minutes=10)


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


def mapped_decision(ev: Event, cfg: Config) -> Decision:
    """The source's own category code, mapped in its category map, decides before any text rule."""
    m = ev.fields["mapped"]
    domain = cfg.domain_by_code.get(m["domain"])
    name = m.get("name") or m["category"]
    # a sensor's key is the shipped rules' "{kind}:{device_id}": repeats join it, the device's restore clears it
    dedup = f"{ev.kind}:{ev.device_id}" if ev.device_id else None
    return Decision(
        rule_id=f"map.{ev.source_id}", domain=m["domain"], category=m["category"], severity=m["severity"],
        level=domain.level if domain else "community", department=domain.department if domain else None,
        title=f"{name}：{(ev.text or ev.address or ev.device_id or '')[:24]}".rstrip("："), dedup_key=dedup,
    )


def _with_keys(conn: duckdb.DuckDBPyConnection, hashes: Collection[int], sql: str, params: list | None = None) -> list:
    """Run `sql` with the batch's 63-bit key hashes as the table `batch_keys` (column `h`).

    A registered Arrow table, not a list parameter: bound as a list, 1,000 keys cost 7.7 ms of CPU per batch
    against 2.9 ms (the 12345 request lookup, 100,000 events stored).
    """
    conn.register("batch_keys", pa.table({"h": pa.array(np.fromiter(hashes, dtype=np.int64, count=len(hashes)))}))
    try:
        return conn.execute(sql, params or []).fetchall()
    finally:
        conn.unregister("batch_keys")


class BatchWriter:
    """Runs on the store's writer thread; holds the open-incident index and the rules' `for` state."""

    def __init__(self, store: Store, cfg: Config, rules: RulesPort, policy: SlaPolicy, clock: Callable[[], datetime]):
        self.store, self.cfg, self.rules, self.policy, self.clock = store, cfg, rules, policy, clock
        self.index = OpenIndex(cfg.rules.correlation.window, cfg.rules.correlation.distance_m)
        self._deadlines: dict[tuple, tuple[datetime, datetime]] = {}  # per batch: all share one `now`
        self._live_from = datetime.min.replace(tzinfo=UTC)  # per batch (apply)
        self._index_at: datetime | None = None
        self._closed: list[int] = []
        self._closed_lock = threading.Lock()
        self._suppressions: list = []
        self._suppressed_values: set[str] = set()
        self._suppressed_areas: tuple[str, ...] = ()
        self._suppressions_at: datetime | None = None
        self._rule_state: RuleState | None = None  # pending `for` conditions, new with each rules version
        self._rules_version: int | None = None
        self.service = IncidentService(store, None, cfg, clock, policy)  # status changes sources ask for
        self._bursts: dict[int, int] = {}  # incident -> its report count when the current burst began

    # --- entry point -----------------------------------------------------------------------

    def apply(self, conn: duckdb.DuckDBPyConnection, events: list[Event], dead: list[DeadLetter],
              decided: Sequence[tuple | None] = ()) -> BatchResult:
        """`decided`, per event: (rule set identity, decisions made ahead) or None (Pipeline._commit)."""
        now = self.clock()
        self._deadlines.clear()
        # An event older than two correlation windows is a backfill: it matches no open incident, and the incident
        # it opens is placed nowhere (placed, it made every later row of a 100,000-row export scan it). Once per
        # batch: per row, these two comparisons were ≈ 5 % of the writer thread's GIL time with a big export.
        self._live_from = now - 2 * self.cfg.rules.correlation.window
        result = BatchResult()
        self._insert_dead_letters(conn, dead, now)
        fresh = self._dedup(conn, events, decided, result)
        if fresh:
            self._process(conn, fresh, now, result)
        return result

    # --- dedup -------------------------------------------------------------------------------

    def _dedup(self, conn: duckdb.DuckDBPyConnection, events: list[Event], decided: Sequence[tuple | None],
               result: BatchResult) -> list:
        """(key hash, event, what was decided ahead for it) of the events not stored before, in order."""
        hashed: dict[int, tuple[Event, tuple | None]] = {}
        for at, ev in enumerate(events):
            h = key_hash(ev.source_id, ev.natural_key)
            if h in hashed:
                result.duplicates[ev.source_id] = result.duplicates.get(ev.source_id, 0) + 1
            else:
                hashed[h] = (ev, decided[at] if at < len(decided) else None)
        if not hashed:
            return []
        # Events are appended in time order, so the horizon lets zonemaps skip all but recent row groups.
        since = to_db(self.clock() - self.cfg.store.dedup_horizon)
        known = {r[0] for r in _with_keys(
            conn, hashed, "SELECT DISTINCT key_hash FROM events WHERE received_at >= ? "
            "AND key_hash IN (SELECT h FROM batch_keys)", [since])}
        fresh = []
        for h, (ev, ahead) in hashed.items():
            if h in known:
                result.duplicates[ev.source_id] = result.duplicates.get(ev.source_id, 0) + 1
            else:
                fresh.append((h, ev, ahead))
                result.accepted[ev.source_id] = result.accepted.get(ev.source_id, 0) + 1
        return fresh

    # --- rules, incidents ----------------------------------------------------------------------

    def _process(self, conn: duckdb.DuckDBPyConnection, fresh: list, now: datetime, result: BatchResult) -> None:
        first_id = self.store.allocate_ids(conn, "events", len(fresh))
        self._reload_suppressions(conn, now)
        self._refresh_index(conn, now)
        writes = BatchRows()
        originals = self._hotline_originals(conn, [ev for _, ev, _ in fresh])
        ruleset = self.rules.current  # one rule set for the whole batch, even if an adopt swaps it meanwhile
        made, contexts, predictions = self._prepare_rules(ruleset, fresh)
        for offset, (h, ev, _) in enumerate(fresh):
            event_id = first_id + offset
            incident_id, rule_id, suppressed = None, None, None
            thread = (ev.source_id, ev.fields.get("request_id")) if ev.source == "hotline" else None
            if thread in originals:
                incident_id = originals[thread]
                ev = dataclasses.replace(ev, event="update")  # a later version of a request already seen
                if incident_id is not None:
                    self._hotline_update(ev, incident_id, now, writes)
            else:
                for decision in self._decide(ev, ruleset, contexts[offset], predictions[offset], made[offset]):
                    rule_id = rule_id or decision.rule_id
                    sup = self._suppressed(ev, decision, now)
                    if sup is not None:
                        suppressed = sup
                        continue
                    target = self._apply_decision(conn, ev, decision, now, writes, result)
                    incident_id = incident_id or target
                if thread is not None and thread[1] is not None:
                    originals[thread] = incident_id
                if incident_id is not None and ev.fields.get("closed_at_source"):
                    self._source_closed(ev, incident_id, writes)
            writes.event(event_id, h, ev, incident_id, rule_id, suppressed)
        writes.flush(conn, self.index)
        self._transitions(conn, writes, now)
        self.store.incidents_changed(conn, writes.touched)  # created, bumped, transitioned: one call per batch
        result.domain_events.extend(writes.domain_events)
        result.incident_ids.update(writes.touched)

    def _transitions(self, conn, writes: BatchRows, now: datetime) -> None:
        """Status changes sources and rules asked for, through the lifecycle (graph, timeline, audit), in bulk."""
        if not writes.transitions:
            return
        city = self.cfg.site.city.code
        items = [(Actor(actor, "system", city), action, incident_id, note)
                 for incident_id, action, actor, note in writes.transitions]
        events = self.service.system_transitions(conn, items, now)
        for event in events:
            self.index.discard(event.incident_id)
            self._bursts.pop(event.incident_id, None)
        writes.domain_events.extend(events)

    def _source_closed(self, ev: Event, incident_id: int, writes: BatchRows) -> None:
        note = "来源系统已办结" + (f"：{ev.fields['status_notes']}" if ev.fields.get("status_notes") else "")
        writes.transition(incident_id, "source_close", f"source:{ev.source_id}", note[:500])

    def prepare(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Load the open-incident index before the first input: a second's work at 10 M incidents."""
        self._refresh_index(conn, self.clock())

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
            self.index.load(conn, now)
            self._index_at = now
        self.index.expire(now)

    def _prepare_rules(self, ruleset, fresh: list) -> tuple[list, list, list]:
        """Per fresh event: the decisions made ahead with this very rule set (else None), and for the rest the
        keyword contexts and model predictions `evaluate` takes, computed for them together."""
        identity = ruleset.identity
        made = [ahead[1] if ahead is not None and ahead[0] == identity else None for _, _, ahead in fresh]
        todo = [at for at, decisions in enumerate(made) if decisions is None]
        contexts: list = [None] * len(fresh)
        predictions: list = [None] * len(fresh)
        events = [fresh[at][1] for at in todo]
        for at, ctx, prediction in zip(todo, ruleset.contexts(events), self._predictions(ruleset, events),
                                       strict=True):
            contexts[at], predictions[at] = ctx, prediction
        return made, contexts, predictions

    def _predictions(self, ruleset, events: list[Event]) -> list:
        """The text model's answers for the batch's texts in one pass (asking per text costs ~3x as much)."""
        try:
            return ruleset.predictions(events)
        except Exception:  # noqa: BLE001 - without predictions every text is still classified, one at a time
            log.exception("text model batch prediction failed; classifying texts one by one")
            return [None] * len(events)

    def _decide(self, ev: Event, ruleset, ctx, prediction=None, made: list[Decision] | None = None) -> list[Decision]:
        if ev.source == "system":
            return [system_decision(ev, self.cfg)] if ev.kind == "feed_silent" else []
        if ev.fields.get("mapped"):
            return [mapped_decision(ev, self.cfg)]
        if made is not None:  # decided ahead with this rule set; no `for` rule could have seen the event
            return made
        if self._rule_state is None or self._rules_version != self.rules.version:
            self._rule_state = RuleState()
            self._rules_version = self.rules.version
        try:
            return ruleset.evaluate(ev, self._rule_state, prediction, ctx)
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

        return active_suppression(ev, decision, self._suppressions, now)

    def _apply_decision(self, conn, ev: Event, decision: Decision, now: datetime, writes: BatchRows,
                        result: BatchResult) -> int | None:
        if decision.clears:
            target = self.index.by_dedup.get(decision.dedup_key) if decision.dedup_key else None
            if target is not None:
                writes.cleared(target, ev, decision, now, ev.source == "system" or decision.auto_resolve)
            return target
        if ev.fields.get("closed_at_source"):  # already done at the source: its own record, closed at once
            return self._create(conn, ev, decision, now, writes)
        if decision.dedup_key:
            target = self.index.by_dedup.get(decision.dedup_key)
            inc = self.index.by_id.get(target) if target is not None else None
            window = decision.dedup_window or timedelta(hours=1)
            if inc is not None and now - inc.last_report_at <= window:
                writes.bump(inc, ev, now, correlated=False, burst_from=self._burst(inc, now))
                self.index.touch(inc)
                return inc.incident_id
        inc = self._correlate(ev, decision)
        if inc is not None:
            writes.bump(inc, ev, now, correlated=True)
            self.index.touch(inc)
            return inc.incident_id
        return self._create(conn, ev, decision, now, writes)

    def _burst(self, inc: OpenIncident, now: datetime) -> int | None:
        """None inside a running burst; else (a new burst) how many reports the previous one had (0: none)."""
        started = self._bursts.get(inc.incident_id)
        if started is not None and now - inc.last_report_at <= BURST_GAP:
            return None
        self._bursts[inc.incident_id] = inc.report_count + 1
        return inc.report_count - started + 1 if started is not None else 0

    def _correlate(self, ev: Event, decision: Decision) -> OpenIncident | None:
        if decision.domain == UNCLASSIFIED:
            return None
        # The index holds incidents reported within one window of now, and a match needs the event within
        # one window of that report: an older event (a backfill, a late file) cannot match, so skip the scan
        # (with thousands of backfilled incidents in the index it was quadratic).
        if ev.occurred_at < self._live_from:
            return None
        return self.index.match(ev, decision)

    def _create(self, conn, ev: Event, decision: Decision, now: datetime, writes: BatchRows) -> int:
        incident_id = self.store.allocate_ids(conn, "incidents", 1)
        if ev.fields.get("outside_area"):  # kept by configuration, filed under the district but marked
            decision = dataclasses.replace(decision, title=f"【区外】{decision.title}")
        area = ev.area_code or self.cfg.site.default_area
        key = (decision.domain, decision.severity, decision.category)
        due = self._deadlines.get(key)
        if due is None:
            due = self._deadlines[key] = (self.policy.ack_due(*key, now), self.policy.resolve_due(*key, now))
        ack_due, resolve_due = due
        writes.create(incident_id, ev, decision, area, now, ack_due, resolve_due)
        place = ev.occurred_at >= self._live_from  # a backfill is placed nowhere (see apply)
        if place or decision.dedup_key:  # else nothing could find it (OpenIndex.add): not even built
            self.index.add(OpenIncident(incident_id, decision.domain, decision.dedup_key, area, ev.lat, ev.lon, now,
                                        1, [ev.source]), place=place)
        return incident_id

    # --- hotline updates ------------------------------------------------------------------------

    def _hotline_originals(self, conn, events: list[Event]) -> dict:
        """(source_id, request_id) -> incident of requests seen before, so an update joins its incident."""
        wanted = {key_hash(ev.source_id, str(ev.fields["request_id"])): (ev.source_id, ev.fields["request_id"])
                  for ev in events if ev.source == "hotline" and ev.fields.get("request_id") is not None}
        if not wanted:
            return {}
        rows = dict(_with_keys(conn, wanted, "SELECT ref_hash, min(incident_id) FROM events "
                                            "WHERE ref_hash IN (SELECT h FROM batch_keys) GROUP BY ref_hash"))
        # a key the live table lacks may be an archived request's (a callback result, a reopening): join it
        rows |= self.store.archived_refs.lookup(conn, [h for h in wanted if h not in rows])
        return {wanted[h]: incident_id for h, incident_id in rows.items()}

    def _hotline_update(self, ev: Event, incident_id: int, now: datetime, writes: BatchRows) -> None:
        writes.timeline(incident_id, now, "hotline", "hotline_update", None, None,
                        ev.text or ev.fields.get("status_notes") or "12345工单更新",
                        {"status": ev.fields.get("status"), "natural_key": ev.natural_key})
        satisfied = ev.fields.get("satisfied")
        if isinstance(satisfied, bool):
            writes.satisfaction[incident_id] = satisfied
        if ev.fields.get("closed_at_source"):
            self._source_closed(ev, incident_id, writes)

    # --- dead letters -----------------------------------------------------------------------------

    def _insert_dead_letters(self, conn, dead: list[DeadLetter], now: datetime) -> None:
        if not dead:
            return
        first = self.store.allocate_ids(conn, "dead_letters", len(dead))
        append(conn, "dead_letters", to_arrow(DEAD_LETTER_SCHEMA, (
            range(first, first + len(dead)), [d.received_at or now for d in dead], [d.source_id for d in dead],
            [d.topic for d in dead], [d.reason for d in dead], [d.detail[:2000] for d in dead],
            [bytes(d.raw) for d in dead])))
