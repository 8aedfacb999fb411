"""The GeoReport v2 poller against a local server in the three behaviours seen in the field, 2,386 requests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ingest.open311 import Open311Poller
from ops_center.core.config import SourceConfig, SourceMapping
from tests.fixtures_georeport import GeoReportServer, make_requests
from tests.fixtures_ingest import make_app

NOW = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
N = 2386


@pytest.fixture
def app(cfg, config_path, db_path):
    app = make_app(cfg.model_copy(update={"simulator": cfg.simulator.model_copy(update={"enabled": False})}),
                   config_path, db_path, clock=lambda: NOW)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def records():
    return make_requests(N, NOW)


def serve(records, behaviour):
    return GeoReportServer(records, behaviour)


def poller(app, server, **source) -> Open311Poller:
    src = SourceConfig(id="hotline_api", kind="open311", name="12345热线(接口)", url=server.url, **source)
    return Open311Poller(app.cfg, src, app.pipeline, app.registry, clock=lambda: NOW)


@pytest.mark.parametrize(("behaviour", "page_size"), [("spec", None), ("ignores_page", 100), ("caps_50", 100)])
def test_every_request_is_stored_exactly_once(app, records, behaviour, page_size):
    server = serve(records, behaviour)
    try:
        p = poller(app, server, page_size=page_size)
        assert p.poll_once(NOW) == N
        assert p.cursor == NOW
        assert app.count("SELECT count(*) FROM events WHERE source_id = 'hotline_api'") == N
        assert app.count("SELECT count(DISTINCT fields->>'request_id') FROM events") == N
        assert app.count("SELECT count(*) FROM dead_letters") == 0
        sizes = {len(server.select(q)) for q in server.requests}
        if behaviour == "spec":
            assert all("page" not in q for q in server.requests)  # the spec has no paging: never sent
            assert max(sizes) == 1000 and len(server.requests) > 3  # full answers were split, not trusted
        elif behaviour == "ignores_page":
            assert p.paging_ignored
        else:
            assert {q["page_size"] for q in server.requests} == {"100"}
            assert max(int(q["page"]) for q in server.requests) > 2  # short pages of 50 were not the end
        # a second poll reads only the overlap and stores nothing new
        server.requests.clear()
        p.poll_once(NOW + timedelta(minutes=1))
        assert app.count("SELECT count(*) FROM events") == N
        assert server.requests[0]["start_date"] == "2026-11-24T11:55:00+08:00"
    finally:
        server.close()


def test_closed_at_source_is_closed_first_sighting_is_a_creation(app, records):
    server = serve(records[:200], "spec")
    try:
        poller(app, server).poll_once(NOW)
    finally:
        server.close()
    closed = {r["service_request_id"] for r in records[:200] if r["status"] == "closed"}
    assert closed
    rows = app.rows("SELECT e.fields->>'request_id', e.event, i.status FROM events e "
                    "JOIN incidents i USING (incident_id)")
    assert len(rows) == 200
    assert {r[1] for r in rows} == {None}  # every first sighting creates, none is an 'update'
    assert {r[0] for r in rows if r[2] == "closed"} == closed
    assert {r[2] for r in rows if r[0] not in closed} <= {"new"}
    actors = app.rows("SELECT DISTINCT actor, action, from_status, to_status FROM incident_timeline "
                      "WHERE action = 'source_close'")
    assert actors == [("source:hotline_api", "source_close", "new", "closed")]
    extra = app.rows("SELECT fields->'extra'->'notes'->0->>'summary', fields->>'zipcode' FROM events LIMIT 1")
    assert extra == [("Request received", "610051")]  # fields beyond ours are kept on the event


def test_updates_window_where_the_server_supports_it(app, records):
    server = serve(records[:50], "spec")
    try:
        p = poller(app, server, updates_params=("updated_after", "updated_before"))
        p.poll_once(NOW)
        old = next(r for r in server.records if r["status"] == "open"
                   and datetime.fromisoformat(r["requested_datetime"]) < NOW - timedelta(hours=10))
        later = NOW + timedelta(minutes=10)
        old.update(status="closed", status_notes="已修复", updated_datetime=(later - timedelta(minutes=1)).isoformat())
        server.requests.clear()
        p.poll_once(later)
        assert any("updated_after" in q for q in server.requests)
        assert p.update_cursor == later
    finally:
        server.close()
    rows = app.rows("SELECT e.event, i.status FROM events e JOIN incidents i USING (incident_id) "
                    "WHERE e.fields->>'request_id' = ? ORDER BY e.occurred_at", [old["service_request_id"]])
    assert rows == [(None, "closed"), ("update", "closed")]


def test_broken_document_one_dead_letter_salvage_and_back_off(app, records):
    good = records[0]
    server = serve(records[:5], "spec")
    server.broken = ('[' + json.dumps(good) + ', {"service_request_id": "SR-X", "lat": NaN').encode()
    try:
        p = poller(app, server, poll_interval="30s")
        assert p.poll_once(NOW) == 1  # the first record parsed on its own is salvaged
        assert p.cursor is None and p.retry_at == NOW + timedelta(seconds=30)
        asked = len(server.requests)
        assert p.poll_once(NOW + timedelta(seconds=10)) == 0 and len(server.requests) == asked  # backing off
        p.poll_once(NOW + timedelta(seconds=30))  # the same broken document again: no second dead letter
        assert p.retry_at == NOW + timedelta(seconds=90)
        assert app.count("SELECT count(*) FROM dead_letters") == 1
        assert app.rows("SELECT reason FROM dead_letters") == [("malformed_json",)]
        server.broken = None
        assert p.poll_once(NOW + timedelta(seconds=90)) == 5
        assert p.cursor is not None and p.failures == 0
    finally:
        server.close()
    assert app.count("SELECT count(DISTINCT fields->>'request_id') FROM events") == 5
    assert app.count("SELECT count(*) FROM events") == 5


def test_chicago_service_codes_map_through_the_shipped_service_list(app, records):
    server = serve(records[:20], "spec")
    try:
        poller(app, server, mapping=SourceMapping(category_map="config/mappings/open311_services.yaml")).poll_once(NOW)
    finally:
        server.close()
    got = dict(app.rows("SELECT DISTINCT e.fields->>'service_code', i.domain || '/' || i.category FROM events e "
                        "JOIN incidents i USING (incident_id)"))
    assert got["4ffa9db16018277d400000a2"] == "traffic/signal_fault"  # Traffic Signal Out
    assert got["4fd3b656e750846c53000004"] == "city_management/road_damage"  # Pothole in Street
    assert app.count("SELECT count(*) FROM events WHERE rule_id = 'map.hotline_api'") == 20


def test_cursor_survives_a_restart_and_a_broken_file_is_ignored(app, records, tmp_path):
    server = serve(records[:30], "spec")
    cursor_file = tmp_path / "cursors" / "hotline_api.json"
    try:
        src = SourceConfig(id="hotline_api", kind="open311", name="x", url=server.url)
        first = Open311Poller(app.cfg, src, app.pipeline, app.registry, clock=lambda: NOW, cursor_file=cursor_file)
        first.poll_once(NOW)
        assert json.loads(cursor_file.read_text())["cursor"] == NOW.isoformat()
        server.requests.clear()
        later = NOW + timedelta(hours=2)
        again = Open311Poller(app.cfg, src, app.pipeline, app.registry, clock=lambda: later, cursor_file=cursor_file)
        assert again.cursor == NOW
        assert again.poll_once(later) == 0
        assert server.requests[0]["start_date"] == "2026-11-24T11:55:00+08:00"  # from the saved cursor, not 24 h back
        cursor_file.write_text("{not json")
        assert Open311Poller(app.cfg, src, app.pipeline, app.registry, cursor_file=cursor_file).cursor is None
    finally:
        server.close()
