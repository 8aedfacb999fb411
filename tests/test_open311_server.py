"""Our Open311 GeoReport v2 endpoint, served by the real web app on a free port, used by a plain HTTP client."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from werkzeug.serving import make_server

from ops_center.service.incidents import Actor
from ops_center.store import retention
from ops_center.web.context import set_context
from ops_center.web.server import create_app
from tests.fixtures_ingest import make_app

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
KEY = "demo-citizen-app-key-0001"


@pytest.fixture
def site(cfg, config_path, db_path):
    """The web app with a real pipeline behind it, listening on 127.0.0.1:<free port>."""
    app = make_app(cfg.model_copy(update={"simulator": cfg.simulator.model_copy(update={"enabled": False}),
                                          "open311_server": cfg.open311_server.model_copy(update={"enabled": True})}),
                   config_path, db_path, clock=lambda: NOW)
    set_context(app.ctx)
    http = make_server("127.0.0.1", 0, create_app(app.ctx).server, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{http.server_port}/open311/v2"
    finally:
        http.shutdown()
        app.close()


def call(url: str, data: dict | None = None) -> tuple[int, object]:
    body = urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback test server
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_a_client_files_a_request_and_reads_its_status_back(site):
    app, base = site
    status, services = call(f"{base}/services.json")
    assert status == 200
    codes = {s["service_code"]: s for s in services}
    assert codes["fire_exit_blocked"]["service_name"] == "消防通道堵塞" and codes["fire_exit_blocked"]["group"] == "消防安全"

    status, filed = call(f"{base}/requests.json", {
        "api_key": KEY, "service_code": "fire_exit_blocked", "lat": "30.6581", "long": "104.0852",
        "description": "小区消防通道被私家车堵死", "first_name": "张", "phone": "13800000000",
        "attribute[floor]": "1"})
    assert status == 201
    request_id = filed[0]["service_request_id"]
    assert request_id.startswith("OPS-20261124-") and filed[0]["service_notice"]

    # the same pipeline: an event of the server's source, classified by its service code, one incident
    [(incident_id, domain, category, src)] = app.rows(
        "SELECT i.incident_id, i.domain, i.category, e.source_id FROM events e JOIN incidents i USING (incident_id)")
    assert (domain, category, src) == ("fire_safety", "fire_exit_blocked", "open311_inbox")

    status, got = call(f"{base}/requests/{request_id}.json?api_key={KEY}")
    assert status == 200 and got[0]["status"] == "open"
    assert got[0]["service_code"] == "fire_exit_blocked" and got[0]["description"] == "小区消防通道被私家车堵死"
    assert got[0]["requested_datetime"] == "2026-11-24T10:00:00+08:00"

    # the duty officer works it to the end; the app sees it closed, with the last note
    svc, officer = app.ctx.service, Actor("officer", "officer", "510108")
    row = svc.acknowledge(officer, incident_id, 1)
    row = svc.dispatch(officer, incident_id, row["version"], "fire")
    row = svc.resolve(officer, incident_id, row["version"], note="车辆已挪走，通道畅通")
    status, got = call(f"{base}/requests.json?" + urlencode({"api_key": KEY, "status": "closed"}))
    assert status == 200 and [r["service_request_id"] for r in got] == [request_id]
    assert got[0]["status"] == "closed" and got[0]["status_notes"] == "车辆已挪走，通道畅通"
    assert got[0]["agency_responsible"] == "消防救援大队"
    status, got = call(f"{base}/requests.json?" + urlencode({"api_key": KEY, "status": "open"}))
    assert got == []


@pytest.mark.parametrize(("data", "status", "words"), [
    ({"service_code": "noise", "lat": "30.6581", "long": "104.0852"}, 403, "api_key"),
    ({"api_key": "wrong-key-wrong-key", "service_code": "noise", "lat": "30.6581", "long": "104.0852"}, 403, "api_key"),
    ({"api_key": KEY, "service_code": "weather", "lat": "30.6581", "long": "104.0852"}, 400, "service_code"),
    ({"api_key": KEY, "service_code": "noise"}, 400, "location"),
    ({"api_key": KEY, "service_code": "noise", "lat": "40.69", "long": "-73.98"}, 400, "outside_area"),
])
def test_bad_posts_get_the_spec_error_format(site, data, status, words):
    app, base = site
    got_status, body = call(f"{base}/requests.json", data)
    assert got_status == status
    assert body[0]["code"] == status and words in body[0]["description"]
    assert app.count("SELECT count(*) FROM events") == 0


def test_reads_need_a_key_and_filters_are_checked(site):
    _, base = site
    assert call(f"{base}/requests.json")[0] == 403
    assert call(f"{base}/requests/OPS-X.json?api_key={KEY}")[0] == 404
    assert call(f"{base}/requests.json?api_key={KEY}&start_date=2026-01-01")[0] == 400  # no time zone
    assert call(f"{base}/requests.json?api_key={KEY}&status=pending")[0] == 400
    assert call(f"{base}/requests.json", {"api_key": KEY, "description": "x" * 300_000})[0] == 413


def test_disabled_endpoint_is_not_served(cfg, config_path, db_path):
    app = make_app(cfg, config_path, db_path, clock=lambda: NOW)
    try:
        set_context(app.ctx)
        client = create_app(app.ctx).server.test_client()
        assert not cfg.open311_server.enabled
        assert client.get("/open311/v2/services.json").status_code in (302, 401, 404)
    finally:
        app.close()


def test_an_archived_request_is_still_answered(site, tmp_path):
    """Retention moves the closed request's incident to Parquet: the app still reads it back, closed, with its note."""
    app, base = site
    status, filed = call(f"{base}/requests.json", {
        "api_key": KEY, "service_code": "fire_exit_blocked", "lat": "30.6581", "long": "104.0852",
        "description": "消防通道被占"})
    request_id = filed[0]["service_request_id"]
    [(incident_id,)] = app.rows("SELECT incident_id FROM incidents")
    svc, officer = app.ctx.service, Actor("officer", "officer", "510108")
    row = svc.acknowledge(officer, incident_id, 1)
    row = svc.dispatch(officer, incident_id, row["version"], "fire")
    row = svc.resolve(officer, incident_id, row["version"], note="车辆已挪走")
    svc.close(Actor("officer2", "officer", "510108"), incident_id, row["version"], note="核查通过，结案")
    _, before = call(f"{base}/requests/{request_id}.json?api_key={KEY}")

    moved = retention.archive(app.ctx.store, tmp_path / "archive", NOW + timedelta(days=40), timedelta(days=30))
    assert moved.rows["incidents"] == 1 and app.count("SELECT count(*) FROM incidents") == 0
    status, got = call(f"{base}/requests/{request_id}.json?api_key={KEY}")
    assert status == 200 and got == before
    assert got[0]["status"] == "closed" and got[0]["status_notes"] == "核查通过，结案"
    status, listed = call(f"{base}/requests.json?" + urlencode({"api_key": KEY, "status": "closed"}))
    assert status == 200 and listed == before
