"""The correlation index and the backtest's fast paths agree with the plain code: Places with a full scan,
Arrow with pandas."""

from __future__ import annotations

import random
from datetime import timedelta

import pyarrow as pa
import pytest

from ops_center.core.model import Decision
from rules.backtest import events_from_arrow, events_from_df, read_events, replay
from rules.correlate import Places, Reported, best_match
from tests.fixtures_rules import T0, make_event
from tests.test_rules_backtest import backtest_db  # noqa: F401  (fixture)

WINDOW = timedelta(minutes=30)
DOMAINS = ("fire_safety", "traffic")
AREAS = ("A1", "A2", None)


def _random_events(rng: random.Random, lat0: float, lon0: float, n: int, spread: float) -> list:
    """Reports scattered over a few cells and ~2 windows, some without a point or an area."""
    at, out = T0, []
    for i in range(n):
        at += timedelta(seconds=rng.choice((0, 5, 40, 300)))
        located = rng.random() > 0.15
        lat = lat0 + rng.uniform(-spread, spread) if located else None
        lon = lon0 + rng.uniform(-spread, spread) if located else None
        if located and rng.random() < 0.05:
            lon = None  # half a point counts as none
        out.append((rng.choice(DOMAINS), make_event(rng.choice(("sensor", "grid")), at=at, natural_key=f"n{i}",
                                                    lat=lat, lon=lon, area_code=rng.choice(AREAS))))
    return out


@pytest.mark.parametrize(("lat0", "lon0", "distance_m"), [
    (30.6596, 104.0893, 300.0),  # Chengdu, the shipped distance
    (30.6596, 104.0893, 900.0),
    (30.6596, 104.0893, 2000.0),  # far wider than the old fixed 3 × 3 cells (≈ 480 m each) reached
    (30.6596, 104.0893, 40.0),
    (-33.87, -151.21, 300.0),  # negative cells
    (64.15, -21.94, 500.0),  # far north: a cell is narrow in metres, the box wide in degrees
])
def test_places_finds_what_a_full_scan_finds(lat0, lon0, distance_m):
    """Places.match (cells near the point) picks exactly what best_match over every incident picks."""
    rng = random.Random(f"{lat0}{distance_m}")
    places, seen, joined = Places(distance_m, WINDOW), [], 0
    spread = max(0.012, 3 * distance_m / 111_000)
    for domain, ev in _random_events(rng, lat0, lon0, 1500, spread):
        places.expire(ev.occurred_at)
        decision = Decision("r", domain, "c", "P3", "community", None, "t")
        expected = best_match(ev, decision, seen, distance_m, WINDOW)
        assert places.match(ev, decision) is expected, (domain, ev)
        if expected is None:
            inc = Reported(len(seen) + 1, domain, ev.lat, ev.lon, ev.area_code, ev.occurred_at, [ev.source])
            seen.append(inc)
        else:
            joined += 1
            inc = expected
            inc.last_report_at = ev.occurred_at
            if ev.source not in inc.sources:
                inc.sources.append(ev.source)
        places.touch(inc)
    assert 0 < joined < 1500  # both answers were exercised


def test_arrow_and_pandas_give_the_same_events_and_replay(shipped, backtest_db):  # noqa: F811
    db, df = backtest_db
    import duckdb

    conn = duckdb.connect(str(db), read_only=True)
    try:
        table = read_events(conn, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    finally:
        conn.close()
    assert events_from_arrow(table) == events_from_df(df)
    by_arrow, by_pandas = replay(table, shipped), replay(df, shipped)
    assert (by_arrow.created, by_arrow.bumped, by_arrow.correlated, by_arrow.cleared) == (
        by_pandas.created, by_pandas.bumped, by_pandas.correlated, by_pandas.cleared)
    assert by_arrow.event_rule_ids == by_pandas.event_rule_ids


def test_arrow_input_is_sorted_and_nan_is_none(shipped, backtest_db):  # noqa: F811
    _, df = backtest_db
    shuffled = pa.Table.from_pandas(df.iloc[::-1].reset_index(drop=True), preserve_index=False)
    shuffled = shuffled.set_column(shuffled.column_names.index("lat"), "lat",
                                   pa.array([float("nan")] + [30.6596] * (len(df) - 1)))
    events = events_from_arrow(shuffled)
    assert events[0].lat is None and events[1].lat == 30.6596
    assert replay(shuffled, shipped).event_rule_ids == replay(df, shipped).event_rule_ids
