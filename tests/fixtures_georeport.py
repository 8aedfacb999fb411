"""A local Open311 GeoReport v2 `requests.json` server that behaves as the spec (or a known deviation) says.

Spec behaviour (wiki.open311.org/GeoReport_v2, GET Service Requests): `start_date`/`end_date` match
`requested_datetime`; no paging; at most 1,000 requests per call; newest first, as Chicago's
server answers. Deviations seen in the field: a server that ignores `page` (same records on every
page), and one that honours `page` but caps `page_size` at 50. `updated_after`/`updated_before`
are Chicago's extension for reading updates of older requests.
"""

from __future__ import annotations

import bisect
import json
import random
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

SPEC_MAX = 1000
BEHAVIOURS = ("spec", "ignores_page", "caps_50")
# Chicago's published GeoReport v2 service list (a few of its 14 services): code, name, and our text.
SERVICES = (
    ("4fd3b656e750846c53000004", "Pothole in Street", "路面坑洼"),
    ("4fd3bd3de750846c530000b9", "Street Lights All / Out", "路灯不亮"),
    ("4ffa4c69601827691b000018", "Abandoned Vehicle", "废弃车辆占道"),
    ("4fd3b167e750846744000005", "Graffiti Removal", "墙面涂鸦"),
    ("4ffa9db16018277d400000a2", "Traffic Signal Out", "红绿灯不亮"),
)
CHICAGO = ZoneInfo("America/Chicago")  # the server writes local times with their offset, as Chicago's does


def make_requests(n: int, end: datetime, seed: int = 311, span: timedelta = timedelta(hours=23),
                  busy_every: int = 3) -> list[dict]:
    """n Chicago-shaped requests inside (end - span, end]; every `busy_every`-th in one busy hour (so a
    window there overflows the server's maximum), one in seven already closed at the source."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % busy_every == 0:
            at = end - timedelta(hours=5) + timedelta(seconds=rng.randrange(3600))
        else:
            at = end - span + timedelta(seconds=rng.randrange(int(span.total_seconds())))
        code, name, text = SERVICES[i % len(SERVICES)]
        closed = i % 7 == 0
        updated = at + timedelta(minutes=30) if closed else at
        out.append({
            "service_request_id": f"26-{i:08d}", "status": "closed" if closed else "open",
            "status_notes": "Completed" if closed else None, "service_name": name, "service_code": code,
            "description": f"{text}（{i}号）", "agency_responsible": "Division of In-House Construction CDOT", "service_notice": None,
            "requested_datetime": at.astimezone(CHICAGO).isoformat(timespec="seconds"),
            "updated_datetime": min(updated, end).astimezone(CHICAGO).isoformat(timespec="seconds"),
            "expected_datetime": None, "address": "成都市成华区建设路", "address_id": None, "zipcode": "610051",
            "lat": round(30.665 + rng.uniform(-0.01, 0.01), 6), "long": round(104.100 + rng.uniform(-0.01, 0.01), 6),
            "media_url": None, "notes": [{"type": "activity", "summary": "Request received"}],
        })
    return out


class GeoReportServer:
    """ThreadingHTTPServer on 127.0.0.1:<free port>; `behaviour` is one of BEHAVIOURS."""

    def __init__(self, records: list[dict], behaviour: str = "spec", max_per_call: int = SPEC_MAX,
                 *, frozen: bool = False):
        """`frozen`: the records never change, so the windows are answered from a sorted index (benches)."""
        assert behaviour in BEHAVIOURS
        self.records = records
        self._index: dict[str, tuple[list, list]] = {}
        if frozen:
            for name in ("requested_datetime", "updated_datetime"):
                pairs = sorted(((datetime.fromisoformat(r[name]), i) for i, r in enumerate(records)))
                self._index[name] = ([t for t, _ in pairs], [records[i] for _, i in pairs])
        self.behaviour = behaviour
        self.max_per_call = max_per_call
        self.requests: list[dict] = []
        self.broken: bytes | None = None  # answer this instead, while set
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                server.requests.append(query)
                body = server.broken if server.broken is not None else json.dumps(
                    server.select(query), ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/open311/v2/requests.json"

    def select(self, query: dict) -> list[dict]:
        if "updated_after" in query:
            field, lo, hi = "updated_datetime", query["updated_after"], query["updated_before"]
        else:
            field, lo, hi = "requested_datetime", query["start_date"], query["end_date"]
        lo, hi = datetime.fromisoformat(lo), datetime.fromisoformat(hi)
        if field in self._index:
            times, ordered = self._index[field]
            hits = ordered[bisect.bisect_left(times, lo):bisect.bisect_right(times, hi)][::-1]
        else:
            hits = sorted((r for r in self.records if lo <= datetime.fromisoformat(r[field]) <= hi),
                          key=lambda r: datetime.fromisoformat(r[field]), reverse=True)
        if self.behaviour == "caps_50":
            size = min(int(query.get("page_size", 50)), 50)
            page = int(query.get("page", 1))
            return hits[(page - 1) * size: page * size]
        return hits[: self.max_per_call]  # spec, and the server that ignores page/page_size

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
