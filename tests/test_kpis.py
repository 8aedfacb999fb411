"""KPIs on a hand-computed fixture: a week with nine incidents in two streets, every rate worked out below."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from ops_center.read.kpis import KPIS, kpi_sql, kpi_summary, kpi_table
from ops_center.store.store import Store
from tests.factories import grid_outside, make_incidents

SH = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 16, tzinfo=SH)  # Monday
END = datetime(2026, 11, 23, tzinfo=SH)
T = datetime(2026, 11, 17, 10, 0, tzinfo=SH)
M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.fixture
def areas(cfg):
    grid_a = next(a.code for a in cfg.areas.items if len(a.code) == 15)
    return grid_a, grid_outside(cfg, grid_a[:9])


@pytest.fixture
def store(db_path, cfg, areas, fixed_now):
    a, b = areas
    fire = dict(domain="fire_safety", severity="P2", area_code=a, created_at=T)  # acknowledge 10 m, resolve 4 h
    env = dict(domain="environment", severity="P2", area_code=b, created_at=T)  # acknowledge 30 m, resolve 12 h
    specs = [
        # Street A
        dict(fire, status="closed", acknowledged_at=T + 5 * M, dispatched_at=T + 6 * M, resolved_at=T + 2 * H,
             closed_at=T + 3 * H, satisfied=True),  # A1: on time throughout
        dict(fire, status="resolved", acknowledged_at=T + 20 * M, dispatched_at=T + 30 * M, resolved_at=T + 5 * H,
             ack_overdue=True, overdue=True, verify_failures=1, satisfied=False),  # A2: late twice, reworked
        dict(fire, status="new", ack_overdue=True, overdue=True, report_count=3),  # A3: never acknowledged
        dict(fire, status="false_alarm"),  # A4: excluded but counted as a false alarm
        dict(fire, status="merged", report_count=5),  # A5: excluded entirely
        dict(domain="public_security", severity="P2", area_code=a, created_at=T + D, status="dispatched",
             acknowledged_at=T + D + 10 * M, dispatched_at=T + D + 20 * M, satisfied=True),  # A6: open, overdue by END
        # Street B
        dict(env, status="closed", acknowledged_at=T + 10 * M, dispatched_at=T + 11 * M, resolved_at=T + H,
             closed_at=T + 2 * H, satisfied=True),  # B1
        dict(env, status="new", ack_overdue=True, overdue=True),  # B2
        dict(env, created_at=END - 5 * M, status="acknowledged", acknowledged_at=END + M),  # B3: acknowledged after the week
        # Outside the week
        dict(env, created_at=START - H, status="new"),
    ]
    with Store(db_path) as s:
        make_incidents(s, cfg, specs, now=fixed_now)
        yield s


def test_every_kpi_is_documented():
    assert len(KPIS) >= 17
    for kpi in KPIS.values():
        assert "=" in kpi.doc and kpi.name in kpi.doc, kpi.key


def test_by_street(store, areas):
    a, b = areas
    df = kpi_table(store, START, END, "street").set_index("street")
    assert list(df.index) == sorted([a[:9], b[:9]])
    got = df.loc[a[:9]].to_dict()
    assert {k: got[k] for k in ("created", "false_alarms", "acknowledged", "resolved", "open", "overdue",
                                "ack_due")} == dict(created=4, false_alarms=1, acknowledged=3, resolved=2, open=2,
                                                    overdue=3, ack_due=4)
    assert got["ack_on_time_rate"] == pytest.approx(2 / 4)  # A1, A6 of A1 A2 A3 A6
    assert got["resolved_rate"] == pytest.approx(2 / 4)
    assert got["resolved_on_time_rate"] == pytest.approx(1 / 2)
    assert got["mean_ack_minutes"] == pytest.approx((5 + 20 + 10) / 3)
    assert got["median_ack_minutes"] == pytest.approx(10)
    assert got["mean_resolve_minutes"] == pytest.approx((120 + 300) / 2)
    assert got["median_resolve_minutes"] == pytest.approx(210)
    assert got["satisfaction_rate"] == pytest.approx(2 / 3)  # A1 yes, A2 no, A6 yes
    assert got["rework_rate"] == pytest.approx(1 / 2)
    assert got["repeat_rate"] == pytest.approx(1 / 4)  # A3; the merged A5 does not count
    got = df.loc[b[:9]].to_dict()
    assert {k: got[k] for k in ("created", "acknowledged", "resolved", "open", "overdue", "ack_due")} == dict(
        created=3, acknowledged=1, resolved=1, open=2, overdue=1, ack_due=2)
    assert got["ack_on_time_rate"] == pytest.approx(1 / 2)
    assert got["resolved_rate"] == pytest.approx(1 / 3)
    assert got["resolved_on_time_rate"] == pytest.approx(1.0)
    assert got["mean_resolve_minutes"] == pytest.approx(60)
    assert (got["satisfaction_rate"], got["rework_rate"], got["repeat_rate"]) == (1.0, 0.0, 0.0)


def test_district_summary(store, areas):
    got = kpi_summary(store, START, END, area=areas[0][:6])
    assert {k: got[k] for k in ("created", "false_alarms", "acknowledged", "resolved", "open", "overdue")} == dict(
        created=7, false_alarms=1, acknowledged=4, resolved=3, open=4, overdue=4)
    assert got["ack_on_time_rate"] == pytest.approx(3 / 6)
    assert got["resolved_rate"] == pytest.approx(3 / 7)
    assert got["resolved_on_time_rate"] == pytest.approx(2 / 3)
    assert got["mean_ack_minutes"] == pytest.approx(45 / 4)
    assert got["median_ack_minutes"] == pytest.approx(10)
    assert got["mean_resolve_minutes"] == pytest.approx(160)
    assert got["median_resolve_minutes"] == pytest.approx(120)
    assert got["satisfaction_rate"] == pytest.approx(3 / 4)
    assert got["rework_rate"] == pytest.approx(1 / 3)
    assert got["repeat_rate"] == pytest.approx(1 / 7)


def test_by_domain_and_nested_groups(store, areas):
    a, b = areas
    by_domain = kpi_table(store, START, END, "domain").set_index("domain")["created"].to_dict()
    assert by_domain == {"environment": 3, "fire_safety": 3, "public_security": 1}
    nested = kpi_table(store, START, END, ("street", "domain"))
    assert list(zip(nested.street, nested.domain, nested.created, strict=True)) == sorted([
        (a[:9], "fire_safety", 3), (a[:9], "public_security", 1), (b[:9], "environment", 3)])
    grids = kpi_table(store, START, END, "grid", parent=a[:9])
    assert grids.grid.tolist() == [a] and grids.created.tolist() == [4]
    fire = kpi_summary(store, START, END, domain="fire_safety")
    assert (fire["created"], fire["overdue"]) == (3, 2)


def test_as_of_judges_the_state_at_that_instant(store):
    # Environment at T + 11 h: B1 done, B2's resolve deadline (T + 12 h) not yet passed.
    early = kpi_summary(store, START, END, domain="environment", as_of=T + 11 * H)
    assert (early["overdue"], early["resolved"], early["acknowledged"]) == (0, 1, 1)
    late = kpi_summary(store, START, END, domain="environment", as_of=END + H)
    assert (late["overdue"], late["acknowledged"]) == (1, 2)  # B3 acknowledged a minute after the week


def test_empty_range_gives_zero_counts_and_no_rates(store):
    got = kpi_summary(store, END + D, END + 2 * D)
    assert got["created"] == 0 and got["ack_on_time_rate"] is None
    assert kpi_table(store, END + D, END + 2 * D, "street").empty


def test_unknown_group_is_refused():
    with pytest.raises(ValueError, match="unknown group_by"):
        kpi_sql("province")


def test_works_on_a_cursor(store):
    cur = store.cursor()
    try:
        assert kpi_summary(cur, START, END)["created"] == 7
    finally:
        cur.close()


def test_drill_step_in_one_query_matches_the_separate_calls(store, areas):
    from ops_center.read.kpis import kpi_drill

    district = areas[0][:6]
    children, summary, domains = kpi_drill(store, START, END, "street", parent=district)
    separate = kpi_table(store, START, END, "street", parent=district)
    pd.testing.assert_frame_equal(children, separate, check_dtype=False)
    assert summary == kpi_summary(store, START, END, area=district)
    pd.testing.assert_frame_equal(domains, kpi_table(store, START, END, "domain", parent=district), check_dtype=False)
    assert len(children) == 2 and len(domains) == 3
    empty_children, empty_summary, _ = kpi_drill(store, END + D, END + 2 * D, "street")
    assert empty_children.empty and empty_summary["created"] == 0
