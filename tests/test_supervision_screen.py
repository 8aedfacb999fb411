"""/supervision, the 督办台账: a leader sees a 督办 with its countdown, extends it and opens its case in the console;
officers and units are refused, a street's leader reads and acts only inside the street."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from layouts import ids  # ids only: never a page module
from ops_center.core.lifecycle import Actor
from ops_center.service.users import create_user
from tests.factories import make_incident
from tests.fixtures_web import click_settled, client_login, dash_post, login

SHOTS = Path("/tmp/shots/supervise")
GRID = "510108002002001"  # 猛追湾 · 建华社区第1网格
OTHER = "510108004003001"  # 双桥子
LEADER = Actor("leader", "leader", "510108")


@pytest.fixture
def ledger(web_ctx) -> dict[str, int]:
    """Two 督办 records: one on a 城管局 case in 猛追湾 (due in 4 h), one on an undispatched case in 双桥子."""
    now, out = web_ctx.clock(), {}
    for name, area, title in (("own", GRID, "建华社区占道经营督办"), ("other", OTHER, "双桥子垃圾满溢督办")):
        iid = make_incident(web_ctx.store, web_ctx.cfg, now=now, domain="city_management", severity="P3",
                            status="acknowledged", area_code=area, title=title)
        if name == "own":
            web_ctx.work_orders.dispatch(Actor("officer", "officer", "510108"), iid, 1, "urban_mgmt", note="派遣")
        out[name] = iid
        out[f"{name}_s"] = web_ctx.work_orders.supervise(LEADER, iid, now + timedelta(hours=4), f"{title}：限期办结")
    return out


def _shot(duo, name: str, width: int, height: int) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    duo.driver.set_window_size(width, height + 200)  # exactly width×height of page, whatever the chrome takes
    duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    duo.wait_for_element(f"#{ids.SUPERVISION_TABLE} .sv-table", timeout=10)
    # A redrawn table's countdowns are filled by assets/ops.js on its next tick (within a second).
    WebDriverWait(duo.driver, 5).until(lambda d: all(
        e.text for e in d.find_elements(By.CSS_SELECTOR, f"#{ids.SUPERVISION_TABLE} .ops-countdown")))
    duo.driver.save_screenshot(str(SHOTS / f"{name}-{width}x{height}.png"))


def _show(duo, label: str) -> None:
    """Click one option of the 在办 / 逾期 / 全部 segmented control by its text."""
    xpath = f"//div[@id='{ids.SUPERVISION_SHOW}']//label[contains(normalize-space(.), '{label}')]"
    WebDriverWait(duo.driver, 10).until(lambda d: d.find_element(By.XPATH, xpath)).click()


def _pick_selector(supervision_id: int) -> str:
    raw = json.dumps({"id": supervision_id, "type": ids.SUPERVISION_PICK}, separators=(",", ":"))
    return "[id='" + raw + "']"


@pytest.mark.browser
def test_a_leader_sees_the_countdown_extends_and_opens_the_case_in_the_console(web_ctx, ledger, web_duo):
    duo = web_duo
    duo.driver.set_window_size(1920, 1080)
    login(duo, "leader", next_path="/supervision")
    assert "督办台账" in duo.find_element(f"#{ids.SHELL_NAV}").text
    row = f"tr[data-supervision='{ledger['own_s']}']"
    duo.wait_for_contains_text(row, "建华社区占道经营督办", timeout=10)
    for text in ("城管局", "区领导", "猛追湾街道", "在办", "限期办结"):
        assert text in duo.find_element(row).text, text
    duo.wait_for_contains_text(f"{row} .ops-countdown", "剩", timeout=5)
    assert re.fullmatch(r"剩 (3时5\d分|4时00分)", duo.find_element(f"{row} .ops-countdown").text)
    _shot(duo, "supervision", 1920, 1080)
    _shot(duo, "supervision", 1440, 900)

    # 逾期 lists nothing yet; a unit filter keeps only that unit's cases.
    _show(duo, "逾期")
    duo.wait_for_contains_text(f"#{ids.SUPERVISION_TABLE}", "没有符合条件的督办记录", timeout=10)
    _show(duo, "在办")
    duo.wait_for_element(row, timeout=10)
    assert duo.find_elements(f"tr[data-supervision='{ledger['other_s']}']")

    # 办理 → 督办延期 by 24 h with a reason: the service writes the new deadline and the audit row.
    click_settled(duo, _pick_selector(ledger["own_s"]))
    duo.wait_for_contains_text(f"#{ids.SUPERVISION_DETAIL}", f"督办 #{ledger['own_s']}", timeout=10)
    duo.find_element(f"#{ids.SUPERVISION_NOTE}").send_keys("涉及多部门，延期一天")
    click_settled(duo, f"#{ids.SUPERVISION_EXTEND}")
    duo.wait_for_contains_text(f"#{ids.SUPERVISION_MESSAGE}", "已延期至 11-25 14:00", timeout=10)
    assert web_ctx.store.query("SELECT actor, action FROM audit_log WHERE action = 'extend_supervision'") == [
        ("leader", "extend_supervision")]
    duo.wait_for_contains_text(row, "11-25 14:00", timeout=10)
    _shot(duo, "supervision-picked", 1920, 1080)
    _shot(duo, "supervision-picked", 1440, 900)

    # The incident links into the console, which opens on its detail.
    click_settled(duo, f"{row} a.sv-incident")
    duo.wait_for_contains_text(f"#{ids.CONSOLE_DETAIL}", "建华社区占道经营督办", timeout=15)
    assert f"incident={ledger['own']}" in duo.driver.current_url
    duo.wait_for_contains_text(f"#{ids.CONSOLE_DETAIL}", f"#{ledger['own']}", timeout=5)
    assert duo.get_logs() == []


@pytest.mark.browser
def test_an_officer_opening_the_ledger_is_refused(web_ctx, ledger, web_duo):
    login(web_duo, "officer_mzw", next_path="/supervision")
    web_duo.wait_for_contains_text(f"#{ids.SHELL_DENIED}", "无权访问", timeout=10)
    assert "督办台账" not in web_duo.find_element(f"#{ids.SHELL_NAV}").text
    assert "建华社区占道经营督办" not in web_duo.driver.page_source


def _table(web_client, web_app, show: str = "all") -> str:
    resp = dash_post(web_client, web_app, ids.SUPERVISION_TABLE, {f"{ids.SUPERVISION_SHOW}.value": show})
    return resp.status_code, resp.get_data(as_text=True)


@pytest.mark.parametrize("user", ["officer", "officer_mzw", "unit_cg", "grid_jh1", "viewer"])
def test_other_roles_cannot_read_or_act_on_the_ledger(web_ctx, web_app, web_client, ledger, user):
    client_login(web_client, user)
    assert _table(web_client, web_app)[0] == 403
    resp = dash_post(web_client, web_app, ids.SUPERVISION_MESSAGE, {
        f"{ids.SUPERVISION_CLOSE}.n_clicks": 1, f"{ids.SUPERVISION_SELECTED}.data": {"supervision_id": ledger["own_s"]},
        f"{ids.SUPERVISION_NOTE}.value": "越权销号"}, changed=f"{ids.SUPERVISION_CLOSE}.n_clicks")
    assert resp.status_code == 403
    assert web_ctx.store.query("SELECT count(*) FROM supervisions WHERE closed_at IS NOT NULL") == [(0,)]


def test_a_streets_leader_reads_and_closes_only_inside_the_street(web_ctx, web_app, web_client, ledger):
    create_user(web_ctx.store, web_ctx.cfg, Actor("admin", "admin", "510108"), username="leader_mzw", name="街道领导",
                role="leader", scope="510108002", password="leader-mzw-2026", now=web_ctx.clock())
    client_login(web_client, "leader_mzw", "leader-mzw-2026")
    status, text = _table(web_client, web_app)
    assert status == 200 and "建华社区占道经营督办" in text and "双桥子垃圾满溢督办" not in text

    def close(supervision_id: int) -> str:
        resp = dash_post(web_client, web_app, ids.SUPERVISION_MESSAGE, {
            f"{ids.SUPERVISION_CLOSE}.n_clicks": 1, f"{ids.SUPERVISION_SELECTED}.data": {"supervision_id": supervision_id},
            f"{ids.SUPERVISION_NOTE}.value": "已办结销号"}, changed=f"{ids.SUPERVISION_CLOSE}.n_clicks")
        assert resp.status_code == 200
        return json.loads(resp.get_data())["response"][ids.SUPERVISION_MESSAGE]["children"]["props"]["children"]

    assert close(ledger["other_s"]) == "该事件不在您的管辖范围内"
    assert close(ledger["own_s"]) == f"督办 #{ledger['own_s']} 已销号"
    closed = dict(web_ctx.store.query("SELECT supervision_id, closed_at IS NOT NULL FROM supervisions"))
    assert closed == {ledger["own_s"]: True, ledger["other_s"]: False}
    detail = dash_post(web_client, web_app, ids.SUPERVISION_DETAIL, {
        f"{ids.SUPERVISION_SELECTED}.data": {"supervision_id": ledger["other_s"]}}).get_data(as_text=True)
    assert "不在您的管辖范围内" in detail and "双桥子垃圾满溢督办" not in detail


@pytest.mark.browser
def test_a_console_link_outside_the_officers_street_opens_nothing(web_ctx, ledger, web_duo):
    """/console?incident=<id> selects only what the reader may read; another street's case stays hidden."""
    login(web_duo, "officer_mzw", next_path=quote(f"/console?incident={ledger['other']}", safe=""))
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_MESSAGE}", "不在您的管辖范围内", timeout=15)
    assert "双桥子垃圾满溢督办" not in web_duo.find_element(f"#{ids.CONSOLE_ROOT}").text
    web_duo.driver.get(web_duo.server_url + f"/console?incident={ledger['own']}")
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_DETAIL}", "建华社区占道经营督办", timeout=15)
    assert web_duo.get_logs() == []


def test_the_minute_tick_does_not_redraw_an_unchanged_ledger(web_ctx, web_app, web_client, ledger):
    """A redraw replaces every 办理 button, and a click landing on a replaced one was lost: the minute tick
    redraws the table only when a record changed (the countdowns tick in the browser)."""
    client_login(web_client, "leader")

    def tick(seen):
        resp = dash_post(web_client, web_app, ids.SUPERVISION_TABLE, {f"{ids.SUPERVISION_SHOW}.value": "open",
                                                                      f"{ids.SUPERVISION_SEEN}.data": seen})
        assert resp.status_code == 200
        return json.loads(resp.get_data())["response"]

    first = tick(None)
    assert ids.SUPERVISION_TABLE in first
    seen = first[ids.SUPERVISION_SEEN]["data"]
    assert tick(seen) == {}  # same minute, same data: nothing sent at all
    a_minute_later = {**seen, "key": [*seen["key"][:-1], seen["key"][-1] - 1]}
    later = tick(a_minute_later)
    assert ids.SUPERVISION_TABLE not in later and ids.SUPERVISION_UNIT not in later
    assert ids.SUPERVISION_COUNT in later  # the count and the server clock still follow
    web_ctx.work_orders.close_supervision(LEADER, ledger["own_s"], "已办结销号")
    changed = tick(later[ids.SUPERVISION_SEEN]["data"])
    assert ids.SUPERVISION_TABLE in changed and "建华社区占道经营督办" not in json.dumps(changed, ensure_ascii=False)
