"""Login, roles and the server-side gate: Dash callbacks are plain HTTP endpoints anyone can POST to."""

from __future__ import annotations

import pytest

from layouts import ids
from ops_center.web import auth
from tests.factories import make_incident
from tests.fixtures_web import client_csrf, client_login, dash_post, login

ACK = ids.CONSOLE_ACTIONS["acknowledge"]


def _ack_values(incident_id: int, version: int = 1) -> dict:
    return {
        f"{ACK}.n_clicks": 1,
        f"{ids.CONSOLE_SELECTED}.data": {"incident_id": incident_id, "version": version, "status": "new"},
        f"{ids.CONSOLE_REFRESH}.data": 0,
    }


def _state(store, incident_id: int) -> tuple:
    status, version = store.query("SELECT status, version FROM incidents WHERE incident_id = ?", [incident_id])[0]
    timeline = store.query("SELECT count(*) FROM incident_timeline WHERE incident_id = ?", [incident_id])[0][0]
    audit = store.query("SELECT count(*) FROM audit_log WHERE action NOT IN ('login', 'login.failed', 'logout')")[0][0]
    return status, version, timeline, audit


@pytest.fixture
def incident(web_ctx) -> int:
    return make_incident(web_ctx.store, web_ctx.cfg, now=web_ctx.clock(), domain="fire_safety", severity="P2",
                         area_code="510108002002001")


def test_anonymous_pages_redirect_to_login(web_client):
    for path in ("/", "/console", "/wall", "/admin"):
        resp = web_client.get(path)
        assert resp.status_code == 302
        assert resp.headers["Location"].startswith("/login?next=")
    assert web_client.get("/login").status_code == 200


def test_login_lands_on_the_roles_first_screen_and_logout_ends_the_session(web_ctx, web_client):
    bad = client_login(web_client, "officer", "wrong-password")
    assert bad.headers["Location"].startswith("/login?error=1")
    assert web_client.get("/console").status_code == 302
    assert client_login(web_client, "officer").headers["Location"] == "/console"
    assert web_client.get("/console").status_code == 200
    assert web_client.post("/logout", data={"csrf_token": client_csrf(web_client)}).headers["Location"] == "/login"
    assert web_client.get("/console").status_code == 302
    audit = web_ctx.store.query("SELECT actor, action FROM audit_log ORDER BY audit_id")
    assert audit == [("officer", "login.failed"), ("officer", "login"), ("officer", "logout")]


def test_login_next_is_local_only(web_client):
    resp = web_client.post("/auth/login", data={"username": "leader", "password": "leader2026",
                                                "next": "https://evil.example/x", "csrf_token": client_csrf(web_client)})
    assert resp.headers["Location"] == "/areas"
    web_client.post("/logout", data={"csrf_token": client_csrf(web_client)})
    resp = web_client.post("/auth/login", data={"username": "leader", "password": "leader2026", "next": "/reports",
                                                "csrf_token": client_csrf(web_client)})
    assert resp.headers["Location"] == "/reports"


@pytest.mark.parametrize(
    ("role", "screens"),
    [
        ("viewer", ["wall"]),
        ("officer", ["wall", "console", "areas", "reports"]),
        ("leader", ["wall", "console", "areas", "supervision", "reports"]),
        ("shift_lead", ["wall", "console", "areas", "supervision", "reports"]),
        ("admin", ["wall", "console", "areas", "supervision", "reports", "admin"]),
    ],
)
def test_roles_see_only_their_screens(role, screens):
    assert auth.User("u", "U", role, "510108").screens == screens


def test_direct_post_as_anonymous_and_viewer_is_refused_and_changes_nothing(web_ctx, web_app, web_client, incident):
    before = _state(web_ctx.store, incident)
    resp = dash_post(web_client, web_app, ids.CONSOLE_MESSAGE, _ack_values(incident), changed=f"{ACK}.n_clicks")
    assert resp.status_code == 401
    client_login(web_client, "viewer")
    resp = dash_post(web_client, web_app, ids.CONSOLE_MESSAGE, _ack_values(incident), changed=f"{ACK}.n_clicks")
    assert resp.status_code == 403
    # Dressing the console callback up as the public pages router does not help either.
    key = next(k for k in web_app.callback_map if f"{ids.CONSOLE_MESSAGE}." in k)
    resp = web_client.post("/_dash-update-component", json={
        "output": key, "outputs": [{"id": "_pages_content", "property": "children"}], "inputs": [], "state": []})
    assert resp.status_code == 403
    web_ctx.bus.drain()
    assert _state(web_ctx.store, incident) == before


def test_the_same_post_as_officer_acts_through_the_service(web_ctx, web_app, web_client, incident):
    """The refused requests above are real requests: the officer's identical one acknowledges."""
    client_login(web_client, "officer")
    resp = dash_post(web_client, web_app, ids.CONSOLE_MESSAGE, _ack_values(incident), changed=f"{ACK}.n_clicks")
    assert resp.status_code == 200
    assert "已受理" in resp.get_data(as_text=True)
    status, version, *_ = _state(web_ctx.store, incident)
    assert (status, version) == ("acknowledged", 2)


def test_a_stale_version_is_shown_as_someone_else_acted_first(web_ctx, web_app, web_client, incident):
    client_login(web_client, "officer")
    first = dash_post(web_client, web_app, ids.CONSOLE_MESSAGE, _ack_values(incident, 1), changed=f"{ACK}.n_clicks")
    assert first.status_code == 200
    again = dash_post(web_client, web_app, ids.CONSOLE_MESSAGE, _ack_values(incident, 1), changed=f"{ACK}.n_clicks")
    assert again.status_code == 200
    assert "在您打开后已有变化" in again.get_data(as_text=True)  # and what changed, with a retry (issue 16)
    assert _state(web_ctx.store, incident)[:2] == ("acknowledged", 2)


def test_an_officer_outside_the_incidents_area_is_refused_by_the_service(web_ctx, web_app, web_client):
    other_street = make_incident(web_ctx.store, web_ctx.cfg, now=web_ctx.clock(), area_code="510108004003001")
    client_login(web_client, "officer_mzw")
    resp = dash_post(web_client, web_app, ids.CONSOLE_MESSAGE, _ack_values(other_street),
                     changed=f"{ACK}.n_clicks")
    assert "不在您的管辖范围内" in resp.get_data(as_text=True)
    assert _state(web_ctx.store, other_street)[:2] == ("new", 1)


def test_kiosk_token_opens_the_wall_read_only(web_app, web_client):
    assert web_client.get("/wall?token=not-a-token").status_code == 302
    assert web_client.get("/wall?token=wall-demo-kiosk-token").status_code == 200
    wall = dash_post(web_client, web_app, ids.WALL_TOTALS, {f"{ids.WALL_PATROL}.data": {"on": False, "i": -1}})
    assert wall.status_code == 200
    assert "今日新增" in wall.get_data(as_text=True)
    console = dash_post(web_client, web_app, ids.CONSOLE_MESSAGE, _ack_values(1), changed=f"{ACK}.n_clicks")
    assert console.status_code == 403
    assert web_client.get("/console").status_code == 200  # the page shell loads, its layout says no
    router = dash_post(web_client, web_app, "_pages_content", {"_pages_location.pathname": "/console",
                                                                "_pages_location.search": ""})
    assert "无权访问" in router.get_data(as_text=True)


@pytest.mark.browser
def test_login_logout_and_a_viewer_cannot_act(web_duo):
    login(web_duo, "officer")
    web_duo.wait_for_page(web_duo.server_url + "/console")
    web_duo.wait_for_contains_text(f"#{ids.SHELL_NAV}", "值班台")
    assert "系统管理" not in web_duo.find_element(f"#{ids.SHELL_NAV}").text
    web_duo.find_element(f"#{ids.SHELL_LOGOUT}").click()
    web_duo.wait_for_element(f"#{ids.LOGIN_FORM}")

    login(web_duo, "viewer")
    web_duo.wait_for_element(f"#{ids.WALL_ROOT}")
    web_duo.wait_for_page(web_duo.server_url + "/console")
    web_duo.wait_for_contains_text(f"#{ids.SHELL_DENIED}", "无权访问")
    assert web_duo.find_elements(f"#{ACK}") == []
    assert [a.text for a in web_duo.find_elements(f"#{ids.SHELL_NAV} a")] == ["一屏统调"]
    assert web_duo.get_logs() == []
