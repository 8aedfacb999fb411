"""Users, roles and the server-side gate: Dash callbacks are plain HTTP endpoints anyone can POST to."""

from __future__ import annotations

import hmac
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import flask
from flask_login import LoginManager, current_user, login_user, logout_user
from werkzeug.security import check_password_hash

from ops_center.core import area_tree
from ops_center.core.config import Config
from ops_center.core.lifecycle import Actor
from ops_center.store.store import to_db
from ops_center.web.forms import csrf_ok, safe_next
from ops_center.web.login_limit import LoginLimiter

log = logging.getLogger(__name__)

# Which roles may open which screen; the nav shows only these, the gate enforces them.
SCREEN_ROLES: dict[str, frozenset[str]] = {
    "wall": frozenset({"viewer", "officer", "shift_lead", "leader", "admin"}),
    "console": frozenset({"officer", "shift_lead", "leader", "admin"}),  # leaders: approve 延期, 督办 (issue 16)
    "areas": frozenset({"officer", "shift_lead", "leader", "admin"}),
    "supervision": frozenset({"shift_lead", "leader", "admin"}),  # 督办台账: leaders issue and close, shift leads follow
    "reports": frozenset({"officer", "shift_lead", "leader", "admin"}),  # officers: their own area's report (issue 16)
    "admin": frozenset({"admin"}),
    "tasks": frozenset({"unit"}),  # a responsible unit's own queue (issue 15), phone and desk
    "grid": frozenset({"grid"}),  # 网格员: report and 核查 on the phone (issue 15)
}
SCREEN_PATHS = {"wall": "/wall", "console": "/console", "areas": "/areas", "reports": "/reports", "admin": "/admin",
                "tasks": "/tasks", "grid": "/grid", "supervision": "/supervision"}
# Component-id prefix -> screen: every callback output id of a screen starts with its prefix (layouts/ids.py).
ID_PREFIXES = {"wall-": "wall", "console-": "console", "areas-": "areas", "reports-": "reports", "admin-": "admin",
               "tasks-": "tasks", "grid-": "grid", "supervision-": "supervision"}
# Ids anyone may drive: the pages router (it renders only the login page or a "please log in" stub
# for anonymous clients, see layouts/common.require) and the login page.
PUBLIC_ID_PREFIXES = ("_pages_", "login-")
PUBLIC_PATHS = ("/login", "/auth/login", "/logout", "/_dash-layout", "/_dash-dependencies", "/_favicon.ico")
PUBLIC_PREFIXES = ("/_dash-component-suites/", "/assets/", "/_reload-hash")
# Where each role lands after login (its main screen).
HOME_SCREEN = {"viewer": "wall", "officer": "console", "shift_lead": "console", "leader": "areas", "admin": "console",
               "unit": "tasks", "grid": "grid"}
KIOSK_USERNAME = "kiosk"
UPDATE_PATH = "/_dash-update-component"
LIMITER_KEY = "ops_center.login_limiter"


@dataclass(frozen=True)
class User:
    """The logged-in person (or a wall kiosk) as flask-login sees it."""

    username: str
    name: str
    role: str
    scope: str
    kiosk: bool = False
    unit: str | None = None  # role unit: the responsible unit it works for

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return self.username

    def may_open(self, screen: str) -> bool:
        if self.kiosk:
            return screen == "wall"
        return self.role in SCREEN_ROLES.get(screen, frozenset())

    @property
    def screens(self) -> list[str]:
        return [s for s in SCREEN_ROLES if self.may_open(s)]

    @property
    def home(self) -> str:
        """The path this user lands on: the role's main screen."""
        screen = HOME_SCREEN.get(self.role, "wall")
        if not self.may_open(screen):
            screen = self.screens[0] if self.screens else "wall"
        return SCREEN_PATHS[screen]

    def actor(self) -> Any:
        """The incident service's view of this user; the service re-checks role and scope."""
        return Actor(self.username, self.role, self.scope, self.unit)


def seed_users(store: Any, cfg: Config, now: datetime) -> int:
    """Insert configured users missing from the `users` table (config seeds; admin edits win)."""
    rows = [(u.username, u.name, u.role, u.password_hash, u.scope, u.unit, to_db(now)) for u in cfg.users]

    def insert(conn) -> int:
        existing = {r[0] for r in conn.execute("SELECT username FROM users").fetchall()}
        fresh = [r for r in rows if r[0] not in existing]
        if fresh:
            conn.executemany(
                "INSERT INTO users (username, name, role, password_hash, scope, unit, active, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, true, ?)",
                fresh,
            )
        return len(fresh)

    return store.write(insert)


def load_user(store: Any, cfg: Config, username: str) -> User | None:
    if username == KIOSK_USERNAME:
        return kiosk_user(cfg)
    rows = store.query(
        "SELECT username, name, role, scope, unit FROM users WHERE username = ? AND active", [username]
    )
    if not rows:
        return None
    username, name, role, scope, unit = rows[0]
    return User(username, name, role, scope, unit=unit)


def check_password(store: Any, cfg: Config, username: str, password: str) -> User | None:
    """The user when the password matches an active account, else None (same answer for both failures)."""
    rows = store.query(
        "SELECT username, name, role, scope, password_hash, unit FROM users WHERE username = ? AND active",
        [username.strip()],
    )
    if not rows or not check_password_hash(rows[0][4], password or ""):
        return None
    username, name, role, scope, _, unit = rows[0]
    return User(username, name, role, scope, unit=unit)


def kiosk_user(cfg: Config) -> User:
    return User(KIOSK_USERNAME, "大屏", "viewer", area_tree.root(cfg), kiosk=True)


def valid_kiosk_token(cfg: Config, token: str | None) -> bool:
    if not token:
        return False
    return any(hmac.compare_digest(token.encode(), t.encode()) for t in cfg.web.kiosk_tokens)


def logged_in_user() -> User | None:
    """The current request's user, or None for anonymous clients."""
    user = current_user._get_current_object() if current_user else None
    return user if isinstance(user, User) else None


def _id_name(cid: Any) -> str:
    """A pattern-matching id is judged by its "type", a plain id by itself."""
    if isinstance(cid, dict):
        return str(cid.get("type", ""))
    text = str(cid)
    if text.startswith("{"):
        try:
            return str(json.loads(text).get("type", ""))
        except (ValueError, AttributeError):
            return text
    return text


def callback_ids(body: Any) -> list[str]:
    """Component ids a /_dash-update-component request outputs to: both `output` (what Dash
    dispatches on) and `outputs`, so a client cannot dress a console callback as a public one."""
    if not isinstance(body, dict):
        return ["?"]
    ids: list[str] = []
    text = str(body.get("output", ""))
    parts = text[2:-2].split("...") if text.startswith("..") else [text]
    ids.extend(_id_name(part.rsplit(".", 1)[0]) for part in parts if part)

    def walk(spec: Any) -> None:
        if isinstance(spec, dict):
            if "id" in spec:
                ids.append(_id_name(spec["id"]))
        elif isinstance(spec, list):
            for item in spec:
                walk(item)

    walk(body.get("outputs"))
    return ids or ["?"]


def screen_of(component_id: str) -> str | None:
    for prefix, screen in ID_PREFIXES.items():
        if component_id.startswith(prefix):
            return screen
    return None


def callback_decision(user: User | None, ids: list[str]) -> int:
    """HTTP status for a callback request: 200 allowed, 401 must log in, 403 role may not."""
    screens: set[str] = set()
    for cid in ids:
        if cid.startswith(PUBLIC_ID_PREFIXES):
            continue
        # Unknown ids (and shell ids) are not public: any logged-in user, no anonymous client.
        screens.add(screen_of(cid) or "*")
    if not screens:
        return 200
    if user is None:
        return 401
    if any(s != "*" and not user.may_open(s) for s in screens):
        return 403
    return 200


def _wants_html() -> bool:
    return flask.request.method == "GET" and not flask.request.path.startswith("/_")


def make_guard(cfg: Config) -> Callable[[], Any]:
    """A Flask before_request hook: kiosk login, page redirects, and 401/403 on callbacks."""

    def guard() -> Any:
        req = flask.request
        path = req.path
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return None
        user = logged_in_user()
        if path == "/wall" and req.method == "GET" and valid_kiosk_token(cfg, req.args.get("token")):
            if user is None:
                login_user(kiosk_user(cfg))
            return None
        if path == UPDATE_PATH:
            body = req.get_json(silent=True)
            status = callback_decision(user, callback_ids(body))
            if status != 200:
                log.warning("callback refused %s for %s: %s", status, user.username if user else "anonymous",
                            callback_ids(body)[:3])
                return flask.Response(status=status)
            return None
        if path == "/" and user is not None:
            return flask.redirect(user.home)
        if user is None:
            if _wants_html():
                target = req.full_path.rstrip("?")
                return flask.redirect("/login?next=" + quote(target, safe=""))
            return flask.Response(status=401)
        return None

    return guard


def audit(store: Any, now: datetime, actor: str, action: str, detail: dict | None = None) -> None:
    """Append a login/logout entry to the audit log (incident actions are audited by the service)."""

    def insert(conn) -> None:
        audit_id = store.allocate_ids(conn, "audit_log")
        conn.execute(
            "INSERT INTO audit_log (audit_id, ts, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
            [audit_id, to_db(now), actor, action, actor, json.dumps(detail or {}, ensure_ascii=False)],
        )

    store.write(insert)


def install(server: flask.Flask, cfg: Config, ctx_of: Callable[[], Any]) -> LoginManager:
    """Wire flask-login, the gate and the login/logout routes onto the Flask server."""

    def store_of() -> Any:
        return ctx_of().store

    manager = LoginManager()
    manager.init_app(server)
    manager.user_loader(lambda username: load_user(store_of(), cfg, username))

    server.before_request(make_guard(cfg))
    limiter = server.extensions[LIMITER_KEY] = LoginLimiter(cfg.web.login_limit)

    @server.post("/auth/login")
    def login_post() -> Any:
        req, ctx = flask.request, ctx_of()
        form, address, now = req.form, req.remote_addr, ctx.clock()
        raw_name = form.get("username", "")
        name = raw_name.strip()[:40]  # for the log and the audit entry
        next_url = safe_next(form.get("next"))
        back = "&next=" + quote(next_url, safe="")
        if not csrf_ok(req):
            log.warning("login form without a valid CSRF token (user %r, address %s, origin %r)", name, address,
                        req.headers.get("Origin"))
            return flask.redirect("/login?error=expired" + back, code=303)
        verdict = limiter.attempt(raw_name, address, now)
        if not verdict.allowed:
            wait = max(1, math.ceil(verdict.retry_after.total_seconds()))
            log.warning("login throttled for %r from %s (%s locked %d s more)", name, address, verdict.key, wait)
            resp = flask.redirect(f"/login?error=throttled&wait={wait}" + back, code=303)
            resp.headers["Retry-After"] = str(wait)
            return resp
        user = check_password(store_of(), cfg, raw_name, form.get("password", ""))
        if user is None:
            log.info("failed login for %r", name)
            audit(ctx.store, now, name or "?", "login.failed", {"ip": address})
            for lock in verdict.locks:
                log.warning("login locked: %s %r after %d failures, for %d s", *lock.key, lock.failures, lock.seconds)
                audit(ctx.store, now, name or "?", "login.locked",
                      {"ip": address, "locked": lock.key[0], "failures": lock.failures, "seconds": lock.seconds})
            return flask.redirect("/login?error=1" + back, code=303)
        limiter.succeeded(raw_name, address)
        flask.session.clear()
        login_user(user)
        audit(ctx.store, now, user.username, "login", {"ip": address})
        log.info("login %s (%s)", user.username, user.role)
        return flask.redirect(user.home if next_url == "/" else next_url)

    @server.post("/logout")
    def logout() -> Any:
        """POST only, with the form's token: a link or a cross-site form cannot log anyone out."""
        if not csrf_ok(flask.request):
            return flask.Response("退出请求无效，请返回页面重试", status=400, mimetype="text/plain")
        user = logged_in_user()
        if user is not None and not user.kiosk:
            ctx = ctx_of()
            audit(ctx.store, ctx.clock(), user.username, "logout")
        logout_user()
        flask.session.clear()
        return flask.redirect("/login", code=303)

    @server.get("/logout")
    def logout_link() -> Any:
        """A link, an <img> or a prefetch must not end a session (otherwise Dash's catch-all would serve a page)."""
        return flask.Response("请使用页面右上角的“退出登录”按钮退出", status=405, headers={"Allow": "POST"},
                              mimetype="text/plain")

    return manager
