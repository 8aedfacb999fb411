"""系统管理: dead letters shown as text, rules explain from the page, admin-only callbacks and audited actions."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from layouts import ids as I
from ops_center import queries_admin as qa
from ops_center.context import set_context
from ops_center.store import to_db
from tests.fixtures_web import FakeHealth, client_login, login

NASTY = b'{"text": "<script>window.__pwned=1</script>\xff\xfe", "ts": 1}\x00'


@pytest.fixture
def admin_ctx(web_app, web_ctx):
    """web_ctx with the shipped rules loaded, two fake feeds and one nasty dead letter (after create_app)."""
    from rules.holder import RulesHolder

    cfg, now = web_ctx.cfg, web_ctx.clock()
    holder = RulesHolder([cfg.path_of(p) for p in cfg.rules.paths], cfg)

    def health():
        return [FakeHealth("mqtt_sensors", "物联感知", "connected", now, 120.0, 0.0, 0),
                FakeHealth("mqtt_grid", "网格员上报", "silent", now - timedelta(hours=1), 0.0, 0.5, 1)]

    def insert(conn):
        conn.execute("INSERT INTO dead_letters VALUES (7, ?, 'mqtt_grid', 'ops/grid/510108002005001/report', "
                     "'invalid_utf8', 'payload is not UTF-8', ?)", [to_db(now - timedelta(minutes=3)), NASTY])

    web_ctx.store.write(insert)
    ctx = replace(web_ctx, rules=holder, health=health)
    set_context(ctx)
    return ctx


def test_raw_bytes_are_escaped_never_interpreted():
    text = qa.escaped_text(NASTY)
    assert "<script>window.__pwned=1</script>" in text  # as characters, for a text node
    assert "\\xff\\xfe" in text and "\\x00" in text and "\x00" not in text
    dump = qa.hex_dump(b"AB\x00\xff")
    assert dump == "00000000  41 42 00 ff" + " " * 36 + "  AB.."


@pytest.mark.browser
def test_admin_sees_dead_letter_payload_as_text_and_explains_an_event(admin_ctx, web_duo):
    duo = web_duo
    login(duo, "admin", next_path="/admin")
    duo.wait_for_contains_text(f"#{I.ADMIN_SOURCES}", "静默", timeout=10)
    duo.wait_for_contains_text(f"#{I.ADMIN_DEAD_LETTERS}", "invalid_utf8", timeout=10)
    duo.find_element("[id='" + json.dumps({"id": 7, "type": I.ADMIN_DL_VIEW}, separators=(",", ":")) + "']").click()
    duo.wait_for_contains_text(f"#{I.ADMIN_DEAD_LETTER_TEXT}", "<script>window.__pwned=1</script>", timeout=10)
    assert "\\xff\\xfe" in duo.find_element(f"#{I.ADMIN_DEAD_LETTER_TEXT}").text
    duo.wait_for_contains_text(f"#{I.ADMIN_DEAD_LETTER_HEX}", "3c 73 63 72", timeout=5)
    assert duo.driver.execute_script("return document.querySelectorAll('#admin-dead-letter-text script').length") == 0
    assert duo.driver.execute_script("return window.__pwned === undefined")

    duo.find_element("button[value='rules'], [role='tab'][id$='rules']").click()
    duo.wait_for_contains_text(f"#{I.ADMIN_RULES_INFO}", "条规则", timeout=10)
    duo.find_element(f"#{I.ADMIN_RULES_VALIDATE}").click()
    duo.wait_for_contains_text(f"#{I.ADMIN_RULES_STATUS}", "校验通过", timeout=10)
    duo.find_element(f"#{I.ADMIN_EXPLAIN_BUTTON}").click()
    duo.wait_for_contains_text(f"#{I.ADMIN_EXPLAIN_RESULT}", "采用", timeout=10)
    assert duo.get_logs() == []


def lists_body() -> dict:
    outputs = [I.ADMIN_SOURCES, I.ADMIN_DEAD_LETTERS, I.ADMIN_RULES_TABLE, I.ADMIN_RULES_INFO, I.ADMIN_SUPPRESSIONS,
               I.ADMIN_USERS, I.ADMIN_AUDIT]
    return {
        "output": ".." + "...".join(f"{o}.children" for o in outputs) + "..",
        "outputs": [{"id": o, "property": "children"} for o in outputs],
        "inputs": [{"id": I.ADMIN_REFRESH, "property": "n_clicks", "value": 1},
                   {"id": I.ADMIN_SUP_STATUS, "property": "children", "value": None},
                   {"id": I.ADMIN_USER_STATUS, "property": "children", "value": None},
                   {"id": I.ADMIN_AUDIT_ACTOR, "property": "value", "value": None}],
        "changedPropIds": [f"{I.ADMIN_REFRESH}.n_clicks"],
    }


def create_user_body(username: str) -> dict:
    states = {I.ADMIN_USER_NAME: username, I.ADMIN_USER_DISPLAY: "越权", I.ADMIN_USER_ROLE: "admin",
              I.ADMIN_USER_SCOPE: "510108", I.ADMIN_USER_PASSWORD: "password-123"}
    buttons = [I.ADMIN_USER_CREATE, I.ADMIN_USER_UPDATE, I.ADMIN_USER_RESET, I.ADMIN_USER_DEACTIVATE,
               I.ADMIN_USER_ACTIVATE]
    return {
        "output": f"{I.ADMIN_USER_STATUS}.children",
        "outputs": {"id": I.ADMIN_USER_STATUS, "property": "children"},
        "inputs": [{"id": b, "property": "n_clicks", "value": 1 if b == I.ADMIN_USER_CREATE else None} for b in buttons],
        "state": [{"id": k, "property": "value", "value": v} for k, v in states.items()],
        "changedPropIds": [f"{I.ADMIN_USER_CREATE}.n_clicks"],
    }


@pytest.mark.parametrize(("username", "status"), [(None, 401), ("viewer", 403), ("officer", 403), ("leader", 403)])
def test_only_admins_reach_admin_callbacks(admin_ctx, web_client, username, status):
    if username:
        client_login(web_client, username)
    assert web_client.post("/_dash-update-component", json=lists_body()).status_code == status
    assert web_client.post("/_dash-update-component", json=create_user_body("sneaky")).status_code == status
    assert admin_ctx.store.query("SELECT count(*) FROM users WHERE username = 'sneaky'") == [(0,)]


def test_admin_creates_a_user_through_the_callback_and_it_is_audited(admin_ctx, web_client):
    client_login(web_client, "admin")
    assert web_client.post("/_dash-update-component", json=lists_body()).status_code == 200
    resp = web_client.post("/_dash-update-component", json=create_user_body("deputy"))
    assert resp.status_code == 200 and "已新建用户 deputy" in resp.get_data(as_text=True)
    assert admin_ctx.store.query("SELECT role, active FROM users WHERE username = 'deputy'") == [("admin", True)]
    log = qa.audit_log(admin_ctx.store, action="user.")
    assert list(zip(log["actor"], log["action"], log["target"], strict=True)) == [("admin", "user.create", "user:deputy")]
