"""The Dash app served over real HTTP on a free loopback port, as run.py serves it (werkzeug, threaded).

    with serve(web_app) as base:            # base = "http://127.0.0.1:PORT"
        requests.get(base + "/login")

`http_dash_post` drives any callback over HTTP like dash_post does on the test client; `login_token`
renders the login page through the pages router as a browser does and returns its CSRF token;
`http_login(session, base, app, user)` logs a requests.Session in through the form's POST.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from werkzeug.serving import make_server

from tests.fixtures_web import callback_body, demo_password


@contextmanager
def serve(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-web", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def http_dash_post(session: requests.Session, base: str, app, output_id: str, values: dict | None = None,
                   changed: str | None = None) -> requests.Response:
    session.get(base + "/login", timeout=30)  # the first request makes Dash collect the pages' callbacks
    return session.post(base + "/_dash-update-component", json=callback_body(app, output_id, values, changed),
                        timeout=30)


def render_page(session: requests.Session, base: str, app, path: str, search: str = "") -> dict:
    """What the pages router renders for `path` (its layout, as JSON), as the browser's first callback gets it."""
    resp = http_dash_post(session, base, app, "_pages_content",
                          {"_pages_location.pathname": path, "_pages_location.search": search})
    resp.raise_for_status()
    return resp.json()


def _find(node, name: str):
    """The props of the first component in a rendered layout whose `name` prop is `name`."""
    if isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict) and props.get("name") == name:
            return props
        for value in node.values():
            if (found := _find(value, name)) is not None:
                return found
    elif isinstance(node, list):
        for item in node:
            if (found := _find(item, name)) is not None:
                return found
    return None


def form_token(session: requests.Session, base: str, app, path: str = "/login") -> str:
    """The csrf_token hidden field of the form the page at `path` renders ("" when it has none)."""
    props = _find(render_page(session, base, app, path), "csrf_token")
    return str(props["value"]) if props else ""


def http_login(session: requests.Session, base: str, app, username: str, password: str | None = None,
               **extra: str) -> requests.Response:
    data = {"username": username, "password": password or demo_password(username),
            "csrf_token": form_token(session, base, app), **extra}
    return session.post(base + "/auth/login", data=data, allow_redirects=False, timeout=30)
