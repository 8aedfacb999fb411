"""Live correlation (the pipeline) and the backtest give the same answer on the same events, at any distance."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ops_center.core.config import Config
from ops_center.core.model import Decision, Event
from ops_center.core.sla import SlaPolicy
from ops_center.service.bus import Bus
from ops_center.service.pipeline import Pipeline
from ops_center.store.store import COORDINATE_DECIMALS, Store
from rules.backtest import read_events, replay
from tests.fixtures_rules import BatchlessRuleSet
from tests.test_pipeline import Clock

LAT, LON = 30.6596, 104.0893
AREAS = ("510108002005001", "510108002005002")
M_PER_DEG = 111_195.0  # haversine's metres per degree of latitude


class KindRules(BatchlessRuleSet):
    """Text reports classified by their category field; a sensor repeats under its device's dedup key."""

    version = 1

    def __init__(self, cfg: Config):
        self.cfg = cfg  # replay reads the correlation settings and the default area from here
        self.current = self

    @staticmethod
    def evaluate(ev: Event, state=None, prediction=None, ctx=None) -> list[Decision]:
        domain = ev.category or "fire_safety"
        if ev.source == "sensor":
            return [Decision("s", domain, "alarm", "P2", "street", None, "alarm", dedup_key=f"dev|{ev.device_id}",
                             dedup_window=timedelta(minutes=10))]
        return [Decision("t", domain, "report", "P3", "community", None, ev.text or "report")]


@dataclass(frozen=True)
class Outcome:
    created: int
    correlated: int
    bumped: int


def with_distance(cfg: Config, distance_m: float) -> Config:
    corr = cfg.rules.correlation.model_copy(update={"distance_m": distance_m})
    return cfg.model_copy(update={"rules": cfg.rules.model_copy(update={"correlation": corr})})


def live_and_backtest(cfg: Config, db_path, events: list[Event]) -> tuple[Outcome, Outcome]:
    """Feed the events to the real pipeline one commit each (its clock at each event's time), then replay
    what it stored through the backtest."""
    rules = KindRules(cfg)
    clock = Clock(events[0].occurred_at)
    store, bus = Store(db_path), Bus()
    pipeline = Pipeline(store, bus, cfg, rules, SlaPolicy(cfg), clock).start()
    try:
        for ev in events:
            clock.now = ev.occurred_at
            pipeline.submit(ev)
            pipeline.flush()
        created, reports = store.query("SELECT count(*), coalesce(sum(report_count), 0) FROM incidents")[0]
        correlated = store.query("SELECT count(*) FROM incident_timeline WHERE action = 'correlated'")[0][0]
    finally:
        pipeline.stop()
        bus.close()
        store.close()
    live = Outcome(created, correlated, reports - created - correlated)
    conn = duckdb.connect(str(db_path), read_only=True)
    try:
        table = read_events(conn, events[0].occurred_at - timedelta(seconds=1))
    finally:
        conn.close()
    assert table.num_rows == len(events)
    summary = replay(table, rules)
    return live, Outcome(summary.created, summary.correlated, summary.bumped)


def report(n: int, at, north_m: float = 0.0, east_m: float = 0.0, source: str = "hotline",
           domain: str = "fire_safety", area: str | None = AREAS[0], located: bool = True,
           device: str | None = None) -> Event:
    lat = round(LAT + north_m / M_PER_DEG, COORDINATE_DECIMALS) if located else None
    lon = round(LON + east_m / (M_PER_DEG * math.cos(math.radians(LAT))), COORDINATE_DECIMALS) if located else None
    return Event(source=source, source_id=f"{source}_src", natural_key=f"n{n}", occurred_at=at, received_at=at,
                 kind="smoke" if source == "sensor" else None, device_id=device, event="alarm" if device else None,
                 text=None if source == "sensor" else f"report {n}", category=domain, area_code=area, lat=lat, lon=lon)


def test_a_report_1500_m_away_joins_at_distance_2000_live_and_in_backtest(cfg, db_path, fixed_now):
    events = [report(1, fixed_now, source="sensor", device="S-1", area=AREAS[0]),
              report(2, fixed_now + timedelta(minutes=5), north_m=1_500, source="hotline", area=AREAS[1])]
    live, backtest = live_and_backtest(with_distance(cfg, 2_000), db_path, events)
    assert live == backtest == Outcome(created=1, correlated=1, bumped=0)


def test_a_report_just_beyond_the_distance_opens_its_own_incident_live_and_in_backtest(cfg, db_path, fixed_now):
    events = [report(1, fixed_now, source="sensor", device="S-1", area=AREAS[0]),
              report(2, fixed_now + timedelta(minutes=5), north_m=2_010, source="hotline", area=AREAS[1])]
    live, backtest = live_and_backtest(with_distance(cfg, 2_000), db_path, events)
    assert live == backtest == Outcome(created=2, correlated=0, bumped=0)


def test_shipped_distance_still_joins_near_reports_only(cfg, db_path, fixed_now):
    near_and_far = [report(1, fixed_now, source="sensor", device="S-1"),
                    report(2, fixed_now + timedelta(minutes=1), north_m=250, source="grid", area=AREAS[1]),
                    report(3, fixed_now + timedelta(minutes=2), east_m=1_500, source="hotline", area=AREAS[1])]
    live, backtest = live_and_backtest(cfg, db_path, near_and_far)
    assert cfg.rules.correlation.distance_m < 1_000
    assert live == backtest == Outcome(created=2, correlated=1, bumped=0)


_report = st.fixed_dictionaries({
    "gap_s": st.sampled_from((0, 20, 90, 600, 1_500, 2_400)),
    "north_m": st.floats(-3_000, 3_000, allow_nan=False),
    "east_m": st.floats(-3_000, 3_000, allow_nan=False),
    "source": st.sampled_from(("sensor", "grid", "hotline")),
    "domain": st.sampled_from(("fire_safety", "traffic")),
    "area": st.sampled_from(AREAS),
    "located": st.booleans(),
    "device": st.sampled_from(("S-1", "S-2")),
})


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(distance_m=st.sampled_from((150.0, 600.0, 2_000.0)), drawn=st.lists(_report, min_size=2, max_size=14))
def test_live_and_backtest_agree_on_any_event_stream(cfg, tmp_path_factory, fixed_now, distance_m, drawn):
    at, events = fixed_now, []
    for n, r in enumerate(drawn):
        at += timedelta(seconds=r["gap_s"])
        events.append(report(n, at, r["north_m"], r["east_m"], r["source"], r["domain"], r["area"], r["located"],
                             r["device"] if r["source"] == "sensor" else None))
    db_path = tmp_path_factory.mktemp("agree") / "ops.duckdb"
    live, backtest = live_and_backtest(with_distance(cfg, distance_m), db_path, events)
    assert live == backtest
    assert live.created + live.correlated + live.bumped == len(events)
