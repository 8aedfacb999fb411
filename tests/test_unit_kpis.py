"""Per-unit KPIs (签收率, 退单率, 按期办结率, 返工率, 满意率, 延期数, 督办数, ranking), and the weekly 责任单位 sheet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import openpyxl
import pandas as pd
import pytest

from ops_center.core.lifecycle import Actor
from ops_center.read import kpis, report_sheets
from ops_center.read import weekly_report as wr
from ops_center.service.work_orders import WorkOrderService
from tests.factories import FixedClock, make_incident

WEEK = "2026-W47"
START, END = wr.week_bounds(WEEK, "Asia/Shanghai")
JIANHUA = "community:510108002002"
GRID = "510108002002001"


@pytest.fixture
def u(cfg):
    return {x.username: Actor.of(x) for x in cfg.users}


def seed_units(store, bus, cfg, u) -> None:
    """One week of work orders whose per-unit numbers are worked out by hand in the test below."""
    clock = FixedClock(datetime(2026, 11, 17, 2, 0, tzinfo=UTC))  # Tuesday 10:00 local
    wo = WorkOrderService(store, bus, cfg, clock)

    def case(severity):
        return make_incident(store, cfg, now=clock.now, status="acknowledged", domain="city_management",
                             severity=severity, area_code=GRID)

    # A: 城管局 lead (on time, one 延期, 返工 once, 回访 不满意 → 重办, second round 满意, 督办 in round 2);
    #    建华社区 co-handler accepts late.
    a = case("P3")
    lead, co = wo.dispatch(u["officer"], a, 1, "urban_mgmt", (JIANHUA,), note="派遣")["assignment_ids"]
    clock.advance(minutes=10)
    wo.accept(u["unit_cg"], lead)
    ext = wo.request_extension(u["unit_cg"], lead, 3600, "需协调")
    wo.decide_extension(u["shiftlead"], ext, True, "同意")
    clock.advance(hours=3)
    wo.accept(u["unit_jh"], co)  # after its 2 h 签收 deadline
    row = wo.feedback(u["unit_cg"], lead, "已处置")
    row = wo.verify(u["grid_jh1"], a, row["version"], False, "仍有问题")
    clock.advance(minutes=30)
    row = wo.feedback(u["unit_cg"], lead, "已返工")
    row = wo.verify(u["grid_jh1"], a, row["version"], True, "通过")
    clock.advance(hours=1)
    row = wo.record_callback(u["officer"], a, "不满意", "反弹")
    (second,) = [r[0] for r in store.query("SELECT assignment_id FROM assignments WHERE incident_id = ? AND round = 2",
                                            [a])]
    clock.advance(minutes=10)
    wo.accept(u["unit_cg"], second)
    wo.supervise(u["leader"], a, clock.now + timedelta(days=1), "限期整改")
    row = wo.feedback(u["unit_cg"], second, "已彻底整改")
    row = wo.verify(u["grid_jh1"], a, row["version"], True, "通过")
    wo.record_callback(u["officer"], a, "满意", "")

    # B: 城管局 returns it, the center reassigns to 水务局, which accepts but reports after the deadline (P2: 8 h).
    b = case("P2")
    (b_lead,) = wo.dispatch(u["officer"], b, 1, "urban_mgmt", note="派遣")["assignment_ids"]
    wo.return_order(u["unit_cg"], b_lead, "属水务职责")
    wo.decide_return(u["officer"], b_lead, "reassign", "water", "改派水务局")
    (water_b,) = [r[0] for r in store.query("SELECT assignment_id FROM assignments WHERE unit = 'water'")]
    water = Actor("unit_water", "unit", "510108", "water")
    wo.accept(water, water_b)
    clock.advance(hours=9)
    wo.feedback(water, water_b, "已疏通")

    # C: 水务局 never accepts.
    c = case("P3")
    wo.dispatch(u["officer"], c, 1, "water", note="派遣")


def test_unit_kpis_by_hand(store, bus, cfg, u):
    seed_units(store, bus, cfg, u)
    table = kpis.unit_kpis(store, START, END).set_index("unit")
    cg, jh, water = table.loc["urban_mgmt"], table.loc[JIANHUA], table.loc["water"]
    assert (cg.assigned, cg.accept_on_time_rate, cg.return_rate) == (3, 1.0, pytest.approx(1 / 3))
    assert (cg.unit_on_time_rate, cg.unit_rework_rate, cg.unit_satisfaction_rate) == (1.0, 0.5, 0.5)
    assert (cg.extensions, cg.supervisions) == (1, 1)
    assert (jh.assigned, jh.accept_on_time_rate, jh.return_rate, jh.extensions, jh.supervisions) == (1, 0.0, 0.0, 0, 0)
    assert pd.isna(jh.unit_on_time_rate) and pd.isna(jh.unit_satisfaction_rate)
    assert (water.assigned, water.accept_on_time_rate, water.unit_on_time_rate, water.unit_rework_rate) == (
        2, 0.5, 0.0, 0.0)
    assert cg.score == pytest.approx((1 + 2 / 3 + 1 + 0.5 + 0.5) / 5 * 100)
    assert water.score == pytest.approx(62.5) and jh.score == pytest.approx(50.0)
    assert list(kpis.unit_kpis(store, START, END)["unit"]) == ["urban_mgmt", "water", JIANHUA]
    assert list(table["rank"].sort_values()) == [1, 2, 3]
    assert [kpis.band(v) for v in (95, 80, 50, None)] == ["good", "fair", "poor", "none"]
    # judged as of a moment inside the week: the callbacks and the late feedback had not happened yet
    early = kpis.unit_kpis(store, START, END, as_of=datetime(2026, 11, 17, 2, 15, tzinfo=UTC)).set_index("unit")
    assert early.loc["urban_mgmt", "assigned"] == 3 and pd.isna(early.loc["urban_mgmt", "unit_satisfaction_rate"])
    assert kpis.unit_kpis(store, END, END + timedelta(days=7)).empty
    assert kpis.unit_kpis(store, START, END, area="510108004").empty


def test_weekly_sheet_shows_exactly_the_kpi_module_numbers(store, bus, cfg, u, tmp_path):
    seed_units(store, bus, cfg, u)
    path = wr.write_weekly_report(store, cfg, WEEK, tmp_path / "w.xlsx", made_at=END + timedelta(hours=1))
    rows = list(openpyxl.load_workbook(path)["责任单位"].iter_rows(values_only=True))[wr.TITLE_ROWS:]
    sheet = pd.DataFrame(rows[1:], columns=rows[0]).set_index("单位编码")
    table = kpis.unit_kpis(store, START, END, area="510108")
    assert list(sheet.index) == list(table["unit"])
    for r in table.to_dict("records"):
        shown = sheet.loc[r["unit"]]
        for k in kpis.UNIT_KPIS.values():
            expected, cell = report_sheets.shown(r[k.key], k), shown[report_sheets.column_name(k)]
            assert cell == expected or (expected is None and pd.isna(cell)), (r["unit"], k.key)
        assert shown["排名"] == r["rank"] and shown["综合得分"] == round(r["score"], 1)
    assert sheet.loc["urban_mgmt", "责任单位"] == "城管局" and sheet.loc[JIANHUA, "责任单位"] == "建华社区居委会"
    assert sheet.loc["urban_mgmt", "退单率"] == 0.333 and sheet.loc[JIANHUA, "等级"] == "差"
    rows = list(openpyxl.load_workbook(path)["督办"].iter_rows(values_only=True))[wr.TITLE_ROWS:]
    assert rows[0][:4] == ("督办编号", "事件编号", "标题", "街道") and len(rows) == 2
    record = dict(zip(rows[0], rows[1], strict=True))
    assert (record["督办人"], record["督办要求"], record["状态"], record["街道"]) == ("leader", "限期整改", "已办结",
                                                                                "猛追湾街道")
    assert record["督办时间"] == datetime(2026, 11, 17, 14, 50)  # noqa: DTZ001 - xlsx dates are naive local time


def test_hung_cases_leave_overdue_and_are_counted_apart(store, bus, cfg, u):
    created = datetime(2026, 11, 17, 2, 0, tzinfo=UTC)
    clock = FixedClock(created)
    wo = WorkOrderService(store, bus, cfg, clock)
    ids = [make_incident(store, cfg, now=created, status="acknowledged", domain="city_management", severity="P2",
                         area_code=GRID) for _ in range(2)]
    for iid in ids:
        wo.dispatch(u["officer"], iid, 1, "urban_mgmt", note="派遣")
    before = kpis.kpi_summary(store, START, END)
    assert (before["overdue"], before["hung"]) == (2, 0)  # P2: 8 h, long past by the end of the week
    clock.advance(hours=1)
    wo.hang(u["officer"], ids[0], 2, "engineering", "需管网改造")
    after = kpis.kpi_summary(store, START, END)
    assert (after["overdue"], after["hung"]) == (1, 1)
    early = kpis.kpi_summary(store, START, END, as_of=created + timedelta(minutes=30))  # before it was hung
    assert early["hung"] == 0
