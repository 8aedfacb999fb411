"""派单目录 on the screens: the admin publishes a version, the console pre-fills by the version in force at creation,
and the 基层减负 guard asks for confirmation before a functional department's case goes to a community."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait

from layouts import ids
from ops_center.core.lifecycle import Actor
from ops_center.service import catalogue as svc
from tests.factories import make_incident
from tests.fixtures_web import click_settled, client_login, dash_post, login

AREA = "510108006001"


def _incidents(web_ctx) -> tuple[int, int]:
    """A city-management case from before the publish and one from after it (no category: the domain row)."""
    now = web_ctx.clock()
    old = make_incident(web_ctx.store, web_ctx.cfg, now=now - timedelta(minutes=10), domain="city_management",
                        severity="P3", area_code=AREA, title="旧事件：路面破损")
    new = make_incident(web_ctx.store, web_ctx.cfg, now=now + timedelta(minutes=1), domain="city_management",
                        severity="P3", area_code=AREA, title="新事件：路面破损")
    return old, new


def _open(duo, incident_id: int) -> None:
    cell = f'#{ids.CONSOLE_GRID} .ag-row[row-id="{incident_id}"] .ag-cell[col-id="title"]'
    duo.wait_for_element(cell).click()
    duo.wait_for_contains_text(f"#{ids.CONSOLE_DETAIL} .detail-id", f"#{incident_id}")


@pytest.mark.browser
def test_admin_publishes_a_version_and_only_newer_cases_are_prefilled_by_it(web_ctx, web_duo):
    old, new = _incidents(web_ctx)
    rows = [e.as_row() for e in web_ctx.cfg.dispatch_seed.latest().entries]
    row = next(i for i, r in enumerate(rows) if r["domain"] == "city_management" and not r["category"])
    login(web_duo, "admin")
    driver = web_duo.driver
    driver.get(web_duo.server_url + "/admin")
    click_settled(web_duo, "button[value='catalogue'], [role='tab'][id$='catalogue']")
    lead = f'#{ids.ADMIN_CAT_TABLE} .ag-row[row-index="{row}"] .ag-cell[col-id="lead"]'
    web_duo.wait_for_contains_text(lead, "urban_mgmt")
    ActionChains(driver).double_click(web_duo.find_element(lead)).perform()
    editor = web_duo.wait_for_element(f"{lead} input")
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys("emergency", Keys.ENTER)
    web_duo.wait_for_contains_text(lead, "emergency")
    web_duo.find_element(f"#{ids.ADMIN_CAT_NOTE}").send_keys("城市管理默认改由应急管理局主办")
    web_duo.find_element(f"#{ids.ADMIN_CAT_PUBLISH}").click()
    web_duo.wait_for_contains_text(f"#{ids.ADMIN_CAT_STATUS}", "已发布第 1 版")
    web_duo.wait_for_contains_text(f"#{ids.ADMIN_CAT_VERSIONS}", "城市管理默认改由应急管理局主办")
    version = svc.load_catalogue(web_ctx.store, web_ctx.cfg).version(1)
    assert version is not None and version.effective_from == web_ctx.clock() and version.published_by == "admin"

    driver.get(web_duo.server_url + "/console")
    _open(web_duo, new)
    hint = f"#{ids.CONSOLE_CATALOGUE_HINT}"
    web_duo.wait_for_contains_text(hint, "派单目录（第 1 版，事件创建时生效）：主办 应急管理局")
    _wait_value(web_duo, f"#{ids.CONSOLE_DEPARTMENT}", "应急管理局")
    _open(web_duo, old)
    web_duo.wait_for_contains_text(hint, "派单目录（第 0 版，事件创建时生效）：主办 城管局")
    _wait_value(web_duo, f"#{ids.CONSOLE_DEPARTMENT}", "城管局")
    logs = web_duo.get_logs()
    assert logs == [], [e["message"][:300] for e in logs]


def _wait_value(duo, selector: str, value: str) -> None:
    """A select's shown value (its input's value is the option label)."""
    WebDriverWait(duo.driver, 10).until(lambda d: d.find_element("css selector", selector).get_attribute("value") == value,
                                        f"{selector} never showed {value}")


def test_lead_and_co_units_are_prefilled_from_the_catalogue(web_ctx, web_app, web_client):
    """A row with @community as co-handler: the form gets the case's own 居委会 as a concrete unit."""
    rows = [e.as_row() for e in web_ctx.cfg.dispatch_seed.latest().entries]
    for r in rows:
        if r["domain"] == "city_management" and not r["category"]:
            r.update(lead="urban_mgmt", co_units="@community,water")
    svc.publish(web_ctx.store, web_ctx.cfg, Actor("admin", "admin", "510108"), rows, None, "协办加社区",
                now=web_ctx.clock())
    _, new = _incidents(web_ctx)
    client_login(web_client, "officer")
    out = json.loads(dash_post(web_client, web_app, ids.CONSOLE_CO_UNITS, {
        f"{ids.CONSOLE_SELECTED}.data": {"incident_id": new, "version": 1, "status": "new"}},
        changed=f"{ids.CONSOLE_SELECTED}.data").get_data())["response"]
    assert out[ids.CONSOLE_CO_UNITS]["value"] == [f"community:{AREA}", "water"]


def _message(resp) -> str:
    out = json.loads(resp.get_data())["response"]
    return out[ids.CONSOLE_MESSAGE]["children"]["props"]["children"]


def test_guard_shows_and_dispatch_to_a_community_needs_confirmation(web_ctx, web_app, web_client):
    old, _ = _incidents(web_ctx)
    web_ctx.service.acknowledge(Actor("officer", "officer", "510108"), old, 1)
    client_login(web_client, "officer")
    selected = {"incident_id": old, "version": 2, "status": "acknowledged"}
    shown = json.loads(dash_post(web_client, web_app, ids.CONSOLE_GUARD, {
        f"{ids.CONSOLE_DEPARTMENT}.value": "community_office", f"{ids.CONSOLE_SELECTED}.data": selected},
        changed=f"{ids.CONSOLE_DEPARTMENT}.value").get_data())["response"]
    assert shown[ids.CONSOLE_GUARD]["children"]["props"]["children"].startswith("基层减负提醒：")
    assert shown[ids.CONSOLE_GUARD_CONFIRM]["style"] == {"display": "block"}

    values = {f"{ids.CONSOLE_ACTIONS['dispatch']}.n_clicks": 1, f"{ids.CONSOLE_SELECTED}.data": selected,
              f"{ids.CONSOLE_DEPARTMENT}.value": "community_office", f"{ids.CONSOLE_REFRESH}.data": 1}
    refused = dash_post(web_client, web_app, ids.CONSOLE_MESSAGE, values,
                        changed=f"{ids.CONSOLE_ACTIONS['dispatch']}.n_clicks")
    assert "请勾选“确认派往基层”后再派遣" in _message(refused)
    assert web_ctx.service.get(old)["status"] == "acknowledged"

    done = dash_post(web_client, web_app, ids.CONSOLE_MESSAGE, {**values, f"{ids.CONSOLE_GUARD_CONFIRM}.checked": True},
                     changed=f"{ids.CONSOLE_ACTIONS['dispatch']}.n_clicks")
    assert _message(done) == f"#{old} 已派遣"
    inc = web_ctx.service.get(old)
    assert (inc["status"], inc["department"]) == ("dispatched", "community_office")
    notes = [n for n in web_ctx.service.timeline(old)["note"] if isinstance(n, str)]
    assert any(n.startswith("［基层减负提醒已确认］基层减负提醒：") for n in notes)

    community = dash_post(web_client, web_app, ids.CONSOLE_GUARD, {
        f"{ids.CONSOLE_DEPARTMENT}.value": f"community:{AREA}", f"{ids.CONSOLE_SELECTED}.data": selected},
        changed=f"{ids.CONSOLE_DEPARTMENT}.value")
    out = json.loads(community.get_data())["response"]
    assert "现派往" in out[ids.CONSOLE_GUARD]["children"]["props"]["children"]
    assert "主办 城管局" in out[ids.CONSOLE_CATALOGUE_HINT]["children"]["props"]["children"]

    ok = dash_post(web_client, web_app, ids.CONSOLE_GUARD, {
        f"{ids.CONSOLE_DEPARTMENT}.value": "urban_mgmt", f"{ids.CONSOLE_SELECTED}.data": selected},
        changed=f"{ids.CONSOLE_DEPARTMENT}.value")
    assert json.loads(ok.get_data())["response"][ids.CONSOLE_GUARD_CONFIRM]["style"] == {"display": "none"}


def _admin_post(web_client, web_app, output: str, values: dict, changed: str) -> dict:
    return json.loads(dash_post(web_client, web_app, output, values, changed=changed).get_data())["response"]


def test_admin_sees_a_versions_diff_and_bad_dates_are_refused_in_chinese(web_ctx, web_app, web_client):
    rows = [e.as_row() for e in web_ctx.cfg.dispatch_seed.latest().entries]
    for r in rows:
        if r["category"] == "street_vending":
            r.update(lead="@community", co_units="urban_mgmt")
    svc.publish(web_ctx.store, web_ctx.cfg, Actor("admin", "admin", "510108"), rows, None, "占道经营先由社区劝导",
                now=web_ctx.clock())
    client_login(web_client, "admin")
    out = _admin_post(web_client, web_app, ids.ADMIN_CAT_DIFF, {f"{ids.ADMIN_CAT_SELECT}.value": "1"},
                      f"{ids.ADMIN_CAT_SELECT}.value")
    text = json.dumps(out, ensure_ascii=False)
    assert "第 1 版相对第 0 版：1 处变化" in text
    assert "城市管理 / 占道经营 / 任意层级" in text and "城管局 · 社区" in text and "事发社区居委会（协办：城管局） · 社区" in text

    publish = {f"{ids.ADMIN_CAT_PUBLISH}.n_clicks": 1, f"{ids.ADMIN_CAT_TABLE}.rowData": rows,
               f"{ids.ADMIN_CAT_NOTE}.value": "再改一次"}
    for effective, message in (("明天", "生效时间格式应为 YYYY-MM-DD HH:MM 或 YYYY-MM-DD，收到：明天"),
                               ("2026-11-23 09:00", "生效时间不能早于现在"),
                               ("2026-11-30", "与当前最新版本（第 1 版）相同，无需发布")):
        out = _admin_post(web_client, web_app, ids.ADMIN_CAT_STATUS,
                          {**publish, f"{ids.ADMIN_CAT_EFFECTIVE}.value": effective}, f"{ids.ADMIN_CAT_PUBLISH}.n_clicks")
        assert out[ids.ADMIN_CAT_STATUS]["children"]["props"]["children"].startswith(message)
    assert len(svc.load_catalogue(web_ctx.store, web_ctx.cfg).versions) == 2


def test_only_admins_reach_the_publish_callback(web_ctx, web_app, web_client):
    client_login(web_client, "officer")
    rows = [{**e.as_row(), "lead": "water"} for e in web_ctx.cfg.dispatch_seed.latest().entries]
    resp = dash_post(web_client, web_app, ids.ADMIN_CAT_STATUS, {
        f"{ids.ADMIN_CAT_PUBLISH}.n_clicks": 1, f"{ids.ADMIN_CAT_TABLE}.rowData": rows,
        f"{ids.ADMIN_CAT_NOTE}.value": "x"}, changed=f"{ids.ADMIN_CAT_PUBLISH}.n_clicks")
    assert resp.status_code == 403
    assert len(svc.load_catalogue(web_ctx.store, web_ctx.cfg).versions) == 1
