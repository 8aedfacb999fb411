"""Issue 15 "Done when": one hotline request through the whole loop, each person in their own browser session.

Officer dispatches to 城管局 (lead) + 建华社区居委会 (co) → the unit accepts on /tasks at 390×844 → returns it
once with a reason, the officer 强派 it back → the unit asks for 延期, the shift lead approves → feedback with a
photo → the grid worker verifies on the phone → next working day 回访 不满意 reopens it as 重办 → second round
closes. The desk (officer, shift lead) and the phone (unit, grid worker) are two browsers with their own cookies;
each person logs in to a fresh session.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait

from layouts import ids  # ids only: never a page module
from ops_center.core.model import Event
from tests.fixtures_phone import as_desk, as_phone, horizontal_overflow, png_file
from tests.fixtures_web import click_settled, demo_password

GRID = "510108002002001"  # 建华社区第1网格: grid_jh1's grid, inside the co-handler 建华社区
TEXT = "建华社区门口流动摊贩占道经营，堵住人行道，行人只能走机动车道"
LONG = 30


def switch_user(browser, username: str) -> None:
    """Log out whoever is logged in (a POST with the page's token), then log in: a new session for this person."""
    browser.driver.get(browser.server_url + "/login")
    if browser.driver.find_elements("css selector", f"#{ids.SHELL_LOGOUT}"):
        browser.find_element(f"#{ids.SHELL_LOGOUT}").click()
    browser.driver.delete_all_cookies()
    browser.driver.get(browser.server_url + "/login")
    browser.wait_for_element("#login-username", timeout=LONG)
    browser.find_element("#login-username").send_keys(username)
    browser.find_element("#login-password").send_keys(demo_password(username))
    browser.find_element("#login-submit").click()
    browser.wait_for_contains_text(f"#{ids.SHELL_USER}", "（", timeout=LONG)


def file_hotline_request(ctx) -> int:
    """The 12345 request, through the one pipeline like any hotline feed."""
    lat, lon = ctx.cfg.area_by_code[GRID].centroid
    now = ctx.clock()
    ctx.pipeline.submit(Event(source="hotline", source_id="hotline_drop", natural_key="12345-LOOP-1", occurred_at=now,
                              received_at=now, text=TEXT, area_code=GRID, lat=lat, lon=lon,
                              fields={"request_id": "12345-LOOP-1"}))
    ctx.pipeline.flush(30)
    rows = ctx.store.query("SELECT incident_id, domain FROM incidents")
    assert len(rows) == 1 and rows[0][1] == "city_management", rows
    return int(rows[0][0])


def open_in_console(desk, incident_id: int) -> None:
    desk.driver.get(desk.server_url + "/console")
    cell = f'#{ids.CONSOLE_GRID} .ag-row[row-id="{incident_id}"] .ag-cell[col-id="title"]'
    desk.wait_for_element(cell, timeout=LONG).click()
    desk.wait_for_contains_text(f"#{ids.CONSOLE_DETAIL} .detail-id", f"#{incident_id}", timeout=LONG)


def console_click(desk, button_id: str) -> None:
    desk.wait_for_element(f"#{button_id}:not([disabled])", timeout=LONG)
    click_settled(desk, f"#{button_id}", timeout=LONG)


def type_note(browser, element_id: str, text: str) -> None:
    """Replace what a text or number field holds (Ctrl+A is released before the text is typed)."""
    box = browser.find_element(f"#{element_id}")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(text)


def lead_assignment(ctx, incident_id: int) -> int:
    rows = ctx.store.query("SELECT assignment_id FROM assignments WHERE incident_id = ? AND role = 'lead' AND status IN "
                           "('pending', 'accepted') ORDER BY assignment_id DESC", [incident_id])
    assert rows, ctx.store.query("SELECT * FROM assignments WHERE incident_id = ?", [incident_id])
    return int(rows[0][0])


def unit_does(phone, ctx, incident_id: int, action: str, expect: str, note: str | None = None) -> None:
    """On /tasks: open the lead assignment, write the note, tap the action, see the service's answer."""
    aid = lead_assignment(ctx, incident_id)
    if not phone.driver.current_url.endswith("/tasks"):
        phone.driver.get(phone.server_url + "/tasks")
    click_settled(phone, f"#task-{aid} button", timeout=LONG)
    phone.wait_for_contains_text(f"#{ids.TASKS_DETAIL}", f"#{incident_id}", timeout=LONG)
    if note is not None:
        type_note(phone, ids.TASKS_NOTE, note)
    button = ids.TASKS_ACTIONS[action]
    phone.wait_for_element(f"#{button}:not([disabled])", timeout=LONG)
    click_settled(phone, f"#{button}", timeout=LONG)
    phone.wait_for_contains_text(f"#{ids.TASKS_MESSAGE}", expect, timeout=LONG)


def grid_verifies(phone, incident_id: int, tmp_path, shot: str | None = None) -> None:
    phone.driver.get(phone.server_url + "/grid")
    phone.wait_for_element(f"#verify-{incident_id}", timeout=LONG)
    if shot:  # the first round: the unit's photo is shown to the worker (served inside the worker's scope)
        img = phone.wait_for_element(f"#verify-{incident_id} img", timeout=LONG)
        WebDriverWait(phone.driver, LONG).until(lambda d: d.execute_script("return arguments[0].naturalWidth", img) > 0)
        phone.driver.save_screenshot(shot)
    type_note(phone, ids.GRID_VERIFY_NOTE, "现场已无摊贩，人行道通畅")
    upload = phone.driver.find_element("css selector", f"#{ids.GRID_VERIFY_PHOTOS} input[type=file]")
    upload.send_keys(str(png_file(tmp_path, "核查.png", rgb=(30, 160, 90))))
    phone.wait_for_contains_text(f"#{ids.GRID_VERIFY_MESSAGE}", "已添加 1 张照片", timeout=LONG)
    click_settled(phone, f"#verify-{incident_id} .btn-primary", timeout=LONG)
    phone.wait_for_contains_text(f"#{ids.GRID_VERIFY_MESSAGE}", f"#{incident_id} 核查通过，已结案", timeout=LONG)


def status_of(ctx, incident_id: int) -> str:
    return ctx.store.query("SELECT status FROM incidents WHERE incident_id = ?", [incident_id])[0][0]


@pytest.mark.browser
def test_one_hotline_request_walks_the_whole_loop(live_ctx, live_duo, second_browser, tmp_path):
    ctx = live_ctx
    iid = file_hotline_request(ctx)
    desk, phone = live_duo, second_browser
    as_desk(desk.driver)
    as_phone(phone.driver)

    # 1. The officer acknowledges and dispatches: 城管局 leads (pre-filled from the domain), 建华社区 co-handles.
    switch_user(desk, "officer")
    open_in_console(desk, iid)
    console_click(desk, ids.CONSOLE_ACTIONS["acknowledge"])
    desk.wait_for_contains_text(f"#{ids.CONSOLE_MESSAGE}", f"#{iid} 已受理", timeout=LONG)
    assert desk.find_element(f"#{ids.CONSOLE_DEPARTMENT}").get_attribute("value") == "城管局"
    co = desk.find_element(f"#{ids.CONSOLE_CO_UNITS}")
    co.click()
    co.send_keys("建华社区居委会")
    option = '.mantine-MultiSelect-option[value="community:510108002002"]'
    desk.wait_for_element(option, timeout=LONG).click()
    co.send_keys(Keys.ESCAPE)
    console_click(desk, ids.CONSOLE_ACTIONS["dispatch"])
    desk.wait_for_contains_text(f"#{ids.CONSOLE_MESSAGE}", f"#{iid} 已派遣", timeout=LONG)
    desk.wait_for_contains_text(f"#{ids.CONSOLE_WORKORDER}", "建华社区居委会", timeout=LONG)
    units = dict(ctx.store.query("SELECT unit, role FROM assignments WHERE incident_id = ?", [iid]))
    assert units == {"urban_mgmt": "lead", "community:510108002002": "co"}

    # 2. The unit, on a phone: 签收, then 退单 once with a reason (no reason: refused).
    switch_user(phone, "unit_cg")
    assert phone.driver.current_url.endswith("/tasks")
    phone.wait_for_contains_text(f"#{ids.TASKS_LIST}", TEXT[:10], timeout=LONG)
    phone.wait_for_contains_text(f"#{ids.TASKS_LIST} .ops-countdown", "签收", timeout=LONG)  # the deadline ticks
    phone.driver.save_screenshot("/tmp/shots/tasks-390x844.png")
    assert horizontal_overflow(phone.driver) == 0
    as_desk(phone.driver)  # the same queue at a desk
    phone.driver.save_screenshot("/tmp/shots/tasks-1440x900.png")
    assert horizontal_overflow(phone.driver) == 0
    as_phone(phone.driver)
    unit_does(phone, ctx, iid, "accept", f"#{iid} 已签收")
    unit_does(phone, ctx, iid, "return_order", "请填写退单理由", note="")
    unit_does(phone, ctx, iid, "return_order", f"#{iid} 已退单", note="摊贩属社区自治范围，建议由社区先行劝导")

    # 3. The officer rules: 强派 back to 城管局 with a reason.
    open_in_console(desk, iid)
    desk.wait_for_contains_text(f"#{ids.CONSOLE_WORKORDER}", "摊贩属社区自治范围", timeout=LONG)
    desk.driver.save_screenshot("/tmp/shots/console-return-1440x900.png")
    type_note(desk, ids.CONSOLE_NOTE, "占道经营属城管执法职责，请城管局主办，社区协助")
    console_click(desk, ids.CONSOLE_FORCE)
    desk.wait_for_contains_text(f"#{ids.CONSOLE_WO_MESSAGE}", f"#{iid} 已强派回城管局", timeout=LONG)

    # 4. The unit accepts again and asks for 48 h more; the shift lead approves (the first extension's level).
    unit_does(phone, ctx, iid, "accept", f"#{iid} 已签收")
    type_note(phone, ids.TASKS_EXT_HOURS, "48")
    unit_does(phone, ctx, iid, "request_extension", f"#{iid} 延期申请已提交", note="需协调市场监管联合执法，时间不足")
    switch_user(desk, "shiftlead")
    open_in_console(desk, iid)
    desk.wait_for_contains_text(f"#{ids.CONSOLE_EXTENSION}", "48 小时", timeout=LONG)
    console_click(desk, ids.CONSOLE_ACTIONS["decide_extension"])
    desk.wait_for_contains_text(f"#{ids.CONSOLE_MESSAGE}", f"#{iid} 延期申请已批准", timeout=LONG)
    assert ctx.store.query("SELECT status, decided_by FROM extensions") == [("approved", "shiftlead")]

    # 5. The unit reports what it did, with a photo from the phone: the case is resolved.
    phone.driver.get(phone.server_url + "/tasks")
    aid = lead_assignment(ctx, iid)
    click_settled(phone, f"#task-{aid} button", timeout=LONG)
    upload = phone.driver.find_element("css selector", f"#{ids.TASKS_PHOTOS} input[type=file]")
    upload.send_keys(str(png_file(tmp_path, "处置.png")))
    phone.wait_for_contains_text(f"#{ids.TASKS_MESSAGE}", "已添加 1 张照片", timeout=LONG)
    unit_does(phone, ctx, iid, "feedback", f"#{iid} 处置反馈已提交", note="已联合执法清理摊位3处，设置劝导点")
    assert status_of(ctx, iid) == "resolved"
    photos = ctx.store.query("SELECT photos FROM feedback WHERE incident_id = ?", [iid])[0][0]
    assert len(photos) == 1 and (ctx.store.path.parent / "photos" / photos[0]).is_file()

    # 6. The grid worker of the place verifies on the phone, with a photo: closed.
    switch_user(phone, "grid_jh1")
    grid_verifies(phone, iid, tmp_path, shot="/tmp/shots/grid-verify-390x844.png")
    assert status_of(ctx, iid) == "closed"

    # 7. Next working day: 回访 不满意 (a note is required) reopens it as 重办 to 城管局.
    ctx.clock.advance(days=1)
    switch_user(desk, "officer")
    desk.driver.get(desk.server_url + "/console")
    desk.wait_for_contains_text(f"#{ids.CONSOLE_REVISIT_OPEN}", "回访（1）", timeout=LONG)
    click_settled(desk, f"#{ids.CONSOLE_REVISIT_OPEN}", timeout=LONG)
    desk.wait_for_element(f"#revisit-{iid}", timeout=LONG)
    type_note(desk, ids.CONSOLE_REVISIT_NOTE, "市民反映摊贩晚上又回来了")
    click_settled(desk, f"#revisit-{iid} .btn-danger", timeout=LONG)
    desk.wait_for_contains_text(f"#{ids.CONSOLE_REVISIT_MESSAGE}", f"#{iid} 回访：不满意，已按重办派回主办单位",
                                timeout=LONG)
    assert status_of(ctx, iid) == "dispatched"
    assert ctx.store.query("SELECT unit, round, status FROM assignments WHERE incident_id = ? AND round = 2", [iid]) == [
        ("urban_mgmt", 2, "pending")]

    # 8. Second round: the unit accepts and reports, the grid worker verifies: closed again.
    switch_user(phone, "unit_cg")
    phone.wait_for_contains_text(f"#{ids.TASKS_LIST}", "重办 第2轮", timeout=LONG)
    unit_does(phone, ctx, iid, "accept", f"#{iid} 已签收")
    unit_does(phone, ctx, iid, "feedback", f"#{iid} 处置反馈已提交", note="夜间增派巡查，摊贩已全部清离")
    switch_user(phone, "grid_jh1")
    grid_verifies(phone, iid, tmp_path)
    assert status_of(ctx, iid) == "closed"

    # Every step is on the timeline, by the person who did it.
    steps = ctx.store.query("SELECT actor, action FROM incident_timeline WHERE incident_id = ? ORDER BY ts, action",
                            [iid])
    done = {(a, b) for a, b in steps}
    for step in [("officer", "acknowledge"), ("officer", "dispatch"), ("unit_cg", "accept"), ("unit_cg", "return_order"),
                 ("officer", "decide_return"), ("unit_cg", "request_extension"), ("shiftlead", "decide_extension"),
                 ("unit_cg", "feedback"), ("grid_jh1", "close"), ("officer", "redo")]:
        assert step in done, (step, steps)

    # The unit's queue is empty again, also at a desk.
    switch_user(phone, "unit_cg")
    as_desk(phone.driver)
    phone.driver.get(phone.server_url + "/tasks")
    phone.wait_for_contains_text(f"#{ids.TASKS_LIST}", "暂无待办", timeout=LONG)  # nothing left to do
    assert horizontal_overflow(phone.driver) == 0
    switch_user(phone, "grid_jh1")  # the grid screen at a desk
    phone.wait_for_contains_text(f"#{ids.GRID_VERIFY_LIST}", "暂无待核查事件", timeout=LONG)
    phone.driver.save_screenshot("/tmp/shots/grid-1440x900.png")
    assert horizontal_overflow(phone.driver) == 0
    for browser in (desk, phone):
        logs = browser.get_logs()
        assert logs == [], [e["message"][:300] for e in logs]
