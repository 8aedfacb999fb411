"""The wall's in-memory hot set gives exactly what the old SQL over every stored incident gave, and stays so."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

from ops_center.core.domains import DOMAIN_CODES
from ops_center.core.model import Decision, Event
from ops_center.core.sla import SlaPolicy
from ops_center.read import queries
from ops_center.read.hot_incidents import HotIncidents
from ops_center.service.bus import EventsCommitted
from ops_center.service.incidents import Actor, IncidentService
from ops_center.service.pipeline import Pipeline
from ops_center.store.store import to_db
from tests.factories import FixedClock, make_incident, make_incidents
from tests.fixtures_ingest import wait_until
from tests.fixtures_rules import BatchlessRuleSet

TZ = "Asia/Shanghai"
ADMIN = Actor("admin", "admin", "510100")
CHECKER = Actor("admin2", "admin", "510100")
SCOPES = [(None, None), ("510108002", None), (None, "510108004"), ("510108004003", None), ("999", None)]

# The oracle: the wall's queries as they ran over the stored incidents before the hot set (one tie-break
# added, incident_id DESC, so equal urgency and creation time order the same way in both).
ORACLE_AGG_SQL = """
WITH hot AS (
    SELECT domain, street_code, status, overdue, ack_overdue, ack_due_at, resolve_due_at, created_at, hung_kind
    FROM incidents
    WHERE status IN ('new', 'acknowledged', 'dispatched') AND ($scope IS NULL OR starts_with(area_code, $scope))
    UNION ALL
    SELECT domain, street_code, status, overdue, ack_overdue, ack_due_at, resolve_due_at, created_at, hung_kind
    FROM incidents
    WHERE created_at >= $since AND status NOT IN ('new', 'acknowledged', 'dispatched', 'merged')
      AND ($scope IS NULL OR starts_with(area_code, $scope))
)
SELECT domain, street_code,
       status IN ('new', 'acknowledged', 'dispatched') AS is_open,
       (status IN ('new', 'acknowledged', 'dispatched') AND (coalesce(overdue, false)
    OR coalesce(ack_overdue, false) OR (status = 'new' AND ack_due_at < $now) OR (resolve_due_at < $now AND hung_kind IS NULL))) AS is_overdue,
       created_at >= $today AS is_today,
       CASE WHEN created_at >= $since THEN CAST(floor(epoch($now - created_at) / 3600) AS INTEGER) END AS hours_ago,
       count(*) AS n
FROM hot
GROUP BY ALL
"""
ORACLE_ROWS_SQL = """
SELECT incident_id, status, domain, severity, title, area_code, street_code, lat, lon, created_at,
       ack_due_at, resolve_due_at, (status IN ('new', 'acknowledged', 'dispatched') AND (coalesce(overdue, false)
    OR coalesce(ack_overdue, false) OR (status = 'new' AND ack_due_at < $now) OR (resolve_due_at < $now AND hung_kind IS NULL))) AS overdue_now,
       CASE WHEN status = 'new' THEN ack_due_at ELSE resolve_due_at END AS next_due
FROM incidents
WHERE status IN ('new', 'acknowledged', 'dispatched')
  AND ($area IS NULL OR starts_with(area_code, $area))
ORDER BY severity = 'P1' DESC, overdue_now DESC, next_due NULLS LAST, created_at DESC, incident_id DESC
LIMIT $limit
"""


def oracle(store, now, scope=None, focus=None, limit=queries.WALL_MARKER_LIMIT) -> queries.WallData:
    params = {"now": to_db(now), "today": to_db(queries.local_midnight(now, TZ)),
              "since": to_db(now - timedelta(hours=24)), "scope": focus or scope}  # patrol narrows the counts too
    counts = store.query_df(ORACLE_AGG_SQL, params)
    rows = store.query_df(ORACLE_ROWS_SQL, {"now": params["now"], "area": focus or scope, "limit": limit})
    return queries.WallData(counts, queries._aware(rows))


def records(df: pd.DataFrame, sort: bool = False) -> list[tuple]:
    """Plain Python values (every NULL as None), so dtypes that hold the same values compare equal."""
    out = [tuple(None if _missing(v) else (v.item() if hasattr(v, "item") else v) for v in row)
           for row in df.astype(object).itertuples(index=False)]
    return sorted(out, key=repr) if sort else out


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


def assert_same(hot, store, now, scope=None, focus=None, limit=queries.WALL_MARKER_LIMIT) -> queries.WallData:
    hot.columns(now, fresh=True)  # all the bus announced is in (the catch-up thread may not have run yet)
    got = queries.wall_data(hot, now, TZ, scope, focus, limit)
    want = oracle(store, now, scope, focus, limit)
    assert list(got.counts.columns) == list(want.counts.columns)
    assert records(got.counts, sort=True) == records(want.counts, sort=True)
    assert list(got.rows.columns) == list(want.rows.columns)
    assert records(got.rows) == records(want.rows)
    a, b = queries.summarize_wall(got), old_summary(want)
    assert (a.totals, a.domains, a.street_load, a.p1_open) == (b.totals, b.domains, b.street_load, b.p1_open)
    assert records(a.markers) == records(b.markers) and records(a.urgent) == records(b.urgent)
    return got


def old_summary(data: queries.WallData, limit: int = queries.WALL_LIST_LIMIT) -> queries.WallSummary:
    """summarize_wall as it was (a pandas pass per domain): the oracle for the numpy one."""
    c = data.counts
    n = c["n"] if not c.empty else pd.Series([], dtype=int)

    def total(mask: Any) -> int:
        return int(n[mask].sum()) if not c.empty else 0

    totals = {"new_today": total(c["is_today"]) if not c.empty else 0,
              "open": total(c["is_open"]) if not c.empty else 0,
              "overdue": total(c["is_overdue"].fillna(False)) if not c.empty else 0}
    domains: dict[str, dict[str, Any]] = {}
    for code in DOMAIN_CODES:
        spark = [0] * 24
        if c.empty:
            domains[code] = {"open": 0, "overdue": 0, "today": 0, "spark": spark}
            continue
        mine = c[c["domain"] == code]
        for hours_ago, count in mine.dropna(subset=["hours_ago"]).groupby("hours_ago")["n"].sum().items():
            if 0 <= int(hours_ago) < 24:
                spark[23 - int(hours_ago)] += int(count)
        domains[code] = {
            "open": int(mine.loc[mine["is_open"], "n"].sum()),
            "overdue": int(mine.loc[mine["is_overdue"].fillna(False).astype(bool), "n"].sum()),
            "today": int(mine.loc[mine["is_today"], "n"].sum()),
            "spark": spark,
        }
    street_load: dict[str, int] = {}
    if not c.empty:
        load = c[c["is_open"]].groupby("street_code")["n"].sum()
        street_load = {str(k): int(v) for k, v in load.items()}
    rows = data.rows
    markers = rows[["incident_id", "domain", "severity", "title", "area_code", "lat", "lon", "status"]]
    p1 = tuple(int(i) for i in rows.loc[rows["severity"] == "P1", "incident_id"]) if not rows.empty else ()
    return queries.WallSummary(totals, domains, street_load, markers, rows.head(limit), p1)


def seed(store, cfg, now) -> dict[str, int]:
    """Open, recently closed, old closed, merged, overdue, deadline-less and future incidents across scopes."""
    h = timedelta(hours=1)
    specs = {
        "new": dict(status="new", area_code="510108002005001", created_at=now - 2 * h, lat=30.66, lon=104.08),
        "ack": dict(status="acknowledged", domain="traffic", area_code="510108004003001", created_at=now - 5 * h),
        "dispatched_old": dict(status="dispatched", domain="environment", area_code="510108004",
                               created_at=now - 300 * h, department="eco_env"),
        "p1": dict(status="new", severity="P1", area_code="510108006", created_at=now - 10 * timedelta(minutes=1)),
        "p1_late": dict(status="dispatched", severity="P1", domain="public_security", area_code="510108002",
                        created_at=now - 50 * h),
        "flag_overdue": dict(status="dispatched", domain="city_management", area_code="510108007", overdue=True,
                             created_at=now - 3 * h),
        "ack_overdue": dict(status="new", domain="elderly_care", area_code="510108008", ack_overdue=True,
                            created_at=now - 1 * h),
        "no_ack_due": dict(status="new", domain="traffic", area_code="510108010", ack_due_at=None,
                           created_at=now - 4 * h),
        "no_deadlines": dict(status="acknowledged", domain="unclassified", area_code="510108002", ack_due_at=None,
                             resolve_due_at=None, created_at=now - 6 * h),
        "closed_recent": dict(status="closed", domain="traffic", area_code="510108004", created_at=now - 3 * h),
        "resolved_recent": dict(status="resolved", domain="fire_safety", area_code="510108002", created_at=now - 23 * h),
        "false_alarm": dict(status="false_alarm", area_code="510108006", created_at=now - 7 * h),
        "closed_old": dict(status="closed", area_code="510108002", created_at=now - 30 * h),
        "merged_recent": dict(status="merged", area_code="510108002", created_at=now - 2 * h),
        "before_midnight": dict(status="closed", domain="environment", area_code="510108007",
                                created_at=now - 11 * h),
        "future": dict(status="new", domain="traffic", area_code="510108004", created_at=now + 2 * h),
        "same_time_a": dict(status="acknowledged", domain="traffic", area_code="510108008", created_at=now - 8 * h),
        "same_time_b": dict(status="acknowledged", domain="traffic", area_code="510108008", created_at=now - 8 * h),
        "hung_late": dict(status="dispatched", domain="city_management", area_code="510108004", department="urban_mgmt",
                          created_at=now - 300 * h),
    }
    ids = make_incidents(store, cfg, list(specs.values()), now=now)
    seeded = dict(zip(specs, ids, strict=True))
    # 挂账: past its resolve deadline, but never late on the wall (nor in 超期数)
    store.write(lambda conn: conn.execute("UPDATE incidents SET hung_kind = 'engineering', hung_at = created_at "
                                          "WHERE incident_id = ?", [seeded["hung_late"]]))
    return seeded


@pytest.fixture
def clock(fixed_now):
    return FixedClock(fixed_now)


@pytest.fixture
def hot(store, bus, clock):
    hot = HotIncidents(store, clock=clock).attach(bus)
    yield hot
    hot.close()


@pytest.fixture
def seeded(store, cfg, fixed_now):
    return seed(store, cfg, fixed_now)


@pytest.mark.parametrize(("scope", "focus"), SCOPES)
def test_hot_set_gives_what_the_stored_query_gives(hot, store, seeded, fixed_now, scope, focus):
    data = assert_same(hot, store, fixed_now, scope, focus)
    if scope is None and focus is None:
        assert seeded["closed_old"] not in set(data.rows["incident_id"])
        assert data.counts["n"].sum() == len(seeded) - 2  # all but the old closed one and the merged one


def test_limit_cuts_the_same_rows(hot, store, seeded, fixed_now):
    assert_same(hot, store, fixed_now, limit=3)


def test_empty_store(hot, store, fixed_now):
    data = assert_same(hot, store, fixed_now)
    assert data.counts.empty and data.rows.empty
    summary = queries.summarize_wall(data)
    assert summary.totals == {"new_today": 0, "open": 0, "overdue": 0}
    assert summary.domains[DOMAIN_CODES[0]] == {"open": 0, "overdue": 0, "today": 0, "spark": [0] * 24}


def test_human_actions_published_on_the_bus_reach_the_hot_set(hot, store, bus, cfg, clock, seeded):
    service = IncidentService(store, bus, cfg, clock)
    assert_same(hot, store, clock.now)  # loaded before anything changes
    version = {k: 1 for k in seeded}
    service.acknowledge(ADMIN, seeded["new"], version["new"])
    service.dispatch(ADMIN, seeded["ack"], 1, "traffic_police")
    service.false_alarm(ADMIN, seeded["p1"], 1, note="现场无异常")
    service.merge(ADMIN, seeded["same_time_a"], 1, seeded["same_time_b"])
    service.set_domain(ADMIN, seeded["no_deadlines"], 1, "city_management")
    service.escalate(ADMIN, seeded["no_ack_due"], 1)
    row = service.resolve(ADMIN, seeded["flag_overdue"], 1, note="已处置")
    service.close(CHECKER, seeded["flag_overdue"], row["version"])  # never the resolver
    service.reopen(ADMIN, seeded["closed_old"], 1, note="市民反映未解决")  # an old closed incident comes back into the window
    bus.drain()
    assert_same(hot, store, clock.now)
    assert_same(hot, store, clock.now, "510108002")


def test_sla_sweep_and_factory_rows_announced_by_commit(hot, store, bus, cfg, clock, seeded):
    from ops_center.wiring.scheduler import run_sweep
    from tests.fixtures_web import build_service

    assert_same(hot, store, clock.now)
    ctx = type("Ctx", (), {"store": store, "bus": bus, "cfg": cfg, "clock": clock,
                           "service": build_service(store, bus, cfg, clock)})()
    assert run_sweep(ctx, clock.advance(hours=20))  # deadlines pass: warnings, escalations, 超期
    fresh = make_incident(store, cfg, now=clock.now, domain="fire_safety", severity="P1", area_code="510108002")
    bus.publish([EventsCommitted(clock.now, 1, (fresh,))])
    bus.drain()
    data = assert_same(hot, store, clock.now)
    assert fresh in set(data.rows["incident_id"])


def test_pipeline_commits_reach_the_hot_set(hot, store, bus, cfg, clock):
    pipeline = Pipeline(store, bus, cfg, _SmokeRules(), SlaPolicy(cfg), clock).start()
    try:
        assert_same(hot, store, clock.now)
        for n in range(3):
            pipeline.submit(_smoke(n, clock.now, f"SMK-000{n}"))
        pipeline.submit(_smoke(9, clock.now, "SMK-0001"))  # a repeat bumps the open incident
        pipeline.flush()
        bus.drain()
        assert_same(hot, store, clock.now)
        # A feed coming back resolves its feed_silent incident with no IncidentTransitioned: the commit's ids carry it.
        silent = Event(source="system", source_id="mqtt_grid", natural_key="feed_silent|1", occurred_at=clock.now,
                       received_at=clock.now, kind="feed_silent", event="alarm")
        pipeline.submit(silent)
        pipeline.flush()
        bus.drain()
        assert_same(hot, store, clock.now)
        pipeline.submit(Event(source="system", source_id="mqtt_grid", natural_key="feed_restored|1",
                              occurred_at=clock.now, received_at=clock.now, kind="feed_silent", event="restore"))
        pipeline.flush()
        bus.drain()
        data = assert_same(hot, store, clock.now)
        assert "resolved" not in set(data.rows["status"])
    finally:
        pipeline.stop()


def test_window_slides_forward_and_a_clock_going_back_reloads(hot, store, seeded, fixed_now):
    for hours in (0, 1, 20, 23, 25, 30, -2, 300):
        assert_same(hot, store, fixed_now + timedelta(hours=hours))


def test_reads_touch_only_changed_rows(store, bus, cfg, seeded, clock):
    spy = _CountingStore(store)
    hot = HotIncidents(spy, clock=clock).attach(bus)
    try:
        hot.columns(clock.now)
        hot.columns(clock.now + timedelta(seconds=1))
        assert spy.reads == 1  # loaded once; nothing changed, nothing read
        bus.publish([EventsCommitted(clock.now, 1, (seeded["new"], seeded["ack"]))])
        bus.drain()
        hot.columns(clock.now + timedelta(seconds=2), fresh=True)
        assert spy.reads == 2  # one id-pruned read, by the catch-up thread or this fresh read
        clock.advance(minutes=6)
        bus.publish([EventsCommitted(clock.now, 0, ())])  # wakes the catch-up thread: its safety-net reload is due
        wait_until(lambda: spy.reads == 3, what="the safety-net reload")
    finally:
        hot.close()


def test_the_catch_up_thread_merges_without_a_reader_waiting(hot, store, bus, cfg, clock, seeded):
    service = IncidentService(store, bus, cfg, clock)
    before = hot.columns(clock.now)
    version = hot.version
    service.acknowledge(ADMIN, seeded["new"], 1)
    wait_until(lambda: hot.version > version, what="the catch-up merge")
    after = hot.columns(clock.now)
    status = after.decode("status", after["status"][after["incident_id"] == seeded["new"]])
    assert list(status) == ["acknowledged"] and before is not after
    thread = hot._thread
    hot.close()
    assert not thread.is_alive()


def test_views_are_drawn_with_each_snapshot_off_the_request_path(hot, store, bus, cfg, clock, seeded):
    drawn: list[tuple[int, str]] = []

    def compute(cols, now):
        drawn.append((cols.version, threading.current_thread().name))
        return cols.version

    assert hot.view("k", clock.now, compute) == hot.view("k", clock.now, compute) == hot.version
    assert len(drawn) == 1  # memoized per snapshot
    version = hot.version
    IncidentService(store, bus, cfg, clock).acknowledge(ADMIN, seeded["new"], 1)
    wait_until(lambda: hot.version > version, what="the catch-up merge")
    assert hot.view("k", clock.now, compute) == hot.version
    assert drawn[-1] == (hot.version, "wall-hot-set")  # drawn by the catch-up thread with the snapshot
    clock.advance(seconds=3)
    assert hot.view("k", clock.now, compute) == hot.version and drawn[-1][1] == threading.current_thread().name


def test_events_before_the_first_load_are_not_kept(hot, bus, fixed_now):
    bus.publish([EventsCommitted(fixed_now, 1, (1, 2, 3))])
    bus.drain()
    assert not hot._dirty


class _CountingStore:
    """The store, counting cursors opened (one per DuckDB read)."""

    def __init__(self, store):
        self.store, self.reads = store, 0

    def cursor(self):
        self.reads += 1
        return self.store.cursor()


class _SmokeRules:
    """One rule: a smoke alarm opens (or a restore clears) a P1 incident per device."""

    version = 1

    class current(BatchlessRuleSet):  # noqa: N801 - mimics RulesHolder.current
        @staticmethod
        def evaluate(ev: Event, state=None, prediction=None, ctx=None) -> list[Decision]:
            return [Decision("smoke", "fire_safety", "smoke_alarm", "P1", "street", "fire", f"烟感报警 {ev.device_id}",
                             dedup_key=f"smoke|{ev.device_id}", dedup_window=timedelta(minutes=30),
                             clears=ev.event == "restore")]


def _smoke(n: int, at, device: str) -> Event:
    spread = int(device[-4:]) * 0.01
    return Event(source="sensor", source_id="mqtt_sensors", natural_key=f"{device}|{n}", occurred_at=at,
                 received_at=at, kind="smoke", device_id=device, event="alarm", value=1.0, metric="obscuration",
                 area_code="510108002005001", lat=30.6575 + spread, lon=104.0845)
