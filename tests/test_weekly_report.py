"""Weekly report: ISO weeks in Asia/Shanghai, numbers straight from the KPI module, same week → same numbers."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import openpyxl
import pandas as pd
import pytest

from ops_center.core.config import ReportsConfig
from ops_center.read import kpis, report_sheets
from ops_center.read import weekly_report as wr
from ops_center.store.store import Store
from tests.factories import make_incidents

TZ = "Asia/Shanghai"
WEEK = "2026-W47"  # Mon 2026-11-16 .. Sun 2026-11-22, Asia/Shanghai
START = datetime(2026, 11, 15, 16, 0, tzinfo=UTC)  # Monday 00:00 +08:00
END = START + timedelta(days=7)


@pytest.fixture
def store(db_path):
    s = Store(db_path)
    yield s
    s.close()


def seed_week(store, cfg) -> None:
    """A mixed week (on time, late, open, overdue, false alarm) plus a few in the weeks around it."""
    specs = []
    streets = ("510108002", "510108004", "510108006005", "510108010003001")
    domains = ("traffic", "fire_safety", "city_management", "elderly_care")
    for i in range(24):
        created = START + timedelta(hours=5 * i + 1)
        status = ("closed", "resolved", "dispatched", "new", "false_alarm", "acknowledged")[i % 6]
        late = timedelta(hours=30) if i % 5 == 0 else timedelta(minutes=3)
        specs.append({
            "domain": domains[i % 4], "severity": ("P2", "P3")[i % 2], "status": status,
            "area_code": streets[i % 4], "created_at": created,
            "acknowledged_at": created + late if status not in ("new", "false_alarm") else None,
            "dispatched_at": created + late if status in ("dispatched", "resolved", "closed") else None,
            "resolved_at": created + 2 * late if status in ("resolved", "closed") else None,
            "closed_at": created + 2 * late if status == "closed" else None,
            "verify_failures": 1 if i % 7 == 0 else 0, "satisfied": (None, True, False)[i % 3],
            "report_count": 1 + i % 3,
        })
    for offset in (-3, 8, 9):  # the previous week and the next one
        created = START + timedelta(days=offset)
        specs.append({"domain": "traffic", "status": "new", "area_code": "510108002", "created_at": created})
    # Sunday 23:30 and Monday 00:10 local time: the week boundary is Asia/Shanghai midnight.
    specs.append({"domain": "environment", "status": "new", "area_code": "510108007", "created_at": END - timedelta(minutes=30)})
    specs.append({"domain": "environment", "status": "new", "area_code": "510108007", "created_at": END + timedelta(minutes=10)})
    make_incidents(store, cfg, specs, now=END + timedelta(days=3))


def test_iso_weeks_follow_asia_shanghai():
    assert wr.week_bounds(WEEK, TZ) == (START, END)
    assert wr.week_of(datetime(2026, 11, 22, 15, 59, tzinfo=UTC), TZ) == "2026-W47"  # Sun 23:59 local
    assert wr.week_of(datetime(2026, 11, 22, 16, 0, tzinfo=UTC), TZ) == "2026-W48"  # Mon 00:00 local
    assert wr.previous_week(datetime(2026, 11, 23, 0, 0, tzinfo=UTC), TZ) == "2026-W47"  # Mon 08:00 local
    assert wr.shift_week("2027-W01", -1) == "2026-W53"
    assert wr.recent_weeks(datetime(2026, 11, 24, 2, tzinfo=UTC), TZ, 3) == ["2026-W48", "2026-W47", "2026-W46"]
    assert wr.week_label(WEEK, TZ) == "2026-W47（11-16 至 11-22）"


@pytest.mark.parametrize("bad", ["2026-47", "2026-W4", "W47", "2025-W53", "2026-W00", ""])
def test_bad_week_is_an_error(bad):
    with pytest.raises(ValueError, match="ISO week|has no ISO week"):
        wr.parse_week(bad)


def sheet_frame(wb: openpyxl.Workbook, name: str) -> pd.DataFrame:
    """A sheet's table below its title block."""
    rows = list(wb[name].iter_rows(values_only=True))[wr.TITLE_ROWS:]
    return pd.DataFrame(rows[1:], columns=rows[0])


def shown(kpi, value):
    """What the files show for a KPI value: rates to 0.1 %, minutes as hours to one decimal."""
    if value is None or pd.isna(value):
        return None
    value = float(value)
    return round(value, 3) if kpi.unit == "rate" else round(value / 60, 1) if kpi.unit == "minutes" else value


def same(cell, value) -> bool:
    """An empty cell for a missing value, else the same number."""
    if value is None or pd.isna(value):
        return cell is None or pd.isna(cell)
    return cell == pytest.approx(value)


def test_xlsx_sheets_match_the_kpi_module(store, cfg, tmp_path):
    seed_week(store, cfg)
    made = datetime(2026, 11, 30, 1, 30, tzinfo=UTC)
    path = wr.write_weekly_report(store, cfg, WEEK, tmp_path / "w47.xlsx", made_at=made)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["概览", "街道×领域", "责任单位", "督办", "超期明细", "事件明细"]
    # Every sheet opens with its title block: unit, ISO week with dates, when it was made (site time), 口径.
    for name in wb.sheetnames:
        block = [wb[name].cell(r, 1).value for r in range(1, 5)]
        assert block[0] == "成华区城市运行管理中心 · 成华区 城市运行周报", block
        assert "2026-W47（2026年11月16日 至 2026年11月22日" in block[1]
        assert block[2] == "制表时间：2026-11-30 09:30（北京时间）"
        assert block[3].startswith("口径：按事件创建时间归入统计周")

    expected = kpis.kpi_table(store, START, END, group_by=("street", "domain"), parent="510108")
    expected = expected[expected["street"].notna()].reset_index(drop=True)
    streets = kpis.kpi_table(store, START, END, group_by="street", parent="510108").set_index("street")
    summary = kpis.kpi_summary(store, START, END, area="510108")
    got = sheet_frame(wb, "街道×领域")
    rows = got[~got["领域"].isin(["小计", "全部领域"])].reset_index(drop=True)
    assert list(zip(rows["街道编码"], rows["领域"], strict=True)) == [
        (s, wr.DOMAIN_NAMES[d]) for s, d in zip(expected["street"], expected["domain"], strict=True)
    ]
    subtotals = got[got["领域"] == "小计"].set_index("街道编码")
    total = got[got["领域"] == "全部领域"].iloc[0]
    assert total["街道"] == "合计"
    for key, kpi in kpis.KPIS.items():
        column = f"{kpi.name}（小时）" if kpi.unit == "minutes" else kpi.name
        have = rows[column].astype(float).to_numpy()
        want = [shown(kpi, v) for v in expected[key]]
        assert have == pytest.approx(pd.array(want, dtype="Float64").to_numpy(float, na_value=float("nan")),
                                     nan_ok=True), kpi.name
        for code in subtotals.index:  # each street's 小计 is the KPI module's street figure, not a sum of rates
            assert same(subtotals.loc[code, column], shown(kpi, streets.loc[code, key])), (kpi.name, code)
        assert same(total[column], shown(kpi, summary[key])), kpi.name
    assert sum(rows["受理数"]) == total["受理数"] == 21  # 24 + Sunday 23:30, minus 4 false alarms; not Monday 00:10

    overview = sheet_frame(wb, "概览").set_index("指标")
    for key, kpi in kpis.KPIS.items():
        assert same(overview.loc[kpi.name, "本周"], shown(kpi, summary[key])), kpi.name
        assert overview.loc[kpi.name, "口径"] and overview.loc[kpi.name, "口径"].isascii() is False
    assert overview.loc["受理数", "上周"] == 1
    assert overview.loc["平均响应时长", "单位"] == "小时"
    assert wb["概览"]["C14"].number_format == "0.0%"  # 及时响应率 row shows as a percentage
    assert wb["概览"]["E14"].number_format.startswith('+0.0" 个百分点"')

    overdue = sheet_frame(wb, "超期明细")
    assert len(overdue) == summary["overdue"] > 0
    detail = sheet_frame(wb, "事件明细")
    assert len(detail) == summary["created"] + summary["false_alarms"] == 25
    # Codes in Chinese, times as real dates in site time.
    assert set(detail["责任层级"]) <= {"网格", "社区", "街道", "区", "市"}
    assert set(detail["来源"]) <= {"物联感知", "网格员上报", "12345热线", "系统"}
    assert all(not str(v).isascii() for v in detail["责任部门"] if v)
    first = detail.sort_values("事件编号").iloc[0]
    assert isinstance(first["创建时间"], datetime) and first["创建时间"] == datetime(2026, 11, 16, 1, 0)  # noqa: DTZ001
    created_cell = wb["事件明细"].cell(wr.TITLE_ROWS + 2, list(detail.columns).index("创建时间") + 1)
    assert created_cell.number_format == "yyyy-mm-dd hh:mm"


def test_week_over_week_is_the_difference_of_the_shown_values():
    rate = kpis.KPIS["resolved_on_time_rate"]
    assert report_sheets.change(0.70474, 0.70325, rate) == 0.2  # 70.5 % vs 70.3 %, not +0.1 from raw values
    hours = kpis.KPIS["median_resolve_minutes"]
    assert report_sheets.change(346.0, 300.0, hours) == 0.8  # 5.8 h - 5.0 h
    assert report_sheets.shown(345.99484848484855, hours) == 5.8


def test_same_week_twice_gives_identical_numbers(store, cfg, tmp_path):
    seed_week(store, cfg)
    made = datetime(2026, 11, 30, 1, 30, tzinfo=UTC)
    a = wr.write_weekly_report(store, cfg, WEEK, tmp_path / "a.xlsx", made_at=made)
    b = wr.write_weekly_report(store, cfg, WEEK, tmp_path / "b.xlsx", made_at=made)
    wa, wb = openpyxl.load_workbook(a), openpyxl.load_workbook(b)
    for name in wr.SHEETS:
        assert list(wa[name].iter_rows(values_only=True)) == list(wb[name].iter_rows(values_only=True))
    # Later activity on the week's incidents does not change a closed week (judged as of its end).
    later = datetime(2026, 12, 1)  # noqa: DTZ001 - the column holds naive UTC
    store.write(lambda conn: conn.execute(
        "UPDATE incidents SET status = 'closed', acknowledged_at = coalesce(acknowledged_at, ?), resolved_at = ?, "
        "closed_at = ? WHERE status IN ('new', 'acknowledged', 'dispatched')", [later, later, later]))
    c = wr.write_weekly_report(store, cfg, WEEK, tmp_path / "c.xlsx", made_at=made)
    assert list(openpyxl.load_workbook(c)["街道×领域"].iter_rows(values_only=True)) == list(
        wa["街道×领域"].iter_rows(values_only=True)
    )


def test_csv_is_the_street_domain_sheet(store, cfg, tmp_path):
    seed_week(store, cfg)
    path = wr.write_weekly_report(store, cfg, WEEK, tmp_path / "w47.csv")
    raw = path.read_bytes()
    assert raw.startswith("\ufeff".encode())
    df = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig", dtype={"街道编码": str})
    report = wr.build_weekly_report(store, cfg, WEEK)
    sheet = report_sheets.street_domain_sheet(report, cfg, "510108").frame
    assert list(df.columns) == list(sheet.columns)
    assert list(df["受理数"]) == list(sheet["受理数"])
    assert df.iloc[-1]["街道"] == "合计"
    # Rounded as shown: no 16-digit floats anywhere.
    text = raw.decode("utf-8-sig")
    assert not re.search(r"\d\.\d{4,}", text), text[:400]


@dataclass
class JobCtx:
    cfg: object
    store: object
    clock: object


def test_monday_job_writes_last_week_to_the_reports_folder(store, cfg, tmp_path):
    seed_week(store, cfg)
    job_cfg = cfg.model_copy(update={"reports": ReportsConfig(folder=str(tmp_path / "reports"))})
    monday_8am = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    path = wr.weekly_report_job(JobCtx(job_cfg, store, lambda: monday_8am))
    assert path == tmp_path / "reports" / "weekly-2026-W47.xlsx"
    cli = wr.write_weekly_report(store, cfg, WEEK, tmp_path / "cli.xlsx", made_at=monday_8am)
    for name in wr.SHEETS:
        assert list(openpyxl.load_workbook(path)[name].iter_rows(values_only=True)) == list(
            openpyxl.load_workbook(cli)[name].iter_rows(values_only=True)
        )
