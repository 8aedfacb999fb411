"""值班台: the SLA-ordered queue query, bulk acknowledge, and an officer working incidents in Chromium."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from selenium.webdriver.common.action_chains import ActionChains

from layouts import ids
from ops_center.read import queries
from tests.factories import make_incident
from tests.fixtures_web import client_login, dash_post, login

XSS = "<script>alert(1)</script>市民来电：楼道堆放杂物"


def test_queue_is_ordered_by_sla_urgency_and_filtered(web_ctx, demo_incidents):
    now = web_ctx.clock()
    late = make_incident(web_ctx.store, web_ctx.cfg, now=now - timedelta(hours=5), domain="traffic", severity="P2",
                         status="dispatched", area_code="510108004")
    df = queries.console_page(web_ctx.store, queries.QueueFilters(), None)[0]
    assert list(df["incident_id"][:2]) == [late, demo_incidents["p1"]]
    assert demo_incidents["closed"] not in set(df["incident_id"])
    dues = df["next_due"].tolist()
    assert dues == sorted(dues)
    fire = queries.console_page(web_ctx.store, queries.QueueFilters(domains=("fire_safety",)), None)[0]
    assert set(fire["domain"]) == {"fire_safety"}
    street = queries.console_page(web_ctx.store, queries.QueueFilters(area="510108002"), None)[0]
    assert set(street["street_code"]) == {"510108002"}
    p1 = queries.console_page(web_ctx.store, queries.QueueFilters(severities=("P1",), source="grid"), None)[0]
    assert list(p1["incident_id"]) == [demo_incidents["p1"]]


def test_scope_hides_other_streets(web_ctx, demo_incidents):
    df = queries.console_page(web_ctx.store, queries.QueueFilters(), "510108002")[0]
    assert set(df["street_code"]) == {"510108002"}


def test_detail_has_timeline_and_related(web_ctx, demo_incidents):
    now = web_ctx.clock()
    twin = make_incident(web_ctx.store, web_ctx.cfg, now=now, domain="fire_safety", severity="P3",
                         area_code="510108002")
    detail = queries.incident_detail(web_ctx.store, demo_incidents["p1"])
    assert detail.incident["status"] == "new"
    assert list(detail.timeline["action"]) == ["created"]
    assert twin in set(detail.related["incident_id"])
    assert queries.incident_detail(web_ctx.store, 999_999) is None


def test_bulk_acknowledge_reports_each_result(web_ctx, web_app, web_client, demo_incidents):
    client_login(web_client, "officer")
    rows = [{"incident_id": demo_incidents[d], "version": 1, "status": "new"} for d in ("traffic", "environment")]
    rows.append({"incident_id": demo_incidents["elderly_care"], "version": 7, "status": "new"})  # stale
    # The button only asks, with the count of selected 待受理 rows; nothing is acknowledged yet.
    resp = dash_post(web_client, web_app, ids.CONSOLE_BULK_CONFIRM, {
        f"{ids.CONSOLE_BULK_ACK}.n_clicks": 1, f"{ids.CONSOLE_GRID}.selectedRows": rows},
        changed=f"{ids.CONSOLE_BULK_ACK}.n_clicks")
    confirm = json.loads(resp.get_data())["response"][ids.CONSOLE_BULK_CONFIRM]
    assert confirm == {"displayed": True, "message": "确认批量受理 3 条待受理事件？"}
    assert web_ctx.store.query("SELECT count(*) FROM incidents WHERE status = 'acknowledged'") == [(0,)]
    # Confirmed: each result is reported (the retry button is the acting callback's own output).
    resp = dash_post(web_client, web_app, ids.CONSOLE_RETRY_BTN, {
        f"{ids.CONSOLE_BULK_CONFIRM}.submit_n_clicks": 1, f"{ids.CONSOLE_GRID}.selectedRows": rows,
        f"{ids.CONSOLE_REFRESH}.data": 3}, changed=f"{ids.CONSOLE_BULK_CONFIRM}.submit_n_clicks")
    text = json.loads(resp.get_data())["response"][ids.CONSOLE_MESSAGE]["children"]["props"]["children"]
    assert "成功 2 条" in text and "失败 1 条" in text and "已被他人处理" in text
    statuses = dict(web_ctx.store.query("SELECT incident_id, status FROM incidents"))
    assert statuses[demo_incidents["traffic"]] == "acknowledged"
    assert statuses[demo_incidents["elderly_care"]] == "new"


def _open(duo, incident_id: int) -> None:
    cell = f'#{ids.CONSOLE_GRID} .ag-row[row-id="{incident_id}"] .ag-cell[col-id="title"]'
    duo.wait_for_element(cell).click()
    duo.wait_for_contains_text(f"#{ids.CONSOLE_DETAIL} .detail-id", f"#{incident_id}")


def _click(duo, action: str) -> None:
    button = f"#{ids.CONSOLE_ACTIONS[action]}"
    duo.wait_for_element(f"{button}:not([disabled])").click()


@pytest.mark.browser
def test_officer_acknowledges_and_dispatches_and_the_wall_follows(web_ctx, demo_incidents, web_duo):
    xss = make_incident(web_ctx.store, web_ctx.cfg, now=web_ctx.clock(), domain="city_management", severity="P3",
                        area_code="510108006", title=XSS)
    target = demo_incidents["p1"]
    login(web_duo, "officer")
    driver = web_duo.driver
    console_tab = driver.current_window_handle
    driver.switch_to.new_window("window")  # a window stays visible (a background tab is throttled)
    driver.get(web_duo.server_url + "/wall")
    web_duo.wait_for_contains_text(f"#wall-item-{target} .status", "待受理")
    wall_tab = driver.current_window_handle
    driver.switch_to.window(console_tab)

    # User text is text: the hotline's <script> shows literally in the queue and the detail.
    web_duo.wait_for_contains_text(f'#{ids.CONSOLE_GRID} .ag-row[row-id="{xss}"]', "<script>alert(1)</script>")
    _open(web_duo, xss)
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_DETAIL} .detail-title", "<script>alert(1)</script>")

    _open(web_duo, target)
    _click(web_duo, "acknowledge")
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_MESSAGE}", f"#{target} 已受理")
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_TIMELINE}", "待受理 → 已受理")
    _click(web_duo, "dispatch")  # department pre-filled from the domain (消防救援大队)
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_MESSAGE}", f"#{target} 已派遣")
    assert web_ctx.service.get(target)["status"] == "dispatched"

    driver.switch_to.window(wall_tab)
    web_duo.wait_for_contains_text(f"#wall-item-{target} .status", "已派遣", timeout=2)
    driver.switch_to.window(console_tab)

    # Keyboard: click a row, press "a".
    other = demo_incidents["environment"]
    _open(web_duo, other)
    web_duo.wait_for_element(f"#{ids.CONSOLE_ACTIONS['acknowledge']}:not([disabled])")
    ActionChains(driver).send_keys("a").perform()
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_MESSAGE}", f"#{other} 已受理")

    # A note is stored and shown as text.
    driver.find_element("css selector", f"#{ids.CONSOLE_NOTE}").send_keys("<b>现场已处置</b>")
    _click(web_duo, "add_note")
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_TIMELINE}", "<b>现场已处置</b>")
    logs = web_duo.get_logs()
    assert logs == [], [e["message"][:300] for e in logs]
