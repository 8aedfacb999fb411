"""Dash app factory: wiring only — Flask session + login gate, pages from layouts/, local assets."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import dash
import dash_mantine_components as dmc
import flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ingest import open311_server
from ops_center.web import auth, photo_route
from ops_center.web.context import AppContext, get_context, set_context

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "layouts"
ASSETS = ROOT / "assets"
DATA_VERSION_KEY = "ops_center.data_version"


class DataVersion:
    """Counts batches of committed changes seen on the bus, so the wall can skip refreshes cheaply."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def bump(self, _events: object = None) -> None:
        with self._lock:
            self._value += 1

    @property
    def value(self) -> int:
        with self._lock:
            return self._value


def create_app(ctx: AppContext, secret_key: str | None = None) -> dash.Dash:
    """The Dash app; run.py passes the key ops_center.web.web_secret chose (never the shipped one)."""
    set_context(ctx)
    server = flask.Flask(__name__)
    web = ctx.cfg.web
    server.config.update(
        SECRET_KEY=secret_key or web.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=web.https,
        REMEMBER_COOKIE_SECURE=web.https,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    if web.proxy_hops:
        # Behind a reverse proxy: the client address (login limits, audit) and scheme come from its headers.
        server.wsgi_app = ProxyFix(server.wsgi_app,  # type: ignore[method-assign]  # Werkzeug's documented way x_for=web.proxy_hops, x_proto=web.proxy_hops,
                                   x_host=web.proxy_hops)
    version = DataVersion()
    ctx.bus.subscribe_batch(version.bump)  # once per committed batch: the screens only ask whether it moved
    server.extensions[DATA_VERSION_KEY] = version
    auth.install(server, ctx.cfg, get_context)
    photo_route.mount(server, get_context)
    if ctx.cfg.open311_server.enabled:  # citizen and grid-worker apps: /open311/v2/, API keys, no login
        open311_server.mount(server, get_context)

    app = dash.Dash(
        __name__,
        server=server,  # type: ignore[arg-type]  # Dash documents a Flask instance here; its annotation says bool
        use_pages=True,
        pages_folder=str(PAGES),
        assets_folder=str(ASSETS),
        serve_locally=True,
        title=ctx.cfg.site.name,
        update_title=None,  # type: ignore[arg-type]  # documented: None turns the "Updating…" title off
        suppress_callback_exceptions=True,
    )
    app.layout = dmc.MantineProvider(dash.page_container, forceColorScheme="dark")
    return app
