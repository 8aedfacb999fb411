"""统计报表 in the browser: the week's table and charts, and the xlsx/csv downloads match the KPI module."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from selenium.webdriver.support.ui import WebDriverWait

from layouts import ids as I
from ops_center import kpis
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
    summary = kpis.kpi_summary(web_ctx.store, START, END, area="510108")
    assert f"{summary['ack_on_time_rate'] * 100:.1f}%" in duo.find_element(f"#{I.REPORTS_OVERVIEW}").text

    duo.find_element(f"#{I.REPORTS_XLSX_BUTTON}").click()
    wb = openpyxl.load_workbook(wait_for_file(duo, f"weekly-{WEEK}.xlsx"))
    assert wb.sheetnames == ["概览", "街道×领域", "超期明细", "事件明细"]
    rows = list(wb["街道×领域"].iter_rows(values_only=True))
    sheet = pd.DataFrame(rows[1:], columns=rows[0])
    expected = kpis.kpi_table(web_ctx.store, START, END, group_by=("street", "domain"), parent="510108")
    expected = expected[expected["street"].notna()].reset_index(drop=True)
    assert list(sheet["街道编码"]) == list(expected["street"])
    for key, kpi in kpis.KPIS.items():
        assert sheet[kpi.name].astype(float).to_numpy() == pytest.approx(
            expected[key].astype(float).to_numpy(), nan_ok=True), kpi.name

    duo.find_element(f"#{I.REPORTS_CSV_BUTTON}").click()
    csv = pd.read_csv(wait_for_file(duo, f"weekly-{WEEK}.csv"), encoding="utf-8-sig", dtype={"街道编码": str})
    assert list(csv["受理数"]) == list(expected["created"])
    assert duo.get_logs() == []


def test_report_callbacks_are_refused_to_officers_and_viewers(web_app, web_client):
    """Officers may open the drill-down but not reports: the gate answers 403 before the callback runs."""
    body = {"output": f"{I.REPORTS_DOWNLOAD}.data", "outputs": {"id": I.REPORTS_DOWNLOAD, "property": "data"},
            "inputs": [{"id": I.REPORTS_XLSX_BUTTON, "property": "n_clicks", "value": 1}],
            "changedPropIds": [f"{I.REPORTS_XLSX_BUTTON}.n_clicks"],
            "state": [{"id": I.REPORTS_WEEK, "property": "value", "value": WEEK}]}
    assert web_client.post("/_dash-update-component", json=body).status_code == 401
    client_login(web_client, "officer")
    assert web_client.post("/_dash-update-component", json=body).status_code == 403
