"""统计报表 in the browser: the week's table and charts, and the xlsx/csv downloads match the KPI module."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from selenium.webdriver.support.ui import WebDriverWait

from layouts import ids as I
from ops_center.read import kpis
from ops_center.read import weekly_report as wr
from tests.fixtures_web import client_login, login
from tests.test_weekly_report import END, START, WEEK, seed_week


def wait_for_file(duo, name: str) -> Path:
    path = Path(duo.download_path) / name
    WebDriverWait(duo.driver, 15, poll_frequency=0.2).until(lambda _: path.exists() and path.stat().st_size > 0)
    return path


@pytest.mark.browser
def test_week_report_and_downloads_match_the_kpi_module(web_ctx, web_duo):
    seed_week(web_ctx.store, web_ctx.cfg)
    duo = web_duo
    login(duo, "leader", next_path="/reports")
    # The default week is the last complete one: fixed_now is Tue 2026-11-24, so 2026-W47.
    duo.wait_for_contains_text(f"#{I.REPORTS_TITLE}", "2026-W47（11-16 至 11-22）", timeout=10)
    duo.wait_for_contains_text(f"#{I.REPORTS_TABLE}", "猛追湾街道", timeout=10)
    duo.wait_for_contains_text(f"#{I.REPORTS_TABLE}", "合计")  # the page shows the file's totals too
    assert not duo.find_element(f"#{I.REPORTS_AREA}").is_displayed()  # a district center: no area to pick
    summary = kpis.kpi_summary(web_ctx.store, START, END, area="510108")
    assert f"{summary['ack_on_time_rate'] * 100:.1f}%" in duo.find_element(f"#{I.REPORTS_OVERVIEW}").text

    duo.find_element(f"#{I.REPORTS_XLSX_BUTTON}").click()
    wb = openpyxl.load_workbook(wait_for_file(duo, f"weekly-{WEEK}-510108.xlsx"))
    assert wb.sheetnames == ["概览", "街道×领域", "责任单位", "督办", "超期明细", "事件明细"]
    assert wb["概览"]["A3"].value == "制表时间：2026-11-24 10:00（北京时间）"  # the site clock, site time
    rows = list(wb["街道×领域"].iter_rows(values_only=True))[wr.TITLE_ROWS:]
    sheet = pd.DataFrame(rows[1:], columns=rows[0])
    body = sheet[~sheet["领域"].isin(["小计", "全部领域"])]
    expected = kpis.kpi_table(web_ctx.store, START, END, group_by=("street", "domain"), parent="510108")
    expected = expected[expected["street"].notna()].reset_index(drop=True)
    assert list(body["街道编码"]) == list(expected["street"])
    for key, kpi in kpis.KPIS.items():
        if kpi.unit == "count":
            assert list(body[kpi.name]) == list(expected[key]), kpi.name
    assert sheet.iloc[-1]["受理数"] == summary["created"]

    duo.find_element(f"#{I.REPORTS_CSV_BUTTON}").click()
    csv = pd.read_csv(wait_for_file(duo, f"weekly-{WEEK}-510108.csv"), encoding="utf-8-sig", dtype={"街道编码": str})
    body = csv[~csv["领域"].isin(["小计", "全部领域"])]
    assert list(body["受理数"]) == list(expected["created"])
    assert duo.get_logs() == []


def _download_body(week: str, area: str | None = None) -> dict:
    return {"output": f"{I.REPORTS_DOWNLOAD}.data", "outputs": {"id": I.REPORTS_DOWNLOAD, "property": "data"},
            "inputs": [{"id": I.REPORTS_XLSX_BUTTON, "property": "n_clicks", "value": 1},
                       {"id": I.REPORTS_CSV_BUTTON, "property": "n_clicks", "value": None}],
            "changedPropIds": [f"{I.REPORTS_XLSX_BUTTON}.n_clicks"],
            "state": [{"id": I.REPORTS_WEEK, "property": "value", "value": week},
                      {"id": I.REPORTS_AREA, "property": "value", "value": area}]}


def test_viewers_are_refused_and_officers_get_their_own_area(web_ctx, web_app, web_client):
    """A viewer gets 403 before the callback runs; a street officer downloads the report of that street only."""
    seed_week(web_ctx.store, web_ctx.cfg)
    body = _download_body(WEEK)
    assert web_client.post("/_dash-update-component", json=body).status_code == 401
    client_login(web_client, "viewer")
    assert web_client.post("/_dash-update-component", json=body).status_code == 403
    officer = web_app.server.test_client()
    client_login(officer, "officer_mzw")
    resp = officer.post("/_dash-update-component", json=body)
    assert resp.status_code == 200, resp.get_data()[:300]
    data = json.loads(resp.get_data())["response"][I.REPORTS_DOWNLOAD]["data"]
    assert data["filename"] == f"weekly-{WEEK}-510108002.xlsx"
    wb = openpyxl.load_workbook(io.BytesIO(base64.b64decode(data["content"])))
    assert "猛追湾街道" in wb["概览"]["A1"].value
    rows = list(wb["事件明细"].iter_rows(values_only=True))[wr.TITLE_ROWS:]
    detail = pd.DataFrame(rows[1:], columns=rows[0])
    assert len(detail) and set(detail["区域编码"].str[:9]) == {"510108002"}
    # A posted area beyond the officer's street (the page offers none) is not honoured: still the street.
    resp = officer.post("/_dash-update-component", json=_download_body(WEEK, "510108"))
    assert json.loads(resp.get_data())["response"][I.REPORTS_DOWNLOAD]["data"]["filename"] == f"weekly-{WEEK}-510108002.xlsx"
