"""12345 hotline: the Open311 poller against a local GeoReport v2 server, and the drop folder."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from ingest.drop_folder import DropFolder
from ingest.open311 import Open311Poller
from ops_center.core.config import SourceConfig
from ops_center.core.geo import locate
from tests.fixtures_ingest import make_app

HOTLINE = Path(__file__).parent / "data" / "hotline"
NOW = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)  # 12:00 Asia/Shanghai


class GeoReportServer:
    """A tiny Open311 GeoReport v2 `requests.json`: filters by start/end on the later of requested/updated
    datetime, pages with page/page_size, and can be told to answer with an invalid document."""

    def __init__(self, records: list[dict]):
        self.records = records
        self.invalid_pages: set[int] = set()
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                server.requests.append(query)
                page = int(query.get("page", 1))
                if page in server.invalid_pages:
                    body = (HOTLINE / "open311_invalid.json").read_bytes()
                else:
                    body = json.dumps(server.select(query), ensure_ascii=False).encode()
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
        start = datetime.fromisoformat(query["start_date"])
        end = datetime.fromisoformat(query["end_date"])

        def changed(r):
            return datetime.fromisoformat(r.get("updated_datetime") or r["requested_datetime"])

        hits = sorted((r for r in self.records if start <= changed(r) <= end), key=changed)
        size = int(query.get("page_size", 1000))
        page = int(query.get("page", 1))
        return hits[(page - 1) * size : page * size]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hotline_app(cfg, config_path, db_path):
    app = make_app(cfg.model_copy(update={"simulator": cfg.simulator.model_copy(update={"enabled": False})}),
                   config_path, db_path, clock=lambda: NOW)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def server():
    records = json.loads((HOTLINE / "open311_requests.json").read_text(encoding="utf-8"))
    srv = GeoReportServer(records)
    try:
        yield srv
    finally:
        srv.close()


def poller(app, server, page_size=3) -> Open311Poller:
    src = SourceConfig(id="hotline_api", kind="open311", name="12345热线(接口)", url=server.url, heartbeat="30m")
    return Open311Poller(app.cfg, src, app.pipeline, app.registry, clock=lambda: NOW, page_size=page_size)


def test_open311_pages_dedups_and_appends_updates(hotline_app, server):
    p = poller(hotline_app, server)
    assert p.poll_once(NOW) == 7
    pages = [q["page"] for q in server.requests]
    assert pages == ["1", "2", "3"]  # 3 + 3 + 1: stops at the short page
    assert server.requests[0]["start_date"] == "2026-11-23T12:00:00+08:00"  # 24 h look-back on first poll
    assert p.cursor == NOW
    rows = hotline_app.rows("SELECT natural_key, area_code, fields->>'request_id' FROM events ORDER BY natural_key")
    assert [r[0] for r in rows] == [f"SR-{i:03d}" for i in range(1, 8)]
    expected_area = locate(hotline_app.cfg, hotline_app.registry, lat=30.6580, lon=104.0850, address="成都市成华区望平街")
    assert {r[1] for r in rows} == {expected_area}
    assert all(r[0] == r[2] for r in rows)

    # polling again: the window starts at the cursor minus the overlap
    server.requests.clear()
    later = NOW + timedelta(minutes=1)
    assert p.poll_once(later) == 0
    assert server.requests[0]["start_date"] == "2026-11-24T11:55:00+08:00"
    # a restarted poller reads the whole look-back again: nothing new is created
    assert poller(hotline_app, server).poll_once(later) == 7
    assert hotline_app.count("SELECT count(*) FROM events") == 7

    # an update of SR-002 (status closed) lands as a new event of the same request
    sr2 = next(r for r in server.records if r["service_request_id"] == "SR-002")
    sr2.update(status="closed", status_notes="已清运", updated_datetime="2026-11-24T12:00:30+08:00")
    p.poll_once(later + timedelta(minutes=1))
    rows = hotline_app.rows("SELECT natural_key, event, fields->>'status', incident_id FROM events "
                            "WHERE fields->>'request_id' = 'SR-002' ORDER BY occurred_at")
    assert [r[0] for r in rows] == ["SR-002", "SR-002@2026-11-24T04:00:30+00:00"]
    assert rows[1][1:3] == ("update", "closed")
    assert rows[1][3] == rows[0][3]  # the pipeline put the update on the same incident
    assert hotline_app.count("SELECT count(*) FROM events") == 8


def test_open311_invalid_document_is_a_dead_letter_and_the_window_is_retried(hotline_app, server):
    p = poller(hotline_app, server)
    server.invalid_pages = {2}
    assert p.poll_once(NOW) == 3
    dead = hotline_app.rows("SELECT source_id, reason, topic, raw FROM dead_letters")
    assert len(dead) == 1
    assert dead[0][:2] == ("hotline_api", "malformed_json") and "page=2" in dead[0][2]
    assert bytes(dead[0][3]) == (HOTLINE / "open311_invalid.json").read_bytes()
    assert p.cursor is None  # the window was not finished: read again next poll
    server.invalid_pages = set()
    assert p.poll_once(NOW + timedelta(seconds=30)) == 7
    assert hotline_app.count("SELECT count(*) FROM events") == 7
    assert p.health().dead_letters_total == 1


def test_open311_unreachable_server_is_an_error_state_not_a_crash(hotline_app, server):
    p = poller(hotline_app, server)
    server.close()
    assert p.poll_once(NOW) == 0
    assert p.health().state == "error" and p.cursor is None


@pytest.fixture
def drop(hotline_app, tmp_path) -> DropFolder:
    src = SourceConfig(id="hotline_drop", kind="drop_folder", name="12345热线(文件)", path=str(tmp_path / "drop"))
    folder = DropFolder(hotline_app.cfg, src, tmp_path / "drop", hotline_app.pipeline, hotline_app.registry,
                        clock=lambda: NOW, settle_s=0)
    for sub in (folder.path, folder.processed_dir, folder.rejected_dir):
        sub.mkdir(parents=True, exist_ok=True)
    return folder


def test_drop_folder_reads_json_utf8_csv_gbk_csv_and_rejects_broken(hotline_app, drop):
    for name in ("georeport_requests.json", "requests_utf8.csv", "requests_gbk.csv", "broken.json"):
        shutil.copy(HOTLINE / name, drop.path / name)
    (drop.path / "half-written.json.tmp").write_text("[")
    results = {f.name: r for f, r in drop.scan_once()}
    assert results == {"broken.json": "rejected", "georeport_requests.json": "processed",
                       "requests_gbk.csv": "processed", "requests_utf8.csv": "processed"}
    assert sorted(p.name for p in drop.processed_dir.iterdir()) == [
        "georeport_requests.json", "requests_gbk.csv", "requests_utf8.csv"]
    assert [p.name for p in drop.rejected_dir.iterdir()] == ["broken.json"]
    assert [p.name for p in drop.path.iterdir() if p.is_file()] == ["half-written.json.tmp"]

    events = {r[0]: r[1:] for r in hotline_app.rows(
        "SELECT natural_key, area_code, text, category, fields->>'request_id', event FROM events")}
    assert set(events) == {
        "12345-20261124-000101", "12345-20261124-000101@2026-11-24T03:05:00+00:00", "12345-20261124-000102",
        "12345-20261124-000201", "12345-20261124-000202",
        "12345-20261124-000301", "12345-20261124-000302@2026-11-24T02:50:00+00:00",
    }
    cfg, reg = hotline_app.cfg, hotline_app.registry
    assert events["12345-20261124-000101"][0] == locate(cfg, reg, lat=30.6720, lon=104.1010)
    assert events["12345-20261124-000102"][0] == locate(cfg, reg, address="成都市成华区望平街18号")
    assert events["12345-20261124-000102"][0] != cfg.site.default_area  # found by the road name
    assert events["12345-20261124-000301"][1:3] == ("府青路一位独居老人走失，家属正在寻找", "老人走失")  # GBK decoded
    update = events["12345-20261124-000101@2026-11-24T03:05:00+00:00"]
    assert update[3:] == ("12345-20261124-000101", "update")

    dead = sorted(hotline_app.rows("SELECT topic, reason FROM dead_letters"))
    assert dead == [("broken.json", "malformed_json"), ("georeport_requests.json", "missing_field"),
                    ("requests_utf8.csv", "invalid_value")]
    assert drop.health().dead_letters_total == 3


def test_drop_folder_redrop_creates_nothing_new(hotline_app, drop):
    shutil.copy(HOTLINE / "requests_utf8.csv", drop.path / "a.csv")
    drop.scan_once()
    before = hotline_app.count("SELECT count(*) FROM events")
    shutil.copy(HOTLINE / "requests_utf8.csv", drop.path / "a.csv")
    assert drop.scan_once()[0][1] == "processed"
    assert hotline_app.count("SELECT count(*) FROM events") == before == 2
    assert len(list(drop.processed_dir.iterdir())) == 2  # the second copy kept under a new name


def test_drop_folder_rejects_unsupported_and_undecodable_files(hotline_app, drop):
    (drop.path / "notes.txt").write_text("hello")
    (drop.path / "bad.csv").write_bytes(b"\xff\xfe\xfa\x00\x81")
    (drop.path / "nohdr.csv").write_text("a,b\n1,2\n")
    results = dict((f.name, r) for f, r in drop.scan_once())
    assert results == {"bad.csv": "rejected", "nohdr.csv": "rejected", "notes.txt": "rejected"}
    assert sorted(hotline_app.rows("SELECT topic, reason FROM dead_letters")) == [
        ("bad.csv", "invalid_encoding"), ("nohdr.csv", "missing_field"), ("notes.txt", "unsupported_file")]
