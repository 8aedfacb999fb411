"""系统管理 → 用户与角色 (issue 15): an admin gives a new user its responsible unit; that user works on /tasks."""

from __future__ import annotations

import json

import pytest
from selenium.webdriver.support.wait import WebDriverWait

from layouts import ids as I
from ops_center.read import queries_admin as qa
from tests.fixtures_web import client_login, dash_post, login

USER_STATES = (I.ADMIN_USER_NAME, I.ADMIN_USER_DISPLAY, I.ADMIN_USER_ROLE, I.ADMIN_USER_SCOPE, I.ADMIN_USER_PASSWORD,
               I.ADMIN_USER_UNIT)


def post_user_form(web_client, web_app, button: str, **form) -> str:
    """The user form's button pressed with these field values, the way a browser posts it; the status text."""
    values = {f"{i}.value": form.get(i) for i in USER_STATES} | {f"{button}.n_clicks": 1}
    resp = dash_post(web_client, web_app, I.ADMIN_USER_STATUS, values, changed=f"{button}.n_clicks")
    assert resp.status_code == 200
    return json.dumps(json.loads(resp.get_data())["response"], ensure_ascii=False)


def test_the_form_sends_the_unit_only_for_role_unit(web_ctx, web_app, web_client):
    client_login(web_client, "admin")
    form = {I.ADMIN_USER_NAME: "unit_river", I.ADMIN_USER_DISPLAY: "水务办件员", I.ADMIN_USER_SCOPE: "510108",
            I.ADMIN_USER_PASSWORD: "password-123", I.ADMIN_USER_UNIT: "water"}
    assert "已新建用户 unit_river" in post_user_form(web_client, web_app, I.ADMIN_USER_CREATE,
                                                   **form, **{I.ADMIN_USER_ROLE: "unit"})
    assert web_ctx.store.query("SELECT role, unit FROM users WHERE username = 'unit_river'") == [("unit", "water")]
    # The unit select still holds 水务局 when the admin switches the role to officer: the unit is not sent.
    assert "已更新用户 unit_river" in post_user_form(web_client, web_app, I.ADMIN_USER_UPDATE,
                                                   **form, **{I.ADMIN_USER_ROLE: "officer"})
    assert web_ctx.store.query("SELECT role, unit FROM users WHERE username = 'unit_river'") == [("officer", None)]
    refused = post_user_form(web_client, web_app, I.ADMIN_USER_UPDATE,
                             **form | {I.ADMIN_USER_UNIT: None}, **{I.ADMIN_USER_ROLE: "unit"})
    assert "责任单位用户须选择所属单位" in refused
    log = qa.audit_log(web_ctx.store, action="user.")
    assert list(log["action"]) == ["user.update", "user.create"]


def test_choosing_a_community_unit_moves_the_scope_into_its_area(web_ctx, web_app, web_client):
    client_login(web_client, "admin")

    def scope_after(unit, scope):
        resp = dash_post(web_client, web_app, I.ADMIN_USER_SCOPE,
                         {f"{I.ADMIN_USER_UNIT}.value": unit, f"{I.ADMIN_USER_SCOPE}.value": scope},
                         changed=f"{I.ADMIN_USER_UNIT}.value")
        assert resp.status_code in (200, 204)
        body = json.loads(resp.get_data() or b"{}").get("response", {})
        return body.get(I.ADMIN_USER_SCOPE, {}).get("value")  # None: left as the admin typed it

    assert scope_after("community:510108002002", "510108") == "510108002002"
    assert scope_after("street:510108004", "510108002002") == "510108004"
    assert scope_after("community:510108002002", "510108002002001") is None  # a grid inside it: kept
    assert scope_after("urban_mgmt", "510108002") is None  # a department works anywhere


@pytest.mark.browser
def test_admin_creates_a_city_management_unit_user_who_lands_on_tasks(web_ctx, web_duo):
    duo = web_duo
    login(duo, "admin", next_path="/admin")
    duo.driver.find_element("xpath", "//button[@role='tab'][contains(., '用户与角色')]").click()
    duo.wait_for_contains_text(f"#{I.ADMIN_USERS}", "unit_cg", timeout=10)
    box = duo.find_element(f"#{I.ADMIN_USER_UNIT_BOX}")
    assert not box.is_displayed()  # a viewer has no unit

    duo.find_element(f"#{I.ADMIN_USER_NAME}").send_keys("unit_cg2")
    duo.find_element(f"#{I.ADMIN_USER_DISPLAY}").send_keys("城管局值守")
    duo.find_element(f"#{I.ADMIN_USER_ROLE}").click()
    duo.wait_for_element('.mantine-Select-option[value="unit"]', timeout=10).click()
    WebDriverWait(duo.driver, 10).until(lambda _: box.is_displayed(), "the unit select never appeared for role unit")
    unit = duo.find_element(f"#{I.ADMIN_USER_UNIT}")
    unit.click()
    unit.send_keys("城管")
    duo.wait_for_element('.mantine-Select-option[value="urban_mgmt"]', timeout=10).click()
    duo.find_element(f"#{I.ADMIN_USER_PASSWORD}").send_keys("cg2-password")

    duo.find_element(f"#{I.ADMIN_USER_CREATE}").click()
    duo.wait_for_contains_text(f"#{I.ADMIN_USER_STATUS}", "已新建用户 unit_cg2", timeout=10)
    assert web_ctx.store.query("SELECT role, unit, scope FROM users WHERE username = 'unit_cg2'") == [
        ("unit", "urban_mgmt", "510108")]
    duo.wait_for_contains_text(f"#{I.ADMIN_USERS}", "城管局值守", timeout=10)
    row = next(r for r in duo.find_elements(f"#{I.ADMIN_USERS} tr") if "unit_cg2" in r.text)
    assert "城管局" in row.text.replace("城管局值守", "")  # the unit's name, not its code
    assert "urban_mgmt" not in row.text
    logs = duo.get_logs()
    assert logs == [], [e["message"][:300] for e in logs]

    # The new user, in a fresh session, lands on the unit's own queue.
    duo.driver.find_element("css selector", f"#{I.SHELL_LOGOUT}").click()
    duo.driver.delete_all_cookies()
    login(duo, "unit_cg2", password="cg2-password")
    WebDriverWait(duo.driver, 10).until(lambda d: d.current_url.endswith("/tasks"), "unit_cg2 did not land on /tasks")
    duo.wait_for_contains_text(f"#{I.SHELL_USER}", "城管局值守", timeout=10)
