"""Issue 11, web side, against the app served over real HTTP: redirects, login limits, CSRF, logout, read scope."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.live_web import form_token, http_dash_post, http_login, render_page, serve


@pytest.fixture
def base(web_app):
    with serve(web_app) as url:
        yield url


def _audit(store, action: str) -> list[tuple]:
    return store.query("SELECT actor, detail FROM audit_log WHERE action = ? ORDER BY audit_id", [action])


# --- 5: open redirect ------------------------------------------------------------------------


@pytest.mark.parametrize("hostile", [
    "/\t/evil.example", "//evil.example", "/\\evil.example", "\\\\evil.example", "https://evil.example/x",
    "javascript:alert(1)", "/\n/evil.example", " /x", "/x\r\nSet-Cookie: owned=1", "/x\r\n\r\n<b>body</b>",
])
def test_login_next_never_leaves_the_site_and_never_breaks_the_response(web_app, base, hostile):
    with requests.Session() as s:
        resp = http_login(s, base, web_app, "leader", next=hostile)
    assert resp.status_code in (302, 303), resp.status_code
    assert resp.headers["Location"] == "/areas"
    assert "owned" not in resp.headers.get("Set-Cookie", "")


def test_login_next_keeps_a_local_path_with_its_query(web_app, base):
    with requests.Session() as s:
        resp = http_login(s, base, web_app, "leader", next="/areas?code=510108002&kpi=overdue")
    assert resp.headers["Location"] == "/areas?code=510108002&kpi=overdue"


# --- 6: login rate limit -----------------------------------------------------------------------


def test_two_hundred_wrong_passwords_are_not_all_tried(web_ctx, web_app, base):
    limit = web_ctx.cfg.web.login_limit
    started = time.monotonic()
    with requests.Session() as s:
        token = form_token(s, base, web_app)
        answers = [s.post(base + "/auth/login", allow_redirects=False, timeout=30,
                          data={"username": "admin", "password": f"guess-{i}", "csrf_token": token})
                   for i in range(200)]
        # Even the right password is refused while the lock holds (the fixed clock never lets it expire).
        right = s.post(base + "/auth/login", allow_redirects=False, timeout=30,
                       data={"username": "admin", "password": "admin2026", "csrf_token": token})
        assert s.get(base + "/admin", allow_redirects=False).status_code == 302
    elapsed = time.monotonic() - started
    checked = _audit(web_ctx.store, "login.failed")
    assert len(checked) == limit.user_attempts  # the rest never reached the password hash
    throttled = [a for a in answers if "error=throttled" in a.headers["Location"]]
    assert len(throttled) == 200 - limit.user_attempts
    assert all(int(a.headers["Retry-After"]) >= 1 for a in throttled)
    assert "error=throttled" in right.headers["Location"]
    locked = _audit(web_ctx.store, "login.locked")
    assert len(locked) == 1 and '"locked": "user"' in locked[0][1]
    assert elapsed < 60


def test_parallel_guesses_over_http_are_held_to_the_limit(web_ctx, web_app, base):
    """40 guesses at once (werkzeug serves them on parallel threads): still only user_attempts are checked."""
    with requests.Session() as s:
        token = form_token(s, base, web_app)
        cookies = s.cookies.get_dict()

    def guess(i: int) -> int:
        return requests.post(base + "/auth/login", cookies=cookies, allow_redirects=False, timeout=60,
                             data={"username": "admin", "password": f"p{i}", "csrf_token": token}).status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        codes = list(pool.map(guess, range(40)))
    assert codes == [303] * 40
    assert len(_audit(web_ctx.store, "login.failed")) == web_ctx.cfg.web.login_limit.user_attempts


def test_many_user_names_from_one_address_lock_the_address(web_ctx, web_app, base):
    limit = web_ctx.cfg.web.login_limit
    with requests.Session() as s:
        token = form_token(s, base, web_app)
        for i in range(limit.address_attempts + 10):
            s.post(base + "/auth/login", allow_redirects=False, timeout=30,
                   data={"username": f"nobody{i}", "password": "x", "csrf_token": token})
        resp = http_login(s, base, web_app, "officer")
    assert "error=throttled" in resp.headers["Location"]
    assert len(_audit(web_ctx.store, "login.failed")) == limit.address_attempts
    assert any('"locked": "address"' in detail for _, detail in _audit(web_ctx.store, "login.locked"))


def test_the_login_page_says_how_long_to_wait(web_app, base):
    with requests.Session() as s:
        page = str(render_page(s, base, web_app, "/login", "?error=throttled&wait=8"))
    assert "登录尝试过于频繁，请 8 秒后再试" in page


# --- 7: CSRF on login and logout ---------------------------------------------------------------


def test_a_cross_site_login_post_is_refused(web_ctx, web_app, base):
    with requests.Session() as s:
        # Another site's form: no token from our page, the browser names the other origin.
        forged = s.post(base + "/auth/login", allow_redirects=False, timeout=30,
                        headers={"Origin": "https://evil.example"},
                        data={"username": "officer", "password": "officer2026"})
        assert "error=expired" in forged.headers["Location"]
        assert s.get(base + "/console", allow_redirects=False).status_code == 302
        token = form_token(s, base, web_app)
        # Our token but the other site's origin: still refused.
        forged = s.post(base + "/auth/login", allow_redirects=False, timeout=30,
                        headers={"Origin": "https://evil.example"},
                        data={"username": "officer", "password": "officer2026", "csrf_token": token})
        assert "error=expired" in forged.headers["Location"]
        assert s.get(base + "/console", allow_redirects=False).status_code == 302
        ours = s.post(base + "/auth/login", allow_redirects=False, timeout=30, headers={"Origin": base},
                      data={"username": "officer", "password": "officer2026", "csrf_token": token})
        assert ours.headers["Location"] == "/console"
    assert [a for a, _ in _audit(web_ctx.store, "login")] == ["officer"]


def test_logout_is_a_post_with_the_pages_token(web_ctx, web_app, base):
    with requests.Session() as s:
        assert http_login(s, base, web_app, "officer").headers["Location"] == "/console"
        # A link (GET), an image tag, or a form without our token: none of them logs out.
        assert s.get(base + "/logout", allow_redirects=False).status_code == 405
        assert s.post(base + "/logout", allow_redirects=False, data={}).status_code == 400
        assert s.get(base + "/console", allow_redirects=False).status_code == 200
        token = form_token(s, base, web_app, "/console")
        assert token
        out = s.post(base + "/logout", allow_redirects=False, data={"csrf_token": token})
        assert out.headers["Location"] == "/login"
        assert s.get(base + "/console", allow_redirects=False).status_code == 302
    assert [a for a, _ in _audit(web_ctx.store, "logout")] == ["officer"]


def test_the_session_cookie_is_secure_when_served_behind_https(web_ctx, base):
    from dataclasses import replace

    from ops_center.web.context import set_context
    from ops_center.web.server import create_app

    https = web_ctx.cfg.model_copy(update={"web": web_ctx.cfg.web.model_copy(update={"https": True})})
    app = create_app(replace(web_ctx, cfg=https))
    try:
        with serve(app) as url, requests.Session() as s:
            # The login page's render is the first response that sets the session (with its CSRF token).
            resp = http_dash_post(s, url, app, "_pages_content",
                                  {"_pages_location.pathname": "/login", "_pages_location.search": ""})
        cookie = resp.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    finally:
        set_context(web_ctx)


# --- 10: the README's demo passwords are the real ones ------------------------------------------


def readme_logins() -> dict[str, str]:
    """user -> password from the README's demo login table."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z][a-z0-9_]*)` \| `([^`]+)` \|", text, flags=re.MULTILINE)
    return dict(rows)


def test_every_demo_login_the_readme_gives_works(web_ctx, web_app, base):
    logins = readme_logins()
    assert set(logins) == {u.username for u in web_ctx.cfg.users}
    for username, password in logins.items():
        with requests.Session() as s:
            resp = http_login(s, base, web_app, username, password)
            assert "error" not in resp.headers["Location"], (username, password)
