"""Drop-folder CSV parsing in its own process: same events as on the caller's thread; a crash loses nothing."""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import orjson
import pytest

from bench.hotline_csv import write_hotline_csv
from ingest.drop_folder import DropFolder
from ingest.file_chunks import csv_layout, spans
from ingest.file_parser import FileParser, ParseContext, ParserDown
from ops_center.core.clock import utc_now
from ops_center.core.config import SourceConfig
from tests.fixtures_ingest import make_app


@pytest.fixture
def app(cfg, config_path, db_path):
    changed = cfg.model_copy(update={"ingest": cfg.ingest.model_copy(update={"file_chunk_rows": 1000}),
                                    "simulator": cfg.simulator.model_copy(update={"enabled": False})})
    app = make_app(changed, config_path, db_path)
    yield app
    app.close()


def drop_folder(app, path) -> DropFolder:
    src = SourceConfig(id="hotline_drop", kind="drop_folder", name="12345热线(文件)", path=str(path),
                       poll_interval=timedelta(seconds=0.2))
    drop = DropFolder(app.cfg, src, path, app.pipeline, app.registry, settle_s=0)
    drop.prepare()  # starts the parser process
    return drop


def test_process_and_thread_parse_the_same_events(cfg, tmp_path):
    path = tmp_path / "x.csv"
    grids = [a.centroid for a in cfg.areas.items if len(a.code) == 15]
    write_hotline_csv(path, 2500, end=utc_now(), span=timedelta(days=3), points=grids)
    layout = csv_layout(path, 1000)
    todo = spans(layout.bounds, 0)
    received = utc_now()
    here = FileParser(ParseContext(cfg, "hotline_drop"))
    child = FileParser(ParseContext(cfg, "hotline_drop"))
    child.start()
    try:
        assert child.layout(path, 1000) == layout
        in_thread = list(here.chunks(path, layout.header, todo, lambda: received, "x.csv"))
        in_child = list(child.chunks(path, layout.header, todo, lambda: received, "x.csv"))
    finally:
        child.stop()
    assert [end for end, _, _ in in_child] == [end for _, end in todo]
    assert sum(len(p.events) for _, p, _ in in_child) == 2500
    assert in_child == in_thread  # every Event field, area codes included


def test_a_killed_parser_process_loses_nothing_and_reads_nothing_twice(app, tmp_path):
    path = tmp_path / "drop"
    drop = drop_folder(app, path)
    write_hotline_csv(path / "big.csv", 5000, end=utc_now())

    class KillParserOnSecondChunk:
        """The real pipeline; while chunk 2 is handed over, the parser process (reading chunk 3) is killed."""

        def __init__(self, pipeline):
            self.pipeline, self.calls = pipeline, 0

        def submit_many(self, items, on_committed=None, ahead=None):
            self.calls += 1
            self.pipeline.submit_many(items, on_committed, ahead)
            if self.calls == 2:
                for pid in list(drop._parser._pool._processes):  # noqa: SLF001 - the child to kill
                    os.kill(pid, signal.SIGKILL)

        def __getattr__(self, name):
            return getattr(self.pipeline, name)

    drop._pipeline = KillParserOnSecondChunk(app.pipeline)  # noqa: SLF001
    try:
        assert drop.scan_once() == [(path / "big.csv", "retry")]
        saved = orjson.loads((path / ".progress" / "big.csv.json").read_bytes())
        # chunks 1-2 committed and saved (3 too, when its parse had come back before the kill)
        assert saved["accepted"] in (2000, 3000) and saved["offset"] < (path / "big.csv").stat().st_size
        assert drop.health().fault == "文件解析进程异常退出，已重启"
        assert drop.scan_once() == [(path / "big.csv", "processed")]  # a fresh parser resumes there
    finally:
        drop.stop()
    assert app.rows("SELECT count(*), count(DISTINCT natural_key) FROM events "
                    "WHERE source_id = 'hotline_drop'")[0] == (5000, 5000)
    assert app.pipeline.stats("hotline_drop").duplicates == 0


def test_a_dead_parser_is_reported_and_replaced(cfg, tmp_path):
    path = tmp_path / "x.csv"
    write_hotline_csv(path, 10, end=utc_now())
    parser = FileParser(ParseContext(cfg, "hotline_drop"))
    parser.start()
    try:
        parser.layout(path, 1000)
        for pid in list(parser._pool._processes):  # noqa: SLF001
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(ParserDown):
            parser.layout(path, 1000)
        assert parser.layout(path, 1000).bounds[-1] == path.stat().st_size  # the new child answers
    finally:
        parser.stop()
