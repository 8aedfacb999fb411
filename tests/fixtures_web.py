"""Shared pytest fixtures for the web tests: a seeded AppContext on a temp DuckDB file and a started app.

Use in a test module:

    def test_x(web_ctx, web_duo):            # web_duo: dash_duo with the app started
        login(web_duo, "leader")              # helper below: fills the login form, waits for the nav
        web_duo.wait_for_page(web_duo.server_url + "/areas")

`web_ctx` has the config users seeded (demo passwords: `demo_password(username)`), a fixed clock at
`fixed_now` (Tue 2026-11-24 10:00 Asia/Shanghai) and is installed with set_context(). Add incidents
with `tests.factories.make_incident(web_ctx.store, web_ctx.cfg, now=web_ctx.clock(), ...)` or take
`demo_incidents` (one open incident per domain, spread over streets, plus one P1 and one closed).
`web_client` is a Flask test client on the same app (no browser) for HTTP-level tests; log it in with
`client_login(web_client, "viewer")` and drive any callback like an outside HTTP client would with
`dash_post(web_client, web_app, "<an output id>", {"<id>.<prop>": value, ...}, changed="<id>.<prop>")`.
`with_health` installs a copy of the context with two fake source-health rows; request it before
`web_app`/`web_duo` (create_app takes the context installed at that moment).

Never import a page module (layouts/wall.py …) in a test: Dash executes the pages itself for every
app, and a second import registers their callbacks twice.
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import NamedTuple

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support.wait import WebDriverWait

from ops_center.read.hot_incidents import HotIncidents
from ops_center.service.bus import Bus
from ops_center.service.work_orders import WorkOrderService
from ops_center.store.store import Store
from ops_center.web.context import AppContext, set_context
from ops_center.web.forms import CSRF_KEY


class FakeHealth(NamedTuple):
    """Same fields as the sources' SourceHealth."""

    source_id: str
    name: str
    state: str
    last_message_at: datetime | None
    messages_per_min: float
    dead_letters_per_min: float
    dead_letters_total: int


STREETS = ("510108002", "510108004", "510108006", "510108007", "510108008", "510108010")


def build_service(store, bus, cfg, clock):
    """The incident service as the lead's build_context wires it."""
    from ops_center.service.incidents import IncidentService

    return IncidentService(store, bus, cfg, clock)


@pytest.fixture
def web_ctx(cfg, config_path, db_path, fixed_now) -> Iterator[AppContext]:
    from ops_center.web.auth import seed_users

    store = Store(db_path)
    bus = Bus()

    def clock() -> datetime:
        return fixed_now

    seed_users(store, cfg, fixed_now)
    service = build_service(store, bus, cfg, clock)
    ctx = AppContext(
        cfg=cfg,
        config_path=config_path,
        store=store,
        service=service,
        bus=bus,
        clock=clock,
        hot_incidents=HotIncidents(store, clock=clock).attach(bus),
        work_orders=WorkOrderService(store, bus, cfg, clock, incidents=service),
    )
    set_context(ctx)
    yield ctx
    bus.close()
    store.close()


@pytest.fixture
def with_health(web_ctx):
    """Replace ctx.health with a fixed list: one connected feed and one silent feed."""
    def health() -> list:
        now = web_ctx.clock()
        return [
            FakeHealth("mqtt_sensors", "物联感知", "connected", now, 120.0, 0.0, 0),
            FakeHealth("mqtt_grid", "网格员上报", "silent", now - timedelta(hours=1), 0.0, 0.0, 3),
        ]

    ctx = replace(web_ctx, health=health)
    set_context(ctx)
    return ctx


@pytest.fixture
def demo_incidents(web_ctx) -> dict[str, int]:
    """One open incident per domain spread over streets, a P1 fire, a closed one; name -> id."""
    from ops_center.core.domains import DOMAIN_CODES
    from tests.factories import make_incident

    now = web_ctx.clock()
    ids: dict[str, int] = {}
    for i, domain in enumerate(DOMAIN_CODES):
        street = STREETS[i % len(STREETS)]
        ids[domain] = make_incident(
            web_ctx.store, web_ctx.cfg, now=now - timedelta(minutes=5 + 7 * i), domain=domain,
            severity="P3", status="new", area_code=street,
        )
    ids["p1"] = make_incident(
        web_ctx.store, web_ctx.cfg, now=now - timedelta(minutes=1), domain="fire_safety",
        severity="P1", status="new", area_code="510108002",
    )
    ids["closed"] = make_incident(
        web_ctx.store, web_ctx.cfg, now=now - timedelta(hours=3), domain="traffic",
        severity="P3", status="closed", area_code="510108004",
    )
    return ids


@pytest.fixture
def web_app(web_ctx):
    """A fresh Dash app on the installed context (web_ctx, or with_health's copy when requested first)."""
    from ops_center.web.context import get_context
    from ops_center.web.server import create_app

    return create_app(get_context())


@pytest.fixture
def web_duo(dash_duo, web_app):
    """dash_duo with web_app started on a free port; log in with `login(web_duo, 'officer')`."""
    return start_on_free_port(dash_duo, web_app)


_BROWSER_PORTS = itertools.count()


def start_on_free_port(duo, app):
    """Serve on 127.0.0.1 at a port of this xdist worker's own range, and point the browser at that address.

    dash.testing numbers servers 8050, 8051, … in every process and sends Chromium to `localhost`, which it tries
    as ::1 first: another worker's server (or the shipped config's 8050) answered browsers twice in CI. A port
    from the OS's ephemeral range was no better (a Mosquitto or a client of the other worker could hold it), so
    each worker takes its own block below that range (20000 + 1000 × worker), skipping a port still in use.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    base = 20_000 + 1_000 * int(worker.removeprefix("gw") or 0)
    for _ in range(1_000):
        port = base + next(_BROWSER_PORTS) % 1_000
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        duo.server.host = "127.0.0.1"
        duo.start_server(app, port=port)
        return duo
    raise RuntimeError(f"no free port in {base}–{base + 999} for the browser's server")


@pytest.fixture
def web_client(web_app):
    """A Flask test client (cookies kept) on web_app; `client_login(web_client, 'viewer')`."""
    return web_app.server.test_client()


def login(duo, username: str, password: str | None = None, next_path: str = "") -> None:
    """Log in through the real login form and wait until the landing page shows its nav/user."""
    url = duo.server_url + "/login" + (f"?next={next_path}" if next_path else "")
    duo.driver.get(url)
    duo.wait_for_element("#login-username", timeout=10)
    duo.find_element("#login-username").send_keys(username)
    duo.find_element("#login-password").send_keys(password or demo_password(username))
    duo.find_element("#login-submit").click()
    duo.wait_for_element("#shell-user", timeout=10)


def click_settled(duo, selector: str, timeout: float = 10) -> None:
    """Click what `selector` names once the page stops re-rendering it (a re-render between find and click is stale)."""
    def attempt(driver) -> bool:
        try:
            duo.find_element(selector).click()
        except StaleElementReferenceException:
            return False
        return True

    WebDriverWait(duo.driver, timeout, ignored_exceptions=()).until(attempt, f"{selector} kept re-rendering")


def client_login(client, username: str, password: str | None = None):
    """Log a Flask test client in; returns the response of the login POST (with the form's CSRF token)."""
    return client.post("/auth/login", data={"username": username, "password": password or demo_password(username),
                                            "csrf_token": client_csrf(client)})


def client_csrf(client) -> str:
    """The session's CSRF token, as the login page would have put it in the form."""
    with client.session_transaction() as session:
        return session.setdefault(CSRF_KEY, "test-client-csrf-token")


def demo_password(username: str) -> str:
    """config.yaml's demo passwords: the username without its suffix + 2026 (officer_mzw -> officer2026)."""
    return username.split("_", 1)[0] + "2026"


def dash_post(client, app, output_id: str, values: dict | None = None, changed: str | None = None):
    """POST straight to /_dash-update-component for the callback that outputs to `output_id`, the way
    any HTTP client could; `values` maps "id.prop" to the value sent for that input or state."""
    client.get("/login")  # the first request makes Dash collect the pages' callbacks
    return client.post("/_dash-update-component", json=callback_body(app, output_id, values, changed))


def callback_body(app, output_id: str, values: dict | None = None, changed: str | None = None) -> dict:
    """The JSON a browser posts to /_dash-update-component for the callback that outputs to `output_id`."""
    key = next(k for k in app.callback_map if f"{output_id}." in k)
    spec = app.callback_map[key]
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    outputs = [dict(zip(("id", "property"), p.rsplit(".", 1), strict=True)) for p in parts]
    values = values or {}

    def dep(d: dict) -> dict:
        name = f"{d['id']}.{d['property']}"
        return {"id": d["id"], "property": d["property"], "value": values.get(name)}

    return {
        "output": key,
        "outputs": outputs if key.startswith("..") else outputs[0],
        "inputs": [dep(d) for d in spec["inputs"]],
        "state": [dep(d) for d in spec["state"]],
        "changedPropIds": [changed] if changed else [],
    }
