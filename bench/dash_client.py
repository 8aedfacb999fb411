"""A tiny Dash HTTP client: log in (or use the wall's kiosk token) and call callbacks as the browser does."""

from __future__ import annotations

import http.cookiejar
import json
import time
import urllib.parse
import urllib.request


class DashClient:
    """Cookie-keeping HTTP session against one running app; callbacks found via /_dash-dependencies."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self._deps: list[dict] | None = None

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with self.opener.open(self.base + path, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def post(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        req = urllib.request.Request(self.base + path, data=body, headers={"Content-Type": content_type})
        try:
            with self.opener.open(req, timeout=60) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def kiosk(self, token: str) -> int:
        return self.get(f"/wall?token={urllib.parse.quote(token)}")[0]

    def login(self, username: str, password: str) -> int:
        """Through the login form as a browser posts it, with the CSRF token the login page renders."""
        form = urllib.parse.urlencode({"username": username, "password": password, "next": "/",
                                       "csrf_token": self.form_token("/login")}).encode()
        return self.post("/auth/login", form, "application/x-www-form-urlencoded")[0]

    def form_token(self, path: str) -> str:
        """The csrf_token hidden field of the page the pages router renders for `path` ("" if it has none)."""
        self.get(path)
        status, _, data = self.call(self.callback("_pages_content"),
                                    {"_pages_location.pathname": path, "_pages_location.search": ""})
        if status != 200:
            raise RuntimeError(f"rendering {path} gave HTTP {status}")
        return _named_value(data, "csrf_token") or ""

    def dependencies(self) -> list[dict]:
        if self._deps is None:
            status, body = self.get("/_dash-dependencies")
            if status != 200:
                raise RuntimeError(f"/_dash-dependencies gave HTTP {status}")
            self._deps = json.loads(body)
        return self._deps

    def callback(self, output_id: str) -> dict:
        """The dependency whose outputs include component `output_id`."""
        for dep in self.dependencies():
            if any(o.rsplit(".", 1)[0] == output_id for o in _outputs(dep["output"])):
                return dep
        raise KeyError(f"no callback outputs {output_id!r}")

    def call(self, dep: dict, inputs: dict[str, object], state: dict[str, object] | None = None,
             changed: list[str] | None = None) -> tuple[int, float, dict | None]:
        """POST one callback; values keyed 'id.property'. Returns (status, seconds, response json)."""
        state = state or {}
        outs = [dict(zip(("id", "property"), o.rsplit(".", 1), strict=True)) for o in _outputs(dep["output"])]
        payload = {
            "output": dep["output"],
            "outputs": outs if len(outs) > 1 or dep["output"].startswith("..") else outs[0],
            "inputs": [dict(i, value=inputs.get(f"{i['id']}.{i['property']}")) for i in dep["inputs"]],
            "state": [dict(s, value=state.get(f"{s['id']}.{s['property']}")) for s in dep.get("state", [])],
            "changedPropIds": changed or [f"{i['id']}.{i['property']}" for i in dep["inputs"][:1]],
        }
        t0 = time.perf_counter()
        status, body = self.post("/_dash-update-component", json.dumps(payload).encode(), "application/json")
        seconds = time.perf_counter() - t0
        data = json.loads(body) if status == 200 and body else None
        return status, seconds, data


def _outputs(spec: str) -> list[str]:
    """'..a.b...c.d..' (multi-output) or 'a.b' → ['a.b', 'c.d']."""
    if spec.startswith("..") and spec.endswith(".."):
        return spec[2:-2].split("...")
    return [spec]


def _named_value(node: object, name: str) -> str | None:
    """The `value` of the first rendered component whose `name` prop is `name`."""
    if isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict) and props.get("name") == name:
            return str(props.get("value"))
        node = list(node.values())
    if isinstance(node, list):
        for item in node:
            if (found := _named_value(item, name)) is not None:
                return found
    return None
