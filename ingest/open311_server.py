"""Our own Open311 GeoReport v2 endpoint, so citizen apps and grid-worker apps can file and track requests.

Mounted on the web server at /open311/v2/ (JSON only): `services.json`, `requests.json` (GET with
the spec's filters, POST with an `api_key` per client from config) and `requests/<id>.json`. A
filed request becomes a hotline event and goes through the same pipeline as every other input;
the answer is sent only after it is committed. Errors use the spec's `[{code, description}]`.
It runs as its own small Flask app behind the site's server, so the console's login gate (which
knows nothing of API keys) never sees it.
"""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import flask
import pandas as pd
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from ingest.georeport import record_to_event
from ingest.health import Pending
from ingest.payloads import Invalid
from ops_center.core.config import Config, SourceMapping
from ops_center.core.domains import DOMAIN_NAMES
from ops_center.core.source_mapping import load_category_map
from ops_center.read.queries_open311 import find_requests, open311_status

log = logging.getLogger(__name__)

PREFIX = "/open311/v2"
DEFAULT_RANGE = timedelta(days=90)  # the spec's default and longest window
COMMIT_TIMEOUT_S = 10
MAX_FIELD = 4000
MAX_BODY_BYTES = 256 * 1024
NOTICE = "已受理，请凭编号查询办理进度"


class ApiError(Exception):
    """An answer in the spec's error format."""

    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status, self.description = status, description


def mount(server: flask.Flask, ctx_of) -> None:
    """Serve the endpoint under PREFIX on `server` (the Dash app's Flask), outside its login gate."""
    api = build_api(ctx_of)
    server.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]  # Flask's documented way to mount an app
        server.wsgi_app, {PREFIX: api.wsgi_app})


def build_api(ctx_of) -> flask.Flask:
    api = flask.Flask("open311")
    api.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES  # larger bodies get 413 before they are read

    @api.errorhandler(413)
    def too_large(_exc):
        return _json([{"code": 413, "description": f"request body over {MAX_BODY_BYTES} bytes"}], 413)

    @api.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return _json([{"code": exc.status, "description": exc.description}], exc.status)

    @api.get("/services.json")
    def services():
        ctx = ctx_of()
        _jurisdiction(ctx.cfg, flask.request.values)
        cmap = _services(ctx.cfg)
        return _json([{"service_code": code, "service_name": e.name or code, "description": e.name or code,
                       "metadata": False, "type": "realtime", "keywords": e.category,
                       "group": DOMAIN_NAMES.get(e.domain, e.domain)} for code, e in cmap.codes.items()])

    @api.get("/requests.json")
    def list_requests():
        ctx = ctx_of()
        args = flask.request.args
        _reader(ctx.cfg, args)
        end = _time(args.get("end_date"), "end_date") or ctx.clock()
        start = _time(args.get("start_date"), "start_date") or end - DEFAULT_RANGE
        if end - start > DEFAULT_RANGE or end < start:
            raise ApiError(400, "start_date..end_date must be a range of at most 90 days")
        statuses = _list(args.get("status"))
        if statuses and not set(statuses) <= {"open", "closed"}:
            raise ApiError(400, "status must be open and/or closed")
        df = find_requests(ctx.store, ctx.cfg.open311_server.source_id, start, end,
                           ids=_list(args.get("service_request_id")), codes=_list(args.get("service_code")),
                           statuses=statuses)
        return _json([_request_json(ctx.cfg, row) for row in df.to_dict("records")])

    @api.get("/requests/<request_id>.json")
    def one_request(request_id: str):
        ctx = ctx_of()
        _reader(ctx.cfg, flask.request.args)
        end = ctx.clock()
        df = find_requests(ctx.store, ctx.cfg.open311_server.source_id, end - timedelta(days=3650), end,
                           ids=[request_id])
        if df.empty:
            raise ApiError(404, f"service_request_id {request_id} not found")
        return _json([_request_json(ctx.cfg, row) for row in df.to_dict("records")])

    @api.post("/requests.json")
    def post_request():
        ctx = ctx_of()
        form = flask.request.form if flask.request.form else (flask.request.get_json(silent=True) or {})
        client = _client(ctx.cfg, form.get("api_key"))
        _jurisdiction(ctx.cfg, form)
        return _json(file_request(ctx, client, form), 201)

    return api


def file_request(ctx, client: str, form) -> list[dict]:
    """Validate, hand to the pipeline, wait for the commit; the spec's answer for a filed request."""
    cfg: Config = ctx.cfg
    srv = cfg.open311_server
    now = ctx.clock()
    code = (form.get("service_code") or "").strip()
    entry = _services(cfg).codes.get(code)
    if entry is None:
        raise ApiError(400, f"service_code {code!r} is not in services.json" if code else "service_code is required")
    lat, lon, address = form.get("lat"), form.get("long"), _text(form.get("address_string"))
    if not ((lat and lon) or address or form.get("address_id")):
        raise ApiError(400, "a location is required: lat and long, address_string or address_id")
    request_id = f"OPS-{now.astimezone(ZoneInfo(cfg.site.timezone)):%Y%m%d}-{uuid.uuid4().hex[:10].upper()}"
    record: dict[str, Any] = {
        "service_request_id": request_id, "requested_datetime": now.isoformat(), "status": "open",
        "service_code": code, "service_name": entry.name or code,
        "description": _text(form.get("description")) or entry.name or code,
        "lat": lat, "long": lon, "address": address, "address_id": _text(form.get("address_id")),
        "media_url": _text(form.get("media_url")), "client": client,
    }
    for name in ("email", "device_id", "account_id", "first_name", "last_name", "phone"):
        if form.get(name):
            record[name] = _text(form.get(name))
    attributes = {k[10:-1]: _text(v) for k, v in form.items() if k.startswith("attribute[") and k.endswith("]")}
    if attributes:
        record["attributes"] = attributes
    try:
        event = record_to_event(cfg, ctx.registry, srv.source_id, record, now, f"open311:{client}",
                                SourceMapping(category_map=srv.services, closed_statuses=()))
    except Invalid as exc:
        ctx.pipeline.dead_letter(srv.source_id, f"{PREFIX}/requests.json", exc.reason,
                                 json.dumps(record, ensure_ascii=False, default=str).encode(), exc.detail)
        raise ApiError(400, f"{exc.reason}: {exc.detail}") from None
    pending = Pending()
    ctx.pipeline.submit(event, on_committed=pending.add())
    if not pending.wait(COMMIT_TIMEOUT_S):
        log.warning("open311 server: request %s not committed within %ss", request_id, COMMIT_TIMEOUT_S)
        raise ApiError(503, "the request could not be stored in time; try again")
    log.info("open311 server: %s filed %s (%s)", client, request_id, code)
    return [{"service_request_id": request_id, "service_notice": NOTICE, "account_id": record.get("account_id")}]


def _request_json(cfg: Config, row: dict) -> dict:
    tz = ZoneInfo(cfg.site.timezone)
    fields = json.loads(row["fields"]) if row.get("fields") else {}
    dept = {d.code: d.name for d in cfg.departments}.get(row.get("department") or "")

    def when(value) -> str | None:
        if value is None or pd.isna(value):
            return None
        return pd.Timestamp(value).tz_localize("UTC").tz_convert(tz).isoformat(timespec="seconds")

    def num(value) -> float | None:
        return None if value is None or pd.isna(value) else float(value)

    return {
        "service_request_id": row["service_request_id"], "status": open311_status(row.get("status")),
        "status_notes": row.get("last_note") if isinstance(row.get("last_note"), str) else None,
        "service_name": fields.get("service_name"), "service_code": fields.get("service_code"),
        "description": row.get("text"), "agency_responsible": dept, "service_notice": NOTICE,
        "requested_datetime": when(row.get("requested_at")), "updated_datetime": when(row.get("updated_at")),
        "expected_datetime": when(row.get("expected_at")), "address": row.get("address"),
        "address_id": fields.get("address_id"), "zipcode": fields.get("zipcode"),
        "lat": num(row.get("lat")), "long": num(row.get("lon")), "media_url": fields.get("media_url"),
    }


def _json(body: Any, status: int = 200) -> flask.Response:
    return flask.Response(json.dumps(body, ensure_ascii=False), status=status,
                          mimetype="application/json", headers={"Cache-Control": "no-store"})


def _services(cfg: Config):
    return load_category_map(str(cfg.path_of(cfg.open311_server.services)))


def _client(cfg: Config, api_key: str | None) -> str:
    """The configured client whose key this is (compared in constant time), else 403."""
    given = (api_key or "").encode()
    match = None
    for client in cfg.open311_server.clients:
        if hmac.compare_digest(given, client.api_key.encode()):
            match = client.name
    if match is None:
        raise ApiError(403, "a valid api_key is required")
    return match


def _reader(cfg: Config, args) -> None:
    _jurisdiction(cfg, args)
    if not cfg.open311_server.public_read:
        _client(cfg, args.get("api_key"))


def _jurisdiction(cfg: Config, values) -> None:
    wanted = cfg.open311_server.jurisdiction_id
    given = values.get("jurisdiction_id")
    if wanted and given and given != wanted:
        raise ApiError(404, f"jurisdiction_id {given} not found")


def _time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{name} must be ISO 8601 with a time zone, got {value!r}") from None
    if stamp.tzinfo is None:
        raise ApiError(400, f"{name} must carry a time zone (Z or ±HH:MM)")
    return stamp


def _list(value: str | None) -> list[str] | None:
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    return items or None


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()[:MAX_FIELD]
    return text or None
