"""Weekly report: ISO weeks in Asia/Shanghai, numbers straight from the KPI module, same week → same numbers."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import openpyxl
import pandas as pd
import pytest

from ops_center import kpis
from ops_center import weekly_report as wr
from ops_center.config import ReportsConfig
from ops_center.store import Store
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
    rows = list(wb[name].iter_rows(values_only=True))
    return pd.DataFrame(rows[1:], columns=rows[0])


def test_xlsx_sheets_match_the_kpi_module(store, cfg, tmp_path):
    seed_week(store, cfg)
    path = wr.write_weekly_report(store, cfg, WEEK, tmp_path / "w47.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["概览", "街道×领域", "超期明细", "事件明细"]

    expected = kpis.kpi_table(store, START, END, group_by=("street", "domain"), parent="510108")
    expected = expected[expected["street"].notna()].reset_index(drop=True)
    got = sheet_frame(wb, "街道×领域")
    assert list(zip(got["街道编码"], got["领域"], strict=True)) == [
        (s, wr.DOMAIN_NAMES[d]) for s, d in zip(expected["street"], expected["domain"], strict=True)
    ]
    for key, kpi in kpis.KPIS.items():
        want = expected[key].astype(float).to_numpy()
        have = got[kpi.name].astype(float).to_numpy()
        assert have == pytest.approx(want, nan_ok=True), kpi.name
    assert sum(got["受理数"]) == 21  # 24 + the Sunday 23:30 one, minus 4 false alarms; Monday 00:10 is next week

    summary = kpis.kpi_summary(store, START, END, area="510108")
    overview = sheet_frame(wb, "概览").set_index("指标")
    for key, kpi in kpis.KPIS.items():
        assert overview.loc[kpi.name, "本周"] == pytest.approx(summary[key], nan_ok=True), kpi.name
    assert overview.loc["受理数", "上周"] == 1

    overdue = sheet_frame(wb, "超期明细")
    assert len(overdue) == summary["overdue"] > 0
    detail = sheet_frame(wb, "事件明细")
    assert len(detail) == summary["created"] + summary["false_alarms"] == 25
    assert wb["概览"]["C9"].number_format == "0.0%"  # 及时响应率 row shows as a percentage


def test_same_week_twice_gives_identical_numbers(store, cfg, tmp_path):
    seed_week(store, cfg)
    a = wr.write_weekly_report(store, cfg, WEEK, tmp_path / "a.xlsx")
    b = wr.write_weekly_report(store, cfg, WEEK, tmp_path / "b.xlsx")
    wa, wb = openpyxl.load_workbook(a), openpyxl.load_workbook(b)
    for name in wr.SHEETS:
        assert list(wa[name].iter_rows(values_only=True)) == list(wb[name].iter_rows(values_only=True))
    # Later activity on the week's incidents does not change a closed week (judged as of its end).
    later = datetime(2026, 12, 1)  # noqa: DTZ001 - the column holds naive UTC
    store.write(lambda conn: conn.execute(
        "UPDATE incidents SET status = 'closed', acknowledged_at = coalesce(acknowledged_at, ?), resolved_at = ?, "
        "closed_at = ? WHERE status IN ('new', 'acknowledged', 'dispatched')", [later, later, later]))
    c = wr.write_weekly_report(store, cfg, WEEK, tmp_path / "c.xlsx")
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
    assert list(df.columns) == list(report.street_domain.columns)
    assert list(df["受理数"]) == list(report.street_domain["受理数"])


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
    cli = wr.write_weekly_report(store, cfg, WEEK, tmp_path / "cli.xlsx")
    for name in wr.SHEETS:
        assert list(openpyxl.load_workbook(path)[name].iter_rows(values_only=True)) == list(
            openpyxl.load_workbook(cli)[name].iter_rows(values_only=True)
        )
