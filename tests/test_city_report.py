"""The weekly report at a city center: the whole city 区 by 区 with the one KPI module, a district as the district.

The city store is fed by two district stores through their outboxes (tests/fixtures_city.py); each district's
own report, on its own store and config, is the reference the city's numbers must add up to.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from ingest.fed_wire import changes, decode_changes
from layouts import ids as I
from ops_center.core.config import load_config
from ops_center.core.domains import DOMAIN_NAMES
from ops_center.read import kpis, report_sheets
from ops_center.read import weekly_report as wr
from ops_center.service.fed_apply import FederatedIncidents
from ops_center.service.outbox import Outbox
from ops_center.store.store import Store
from tests.factories import FixedClock
from tests.fixtures_city import JINJIANG, SHARED_UNIT, add_work_orders, federate, write_configs
from tests.fixtures_web import client_login, login
from tests.test_federation import DISTRICTS
from tests.test_weekly_report import same, sheet_frame

WEEK = "2026-W47"  # complete before fixed_now (Tue 2026-11-24); the districts' month of incidents covers it
CITY = "510100"
ROOT = Path(__file__).resolve().parent.parent
SHOTS = Path("/tmp/shots")
COUNTS = [k for k in kpis.KPIS.values() if k.unit == "count"]


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    return write_configs(tmp_path_factory.mktemp("city-report"))


@pytest.fixture(scope="module")
def config_path(configs):
    return configs[0]


@pytest.fixture(scope="module")
def cfg(config_path):
    return load_config(config_path)


@pytest.fixture(scope="module")
def own_cfg(configs):
    return {code: load_config(path) for code, path in configs[1].items()}


@pytest.fixture
def city_store(store, districts, fixed_now) -> Store:
    federate(districts, store, FixedClock(fixed_now))
    return store


@pytest.fixture
def own_reports(districts, own_cfg, fixed_now) -> dict[str, wr.WeeklyReport]:
    """Each district's own report, as its own center writes it (no area: its district)."""
    return {code: wr.build_weekly_report(store, own_cfg[code], WEEK, now=fixed_now) for code, store in districts.items()}


def counts(overview: pd.DataFrame, column: str = "本周") -> dict[str, int]:
    rows = overview.set_index("指标")
    return {k.key: int(rows.loc[k.name, column]) for k in COUNTS}


def test_the_city_report_covers_every_incident_district_by_district(city_store, cfg, districts, own_reports,
                                                                    fixed_now):
    report = wr.build_weekly_report(city_store, cfg, WEEK, now=fixed_now)
    assert report.area == CITY and report.breakdown == "district"
    start, end = wr.week_bounds(WEEK, cfg.site.timezone)
    p_start, p_end = wr.week_bounds(report.previous, cfg.site.timezone)
    everything = kpis.kpi_summary(city_store, start, end)  # the KPI module over every stored incident
    rows = report.overview.set_index("指标")
    for key, kpi in kpis.KPIS.items():
        assert same(rows.loc[kpi.name, "本周"], everything[key]), kpi.name
    assert counts(report.overview, "上周") == {k.key: kpis.kpi_summary(city_store, p_start, p_end)[k.key] for k in COUNTS}
    for column in ("本周", "上周"):  # … which is the sum of the districts' own reports
        assert counts(report.overview, column) == {
            k.key: sum(counts(own.overview, column)[k.key] for own in own_reports.values()) for k in COUNTS}
    assert everything["created"] > 20 and everything["overdue"] > 0

    # 区×领域: per district and domain, the counts the district's own report has over its streets.
    body = report.street_domain
    assert list(body.columns[:3]) == ["区", "区编码", "领域"] and set(body["区编码"]) == set(DISTRICTS)
    for code, own in own_reports.items():
        theirs = own.street_domain.groupby("领域")[[k.name for k in COUNTS]].sum()
        ours = body[body["区编码"] == code].set_index("领域")
        assert ours[theirs.columns].sort_index().to_dict() == theirs.sort_index().to_dict(), code
        # 上周 of a row is the district's own previous week in that domain (the street report's 上周 per street).
        before = kpis.kpi_table(districts[code], p_start, p_end, group_by="domain").set_index("domain")["created"]
        assert {n: int(ours.loc[n, "上周受理数"]) for n in ours.index} == {
            DOMAIN_NAMES[d]: int(before.get(d, 0)) for d in DOMAIN_NAMES if DOMAIN_NAMES[d] in ours.index}, code
    per_district = report.by_street.set_index("district")
    for code, own in own_reports.items():
        assert {k.key: int(per_district.loc[code, k.key]) for k in COUNTS} == counts(own.overview), code

    # The details and the overdue list hold every district's incidents, each named with its district.
    assert len(report.incidents) == everything["created"] + everything["false_alarms"]
    assert report.incidents["区"].value_counts().to_dict() == {
        DISTRICTS[code]: len(own.incidents) for code, own in own_reports.items()}
    assert len(report.overdue) == everything["overdue"] == sum(len(own.overdue) for own in own_reports.values())


def test_the_city_workbook_names_the_city_and_totals_each_district(city_store, cfg, own_reports, fixed_now, tmp_path):
    path = wr.write_weekly_report(city_store, cfg, WEEK, tmp_path / "city.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["概览", "区×领域", "责任单位", "督办", "超期明细", "事件明细"]
    assert wb["概览"]["A1"].value == "成都市城市运行管理中心 · 成都市 城市运行周报"
    sheet = sheet_frame(wb, "区×领域")
    subtotals = sheet[sheet["领域"] == "小计"].set_index("区编码")
    assert set(subtotals.index) == set(DISTRICTS)
    for code, own in own_reports.items():
        assert subtotals.loc[code, "区"] == DISTRICTS[code]
        assert {k.key: int(subtotals.loc[code, k.name]) for k in COUNTS} == counts(own.overview), code
    total = sheet.iloc[-1]
    assert (total["区"], total["区编码"], total["领域"]) == ("合计", CITY, "全部领域")
    assert total["受理数"] == sum(counts(own.overview)["created"] for own in own_reports.values())
    csv = wr.csv_text(wr.build_weekly_report(city_store, cfg, WEEK), cfg)
    assert csv.splitlines()[0].startswith("\ufeff区,区编码,领域")


def test_a_district_report_at_the_city_is_the_districts_own(city_store, cfg, own_reports, fixed_now):
    for code, own in own_reports.items():
        here = wr.build_weekly_report(city_store, cfg, WEEK, now=fixed_now, area=code)
        assert here.area == code and here.breakdown == "street"
        pd.testing.assert_frame_equal(here.overview, own.overview)
        pd.testing.assert_frame_equal(here.street_domain, own.street_domain)
        pd.testing.assert_frame_equal(here.by_street, own.by_street)
        assert "区" not in here.incidents.columns
        # The same cases under the city's ids (district code × 10¹⁰ + the district's id).
        assert list(here.incidents["事件编号"] - int(code) * 10**10) == list(own.incidents["事件编号"])
        shown = report_sheets.street_domain_sheet(here, cfg, code).frame
        assert shown.equals(report_sheets.street_domain_sheet(own, cfg, code).frame)


UNIT_COUNTS = ["assigned", "extensions", "supervisions"]


def with_city_ids(frame: pd.DataFrame, code: str) -> pd.DataFrame:
    """A district's 督办 sheet as the city lists it: the city's ids, and the 区 column."""
    out = frame.assign(督办编号=frame["督办编号"] + int(code) * 10**10, 事件编号=frame["事件编号"] + int(code) * 10**10)
    out.insert(3, "区", DISTRICTS[code])
    return out


def test_the_city_units_and_supervisions_sheets_are_the_districts_combined(cfg, own_cfg, districts, store, fixed_now):
    add_work_orders(districts)
    clock = FixedClock(fixed_now)
    federate(districts, store, clock)
    own = {code: wr.build_weekly_report(s, own_cfg[code], WEEK, now=fixed_now) for code, s in districts.items()}
    city = wr.build_weekly_report(store, cfg, WEEK, now=fixed_now)
    assert all(len(o.units) == 2 and len(o.supervisions) >= 2 for o in own.values())

    # 责任单位: the KPI module over the mirrored work orders; a unit's counts are the districts' summed, and a
    # district's own unit has exactly that district's numbers.
    summed = pd.concat([o.units for o in own.values()]).groupby("unit")[UNIT_COUNTS].sum()
    assert city.units.set_index("unit")[UNIT_COUNTS].sort_index().to_dict() == summed.sort_index().to_dict()
    assert len(city.units) == 3 and summed.loc[SHARED_UNIT, "assigned"] > 0
    rates = [k for k in kpis.UNIT_KPIS if k not in UNIT_COUNTS]
    for o in own.values():
        mine = o.units[o.units["unit"] != SHARED_UNIT].set_index("unit")[rates]
        pd.testing.assert_frame_equal(city.units.set_index("unit").loc[mine.index, rates], mine)
    assert len(report_sheets.unit_sheet(city, cfg).frame) == 3

    # 督办: every district's records under the city's ids, each with its district.
    expected = pd.concat([with_city_ids(o.supervisions, code) for code, o in own.items()])
    ours = city.supervisions.sort_values("督办编号").reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, expected.sort_values("督办编号").reset_index(drop=True))
    for code, o in own.items():  # and a district's report at the city is the district's own
        here = wr.build_weekly_report(store, cfg, WEEK, now=fixed_now, area=code)
        pd.testing.assert_frame_equal(here.units, o.units)
        pd.testing.assert_frame_equal(here.supervisions.drop(columns=["督办编号", "事件编号"]),
                                      o.supervisions.drop(columns=["督办编号", "事件编号"]))

    # A later change replaces the incident's rows at the city (closed 督办, a reassigned order), never adds.
    code, dstore = JINJIANG, districts[JINJIANG]
    sid, iid = dstore.query("SELECT supervision_id, incident_id FROM supervisions WHERE closed_at IS NULL LIMIT 1")[0]
    dstore.write(lambda conn: (conn.execute("UPDATE supervisions SET closed_at = issued_at + INTERVAL 1 HOUR "
                                            "WHERE supervision_id = ?", [sid]).fetchall(),
                               conn.execute("DELETE FROM assignments WHERE incident_id = ?", [iid]).fetchall(),
                               dstore.incidents_changed(conn, [iid])))
    fed, box = FederatedIncidents(store, tuple(districts), clock), Outbox(dstore, code, clock)
    after = fed.watermarks[code].seq
    fed.apply([decode_changes(changes(code, box.head(), box.read(after, 100)), code)])
    city_id = int(code) * 10**10 + iid
    assert store.query("SELECT count(*), count(closed_at) FROM supervisions WHERE incident_id = ?", [city_id]) == [(1, 1)]
    assert store.query("SELECT count(*) FROM assignments WHERE incident_id = ?", [city_id]) == [(0,)]
    assert store.query("SELECT count(*) FROM supervisions") == [(sum(s.query("SELECT count(*) FROM supervisions")[0][0]
                                                                      for s in districts.values()),)]


def test_the_city_and_its_districts_are_the_choices_of_a_city_wide_reader(cfg):
    assert wr.report_areas(cfg, None) == [CITY, *DISTRICTS]
    assert wr.report_areas(cfg, JINJIANG) == [JINJIANG]  # a district's reader has their district only
    assert wr.report_areas(cfg, "510104002") == ["510104002"]
    shipped = load_config(ROOT / "config.yaml")
    assert wr.report_areas(shipped, None) == ["510108"]  # a district center: its district, no choice
    with pytest.raises(ValueError, match="no configured area '510199'"):
        wr.build_weekly_report(None, cfg, WEEK, area="510199")
    with pytest.raises(ValueError, match="no configured area '510100'"):
        wr.report_areas(shipped, CITY)  # a district center has no city to report on


def download(client, area: str | None) -> tuple[str, openpyxl.Workbook]:
    body = {"output": f"{I.REPORTS_DOWNLOAD}.data", "outputs": {"id": I.REPORTS_DOWNLOAD, "property": "data"},
            "inputs": [{"id": I.REPORTS_XLSX_BUTTON, "property": "n_clicks", "value": 1},
                       {"id": I.REPORTS_CSV_BUTTON, "property": "n_clicks", "value": None}],
            "changedPropIds": [f"{I.REPORTS_XLSX_BUTTON}.n_clicks"],
            "state": [{"id": I.REPORTS_WEEK, "property": "value", "value": WEEK},
                      {"id": I.REPORTS_AREA, "property": "value", "value": area}]}
    resp = client.post("/_dash-update-component", json=body)
    assert resp.status_code == 200, resp.get_data()[:300]
    data = json.loads(resp.get_data())["response"][I.REPORTS_DOWNLOAD]["data"]
    return data["filename"], openpyxl.load_workbook(io.BytesIO(base64.b64decode(data["content"])))


def test_the_reports_screen_offers_the_city_and_its_districts(web_ctx, districts, web_client, fixed_now):
    federate(districts, web_ctx.store, FixedClock(fixed_now))
    client_login(web_client, "leader")
    name, wb = download(web_client, None)  # the default: the whole city
    assert name == f"weekly-{WEEK}-{CITY}.xlsx" and "区×领域" in wb.sheetnames
    name, wb = download(web_client, JINJIANG)
    assert name == f"weekly-{WEEK}-{JINJIANG}.xlsx" and "街道×领域" in wb.sheetnames
    assert wb["概览"]["A1"].value == "成都市城市运行管理中心 · 锦江区 城市运行周报"
    name, _ = download(web_client, "510199")  # not a choice: the reader's own area instead
    assert name == f"weekly-{WEEK}-{CITY}.xlsx"


@pytest.mark.browser
def test_the_city_reports_page_at_1080p(web_ctx, districts, web_duo, fixed_now):
    federate(districts, web_ctx.store, FixedClock(fixed_now))
    SHOTS.mkdir(exist_ok=True)
    duo = web_duo
    duo.driver.set_window_size(1920, 1080)
    login(duo, "leader", next_path="/reports")
    duo.wait_for_contains_text(f"#{I.REPORTS_TITLE}", "成都市 周报 · 2026-W47", timeout=10)
    duo.wait_for_contains_text(f"#{I.REPORTS_TABLE}", "锦江区", timeout=10)
    duo.wait_for_contains_text(f"#{I.REPORTS_TABLE}", "合计")
    duo.wait_for_contains_text(f"#{I.REPORTS_STREET_CHART}", "各区受理数", timeout=10)
    duo.driver.save_screenshot(str(SHOTS / "city-reports-1080p.png"))
    picker = duo.find_element(f"#{I.REPORTS_AREA}")
    assert picker.is_displayed()
    picker.click()
    assert {e.get_attribute("value") for e in duo.find_elements(".mantine-Select-option")} >= {CITY, *DISTRICTS}
    duo.wait_for_element(f'.mantine-Select-option[value="{JINJIANG}"]', timeout=10).click()
    duo.wait_for_contains_text(f"#{I.REPORTS_TITLE}", "锦江区 周报", timeout=10)
    duo.wait_for_contains_text(f"#{I.REPORTS_STREET_CHART}", "各街道受理数", timeout=10)
    duo.driver.save_screenshot(str(SHOTS / "city-reports-district-1080p.png"))
    logs = duo.get_logs()
    assert logs == [], [e["message"][:300] for e in logs]


def test_run_py_report_writes_the_city_or_a_district(config_path, districts, tmp_path, fixed_now):
    path = tmp_path / "city-cli.duckdb"
    with Store(path) as city:
        federate(districts, city, FixedClock(fixed_now))
    out = {}
    for area in (None, JINJIANG):
        target = tmp_path / f"{area or 'city'}.csv"
        ran = subprocess.run([sys.executable, "run.py", "--config", str(config_path), "--db", str(path), "report",
                              "--week", WEEK, "--out", str(target), *(["--area", area] if area else [])],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, ran.stderr[-2000:]
        out[area] = pd.read_csv(target, encoding="utf-8-sig", dtype=str)
    assert set(out[None]["区编码"]) == {*DISTRICTS, CITY} and "街道编码" in out[JINJIANG].columns
    assert set(out[JINJIANG]["街道编码"].str[:6]) == {JINJIANG}
    ran = subprocess.run([sys.executable, "run.py", "--config", str(config_path), "--db", str(path), "report",
                          "--week", WEEK, "--out", str(tmp_path / "x.csv"), "--area", "510199"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 2 and "no configured area '510199'" in ran.stderr
