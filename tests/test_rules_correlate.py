"""Correlation: a sensor alarm, a 12345 call and a grid report of one event join one incident."""

from __future__ import annotations

from datetime import timedelta

from ops_center.core.model import Decision
from rules.correlate import Candidate, find_match, haversine_m
from tests.fixtures_rules import T0, make_event, reading, text

WINDOW = timedelta(minutes=30)
LAT, LON = 30.6596, 104.08928


def decision(domain: str = "fire_safety") -> Decision:
    return Decision("r", domain, "smoke_alarm", "P2", "street", "fire", "t")


def test_haversine_is_metres():
    assert abs(haversine_m(LAT, LON, LAT + 0.001, LON) - 111.2) < 0.5


def test_sensor_hotline_and_grid_reports_end_in_one_incident(shipped):
    """Replays the pipeline's loop: the first report opens an incident, the next two find it."""
    smoke = reading("smoke", "S-1", event="alarm", lat=LAT, lon=LON)
    call = text("建设路一栋居民楼五楼着火了，窗户往外冒烟", at=T0 + timedelta(minutes=4),
                lat=LAT + 0.0008, lon=LON + 0.0005)
    grid = make_event("grid", at=T0 + timedelta(minutes=9), text="巡查发现居民楼起火，已疏散", lat=LAT - 0.0004, lon=LON)
    open_incidents: list[Candidate] = []
    joined = []
    for ev in (smoke, call, grid):
        (d,) = shipped.evaluate(ev)
        assert d.domain == "fire_safety"
        match = find_match(ev, d, open_incidents, 300, WINDOW)
        if match is None:
            open_incidents.append(Candidate(len(open_incidents) + 1, d.domain, ev.lat, ev.lon, ev.occurred_at,
                                            (ev.source,)))
        else:
            inc = open_incidents[match - 1]
            open_incidents[match - 1] = Candidate(inc.incident_id, inc.domain, inc.lat, inc.lon, ev.occurred_at,
                                                  inc.sources + (ev.source,))
        joined.append(match)
    assert joined == [None, 1, 1]
    assert len(open_incidents) == 1 and open_incidents[0].sources == ("sensor", "hotline", "grid")


def test_other_domain_far_away_or_too_old_do_not_match():
    ev = text("着火了", lat=LAT, lon=LON)
    far = Candidate(1, "fire_safety", LAT + 0.01, LON, T0, ("sensor",))  # ~1.1 km
    old = Candidate(2, "fire_safety", LAT, LON, T0 - timedelta(minutes=31), ("sensor",))
    other = Candidate(3, "environment", LAT, LON, T0, ("sensor",))
    assert find_match(ev, decision(), [far, old, other], 300, WINDOW) is None
    assert find_match(ev, decision(), [far, old, other, Candidate(4, "fire_safety", LAT, LON, T0, ())], 300, WINDOW) == 4


def test_prefers_an_incident_missing_this_source_then_the_nearest():
    ev = text("着火了", lat=LAT, lon=LON)
    near_same_source = Candidate(1, "fire_safety", LAT, LON, T0, ("hotline",))
    farther_new_source = Candidate(2, "fire_safety", LAT + 0.002, LON, T0, ("sensor",))
    nearest_new_source = Candidate(3, "fire_safety", LAT + 0.001, LON, T0, ("sensor",))
    cands = [near_same_source, farther_new_source, nearest_new_source]
    assert find_match(ev, decision(), cands, 300, WINDOW) == 3
    assert find_match(ev, decision(), cands[:1], 300, WINDOW) == 1


def test_area_code_stands_in_for_missing_coordinates_and_dicts_work():
    ev = text("着火了")  # no lat/lon; area code from the fixture
    cand = {"incident_id": 7, "domain": "fire_safety", "lat": None, "lon": None, "area_code": ev.area_code,
            "last_report_at": (T0 - timedelta(minutes=5)).replace(tzinfo=None), "sources": ["sensor"]}
    assert find_match(ev, decision(), [cand], 300, WINDOW) == 7
    assert find_match(ev, decision(), [dict(cand, area_code="510108004003001")], 300, WINDOW) is None


def test_unclassified_and_clears_never_correlate():
    ev = text("不知道找谁", lat=LAT, lon=LON)
    cand = Candidate(1, "unclassified", LAT, LON, T0, ())
    assert find_match(ev, Decision("unclassified", "unclassified", "unclassified", "P3", "community", None, "t"),
                      [cand], 300, WINDOW) is None
    clear = Decision("r", "fire_safety", "c", "P4", "street", "fire", "t", clears=True)
    assert find_match(ev, clear, [Candidate(2, "fire_safety", LAT, LON, T0, ())], 300, WINDOW) is None
