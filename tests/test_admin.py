"""系统管理: dead letters shown as text, rules explain from the page, admin-only callbacks and audited actions."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from layouts import ids as I
from ops_center.read import queries_admin as qa
from ops_center.store.store import to_db
from ops_center.web.context import set_context
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
    assert "分类规则" in duo.find_element(f"#{I.ADMIN_EXPLAIN_RESULT}").text  # the kind of rule in Chinese
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
              I.ADMIN_USER_SCOPE: "510108", I.ADMIN_USER_PASSWORD: "password-123", I.ADMIN_USER_UNIT: None}
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


# --- dead-letter replay and discard, suppression checks, Chinese labels (issue 16) ------------------


@pytest.fixture
def replay_ctx(admin_ctx):
    """admin_ctx with a running pipeline and the device registry, and a grid report kept as a dead letter."""
    from ops_center.core.devices import load_devices
    from ops_center.core.sla import SlaPolicy
    from ops_center.service.pipeline import Pipeline
    from tests.factories import grid_in

    cfg, now = admin_ctx.cfg, admin_ctx.clock()
    pipeline = Pipeline(admin_ctx.store, admin_ctx.bus, cfg, admin_ctx.rules, SlaPolicy(cfg), admin_ctx.clock).start()
    registry = load_devices(cfg.path_of(cfg.devices.path), cfg)
    # Rejected while its grid was not yet configured; the grid exists now ("after fixing the mapping").
    good = json.dumps({"report_id": "R-replay-1", "reporter": "张网格", "text": "小区门口有人打架斗殴",
                       "ts": "2026-11-24T09:55:00+08:00"}, ensure_ascii=False).encode()

    topic = f"ops/grid/{grid_in(cfg, '510108002')}/report"

    def insert(conn):
        conn.execute("INSERT INTO dead_letters VALUES (8, ?, 'mqtt_grid', ?, 'unknown_grid', 'grid not configured', ?)",
                     [to_db(now - timedelta(minutes=2)), topic, good])

    admin_ctx.store.write(insert)
    ctx = replace(admin_ctx, pipeline=pipeline, registry=registry)
    set_context(ctx)
    yield ctx
    pipeline.stop()


def _view(duo, dead_letter_id: int) -> None:
    duo.find_element("[id='" + json.dumps({"id": dead_letter_id, "type": I.ADMIN_DL_VIEW},
                                          separators=(",", ":")) + "']").click()
    duo.wait_for_contains_text(f"#{I.ADMIN_DEAD_LETTER_META}", f"死信 #{dead_letter_id}")


@pytest.mark.browser
def test_admin_replays_a_fixed_dead_letter_and_discards_a_bad_one_with_an_audit_trail(replay_ctx, web_duo):
    duo = web_duo
    assert replay_ctx.store.query("SELECT dead_letter_id FROM dead_letters ORDER BY 1") == [(7,), (8,)]
    login(duo, "admin", next_path="/admin")
    duo.wait_for_contains_text(f"#{I.ADMIN_DEAD_LETTERS}", "未知网格编码（unknown_grid）", timeout=20)

    _view(duo, 8)
    duo.wait_for_element(f"#{I.ADMIN_DL_REPLAY}:not([disabled])").click()
    duo.wait_for_contains_text(f"#{I.ADMIN_DL_STATUS}", "已重放死信 #8：1 条事件进入处理流程", timeout=10)
    rows = replay_ctx.store.query("SELECT source_id, natural_key FROM events")
    assert rows == [("mqtt_grid", "R-replay-1")]
    assert replay_ctx.store.query("SELECT count(*) FROM incidents")[0][0] == 1
    duo.wait_for_contains_text(f"#{I.ADMIN_DEAD_LETTERS}", "已重放")

    # The nasty one still cannot be parsed: the replay says why and keeps it; a discard needs a reason.
    _view(duo, 7)
    duo.find_element(f"#{I.ADMIN_DL_REPLAY}").click()
    duo.wait_for_contains_text(f"#{I.ADMIN_DL_STATUS}", "重放失败：仍无法解析", timeout=10)
    duo.find_element(f"#{I.ADMIN_DL_DISCARD}").click()
    duo.wait_for_contains_text(f"#{I.ADMIN_DL_STATUS}", "请填写丢弃原因")
    duo.find_element(f"#{I.ADMIN_DL_NOTE}").send_keys("测试终端发送的乱码")
    duo.find_element(f"#{I.ADMIN_DL_DISCARD}").click()
    duo.wait_for_contains_text(f"#{I.ADMIN_DL_STATUS}", "已丢弃死信 #7")
    assert replay_ctx.store.query("SELECT count(*) FROM dead_letters")[0][0] == 2  # nothing deleted

    # The audit log names the actions in Chinese and shows details as text in site time, not raw JSON.
    duo.driver.find_element("xpath", "//button[@role='tab'][contains(., '审计日志')]").click()
    audit = qa.audit_log(replay_ctx.store)
    assert {"dead_letter_replayed", "dead_letter_discarded", "dead_letter_replay_failed"} <= set(audit["action"])
    duo.wait_for_contains_text(f"#{I.ADMIN_AUDIT}", "丢弃死信", timeout=10)
    text = duo.find_element(f"#{I.ADMIN_AUDIT}").text
    assert "note：测试终端发送的乱码" in text and '{"' not in text
    logs = duo.get_logs()
    assert logs == [], [e["message"][:300] for e in logs]


def test_a_suppression_for_an_unknown_area_is_refused(admin_ctx, web_app, web_client):
    from tests.fixtures_web import dash_post

    client_login(web_client, "admin")
    values = {f"{I.ADMIN_SUP_CREATE}.n_clicks": 1, f"{I.ADMIN_SUP_SCOPE}.value": "area",
              f"{I.ADMIN_SUP_VALUE}.value": "510108002001XYZ", f"{I.ADMIN_SUP_HOURS}.value": 2,
              f"{I.ADMIN_SUP_REASON}.value": "维护"}
    resp = dash_post(web_client, web_app, I.ADMIN_SUP_STATUS, values, changed=f"{I.ADMIN_SUP_CREATE}.n_clicks")
    assert "未知区域编码：510108002001XYZ" in resp.get_data(as_text=True)
    assert admin_ctx.store.query("SELECT count(*) FROM suppressions WHERE value = '510108002001XYZ'")[0][0] == 0
    values[f"{I.ADMIN_SUP_VALUE}.value"] = "510108002"
    resp = dash_post(web_client, web_app, I.ADMIN_SUP_STATUS, values, changed=f"{I.ADMIN_SUP_CREATE}.n_clicks")
    assert "已新建屏蔽" in resp.get_data(as_text=True)
