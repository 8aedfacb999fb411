"""Drop folder under hostile files (issue 11.2, 11.8): complete files only, bounded chunks, saved offsets."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bench.hotline_csv import HEADER, write_hotline_csv
from ingest.drop_folder import PIECES_IN_FLIGHT, DropFolder
from ingest.file_chunks import csv_layout, spans
from ingest.store_watch import StoreWatch
from ops_center.core.clock import utc_now
from ops_center.core.config import SourceConfig
from ops_center.core.model import Event
from ops_center.core.sla import SlaPolicy
from tests.fixtures_ingest import make_app, wait_until


def ingest_cfg(cfg, **changes):
    return cfg.model_copy(update={"ingest": cfg.ingest.model_copy(update=changes),
                                  "simulator": cfg.simulator.model_copy(update={"enabled": False})})


@pytest.fixture
def app_for(config_path, db_path):
    apps = []

    def build(cfg):
        app = make_app(cfg, config_path, db_path)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


def folder(app, path: Path, **kwargs) -> DropFolder:
    src = SourceConfig(id="hotline_drop", kind="drop_folder", name="12345热线(文件)", path=str(path),
                       poll_interval=timedelta(seconds=0.2))
    drop = DropFolder(app.cfg, src, path, app.pipeline, app.registry, **kwargs)
    drop.prepare()
    return drop


def hotline_events(app) -> tuple[int, int]:
    return app.rows("SELECT count(*), count(DISTINCT natural_key) FROM events WHERE source_id = 'hotline_drop'")[0]


def test_a_file_written_slowly_is_read_whole_once_it_stops_changing(app_for, cfg, tmp_path):
    """issue 11.8: pauses over a second between rows; the file must not be taken after its first rows."""
    app = app_for(cfg)  # the shipped settings, ingest.file_settle included
    drop = app.run(folder(app, tmp_path / "drop"))
    whole = tmp_path / "whole.csv"
    write_hotline_csv(whole, 20, end=utc_now())
    lines = whole.read_bytes().splitlines(keepends=True)
    target = drop.path / "slow.csv"
    pause = threading.Event()
    with target.open("wb") as f:
        for i, line in enumerate(lines):
            f.write(line)
            f.flush()
            if i in (2, 10):
                pause.wait(1.5)
    wait_until(lambda: (drop.processed_dir / "slow.csv").exists(), 30, "the file moved to processed/")
    assert hotline_events(app) == (20, 20)
    assert app.count("SELECT count(*) FROM dead_letters") == 0


def test_a_big_csv_goes_in_chunks_and_a_restart_resumes_at_the_saved_offset(app_for, cfg, tmp_path):
    """issue 11.2: nothing is read twice after a stop in the middle; the offset survives the process."""
    app = app_for(ingest_cfg(cfg, file_chunk_rows=1000))
    path = tmp_path / "drop"
    first = folder(app, path, settle_s=0)
    write_hotline_csv(path / "big.csv", 3500, end=utc_now())
    assert len(spans(csv_layout(path / "big.csv", 1000).bounds, 0)) == 4

    class StopAfterTwoChunks:
        """The real pipeline; the source is told to stop once its second chunk is queued (a SIGTERM)."""

        def __init__(self, pipeline):
            self.pipeline, self.calls = pipeline, 0

        def submit_many(self, items, on_committed=None, ahead=None):
            self.calls += 1
            self.pipeline.submit_many(items, on_committed, ahead)
            if self.calls == 2:  # chunk 2 is one piece: batch_max_rows / 4 is 1000
                first._stop.set()  # noqa: SLF001 - what stop() sets

        def __getattr__(self, name):
            return getattr(self.pipeline, name)

    first._pipeline = StopAfterTwoChunks(app.pipeline)  # noqa: SLF001
    assert first.scan_once() == [(path / "big.csv", "stopped")]
    app.pipeline.flush()
    saved = (path / ".progress" / "big.csv.json").read_bytes()
    assert b'"accepted":2000' in saved  # the chunk in flight at the stop still committed and was saved
    assert (path / "big.csv").exists()

    again = folder(app, path, settle_s=0)  # a new process: only the saved offset carries over
    assert again.scan_once() == [(path / "big.csv", "processed")]
    assert hotline_events(app) == (3500, 3500)
    stats = app.pipeline.stats("hotline_drop")
    assert stats.duplicates == 0  # nothing was read twice
    assert not (path / ".progress" / "big.csv.json").exists()


def test_a_file_keeps_a_window_of_pieces_in_flight_across_chunks_and_saves_each_chunk_in_order(app_for, cfg,
                                                                                                tmp_path):
    """The writer never waits for the next chunk, another source never waits behind more than the window,
    and every chunk's end offset is saved once, in file order, after its last piece committed."""
    small = ingest_cfg(cfg, file_chunk_rows=700)
    app = app_for(small.model_copy(update={"store": small.store.model_copy(update={"batch_max_rows": 800})}))
    path = tmp_path / "drop"
    drop = folder(app, path, settle_s=0)
    write_hotline_csv(path / "big.csv", 5000, end=utc_now())
    bounds = [end for _, end in spans(csv_layout(path / "big.csv", 700, first_rows=200).bounds, 0)]
    # chunks of 200, 400, then 700 rows (the ramp starts at one piece: batch_max_rows / 4 is 200), the rest last
    assert len(bounds) == 9
    pieces = [1, 2, 4, 4, 4, 4, 4, 4, 1]
    saved: list[int] = []
    save = drop._progress.save  # noqa: SLF001 - observe each saved offset

    def record(file, progress):
        saved.append(progress.offset)
        save(file, progress)

    drop._progress.save = record  # noqa: SLF001

    class Window:
        """The real pipeline, counting the file's pieces submitted and not yet committed."""

        def __init__(self, pipeline):
            self.pipeline, self.open, self.most, self.pieces = pipeline, 0, 0, 0
            self.open_before: list[int] = []  # pieces still open when each piece was submitted
            self.lock = threading.Lock()

        def submit_many(self, items, on_committed=None, ahead=None):
            with self.lock:
                self.open_before.append(self.open)
                self.open += 1
                self.pieces += 1
                self.most = max(self.most, self.open)

            def committed():
                with self.lock:
                    self.open -= 1
                on_committed()

            self.pipeline.submit_many(items, committed, ahead)

        def __getattr__(self, name):
            return getattr(self.pipeline, name)

    window = Window(app.pipeline)
    drop._pipeline = window  # noqa: SLF001
    assert drop.scan_once() == [(path / "big.csv", "processed")]
    assert hotline_events(app) == (5000, 5000)
    assert saved == bounds  # one save per chunk, in order, none skipped
    assert window.pieces == sum(pieces) and window.most <= PIECES_IN_FLIGHT
    # a chunk's first piece went in while the one before was still committing: no idle writer between them
    firsts = [sum(pieces[:i]) for i in range(1, len(pieces))]
    assert any(window.open_before[first] > 0 for first in firsts)


def test_chunks_ramp_up_from_one_piece_so_the_writer_starts_before_a_whole_chunk_is_parsed(tmp_path):
    """The first chunk is `first_rows` records, each next one twice as many up to chunk_rows; the bounds still
    cover every record once (the same records as without the ramp)."""
    path = tmp_path / "big.csv"
    write_hotline_csv(path, 3000, end=utc_now())
    flat = csv_layout(path, 1000)
    ramp = csv_layout(path, 1000, first_rows=100)
    assert (ramp.encoding, ramp.header, ramp.bounds[0], ramp.bounds[-1]) == (flat.encoding, flat.header,
                                                                           flat.bounds[0], flat.bounds[-1])
    data = path.read_bytes()
    sizes = [data[a:b].count(b"\r\n") for a, b in spans(ramp.bounds, 0)]
    assert sizes == [100, 200, 400, 800, 1000, 500]


def test_stop_returns_promptly_while_a_big_file_is_being_read(app_for, cfg, tmp_path):
    app = app_for(ingest_cfg(cfg, file_chunk_rows=1000))
    drop = app.run(folder(app, tmp_path / "drop", settle_s=0))
    write_hotline_csv(tmp_path / "big.csv", 20_000, end=utc_now())
    (tmp_path / "big.csv").rename(drop.path / "big.csv")
    wait_until(lambda: app.pipeline.stats("hotline_drop").accepted >= 1000, 60, "first chunk committed")
    started = time.monotonic()
    drop.stop()
    app.started.remove(drop)
    assert time.monotonic() - started < 5
    started = time.monotonic()
    app.pipeline.stop(timeout=2)
    assert time.monotonic() - started < 15
    assert (drop.path / "big.csv").exists()  # not moved: a restart reads on from the saved offset


def test_an_oversized_json_file_is_rejected_with_a_reason(app_for, cfg, tmp_path):
    app = app_for(ingest_cfg(cfg, max_json_file_bytes=1024))
    drop = folder(app, tmp_path / "drop", settle_s=0)
    (drop.path / "huge.json").write_text("[" + ",".join(['{"service_request_id": "x"}'] * 100) + "]")
    assert drop.scan_once() == [(drop.path / "huge.json", "rejected")]
    assert app.rows("SELECT reason FROM dead_letters") == [("oversized",)]


def test_a_csv_with_a_syntax_error_is_rejected_whole_before_anything_is_stored(app_for, cfg, tmp_path):
    app = app_for(ingest_cfg(cfg, file_chunk_rows=100))
    drop = folder(app, tmp_path / "drop", settle_s=0)
    write_hotline_csv(tmp_path / "ok.csv", 300, end=utc_now())
    bad = (tmp_path / "ok.csv").read_bytes() + ",".join(HEADER).encode() + b',"unterminated\r\n'
    (drop.path / "bad.csv").write_bytes(bad)
    assert drop.scan_once() == [(drop.path / "bad.csv", "rejected")]
    assert hotline_events(app) == (0, 0)
    assert app.rows("SELECT reason FROM dead_letters") == [("malformed_csv",)]


def test_a_dead_polling_thread_is_restarted_and_a_stuck_round_is_reported(cfg):
    """The watchdog (health(), asked every 5 s by FeedWatch): no polled source dies or hangs unseen."""
    from ingest.polled import PolledSource

    release, rounds = threading.Event(), []

    class Flaky(PolledSource):
        def work_once(self) -> None:
            rounds.append(len(rounds))
            if len(rounds) == 1:
                raise SystemExit("a BaseException ends the thread")  # what `except Exception` lets through
            if len(rounds) == 2:
                release.wait(30)  # stuck in a round, no beat()

    src = SourceConfig(id="flaky", kind="drop_folder", name="x", poll_interval=timedelta(seconds=0.05))
    source = Flaky(src, utc_now, stall_after_s=0.3)
    source.start()
    try:
        wait_until(lambda: not source._thread.is_alive(), 10, "the thread to die")  # noqa: SLF001
        assert source.health().fault == "轮询线程意外终止，已重启"
        wait_until(lambda: len(rounds) == 2, 10, "the restarted thread's first round")
        wait_until(lambda: "无进展" in source.health().fault, 10, "the stuck round reported")
        release.set()
        wait_until(lambda: len(rounds) >= 3 and source.health().fault == "", 10, "progress again")
    finally:
        release.set()
        source.stop()


def test_a_source_over_its_share_of_the_queue_waits_while_others_go_on(cfg, config_path, db_path):
    """ingest.source_share: the flooding source blocks (backpressure); another source is not starved."""
    from ops_center.service.pipeline import Pipeline
    from ops_center.wiring.app import build_context

    ctx = build_context(ingest_cfg(cfg, source_share=0.5), config_path, db_path=db_path)
    pipeline = Pipeline(ctx.store, ctx.bus, ctx.cfg, ctx.rules, SlaPolicy(ctx.cfg), utc_now, max_queue=10)
    now = utc_now()

    def reading(source_id: str, i: int) -> Event:
        return Event(source="sensor", source_id=source_id, natural_key=f"AQI-0001|{i}|pm25", occurred_at=now,
                     received_at=now, kind="aqi", device_id="AQI-0001", metric="pm25", value=30.0)

    for i in range(5):  # the flood fills its share (5 of 10) while the batcher is not running yet
        pipeline.submit(reading("flood", i))
    blocked = threading.Thread(target=pipeline.submit, args=(reading("flood", 5),), daemon=True)
    blocked.start()
    blocked.join(0.5)
    assert blocked.is_alive() and pipeline.queued("flood") == 5  # over its share: it waits
    pipeline.submit(reading("quiet", 0))  # the other source gets in at once
    assert pipeline.queued("quiet") == 1
    pipeline.start()
    blocked.join(10)
    assert not blocked.is_alive()
    pipeline.flush()
    assert pipeline.stats("flood").accepted == 6 and pipeline.stats("quiet").accepted == 1
    pipeline.stop()
    ctx.bus.close()
    ctx.store.close()


def test_hotline_requests_with_implausible_times_are_dead_letters_with_the_reason(app_for, cfg, tmp_path):
    """issue 11.9 for files: years 0001, 1900, 2100 and 9999 become implausible_time, never events or errors."""
    app = app_for(cfg)
    drop = folder(app, tmp_path / "drop", settle_s=0)
    now = utc_now().astimezone(ZoneInfo(cfg.site.timezone)).strftime("%Y-%m-%d %H:%M:%S")
    rows = [("T-0001", "0001-01-01 00:00:00"), ("T-1900", "1900-01-01 08:00:00"), ("T-2100", "2100-01-01 00:00:00"),
            ("T-9999", "9999-12-31 23:59:59"), ("T-OK", now)]
    text = "工单编号,受理时间,诉求内容\n" + "".join(f"{rid},{at},望平街垃圾桶满溢\n" for rid, at in rows)
    (drop.path / "times.csv").write_text(text, encoding="utf-8")
    assert drop.scan_once() == [(drop.path / "times.csv", "processed")]
    assert app.rows("SELECT natural_key FROM events WHERE source_id = 'hotline_drop'") == [("T-OK",)]
    assert app.rows("SELECT reason, count(*) FROM dead_letters GROUP BY reason") == [("implausible_time", 4)]


def test_the_batcher_outlives_a_failure_outside_any_commit(app_for, cfg):
    """Watchdog of the pipeline thread: an error that escapes a round restarts the batcher, not ends it."""
    app = app_for(cfg)
    pipeline = app.pipeline
    real_get, failed = pipeline._queue.get, []  # noqa: SLF001 - the batcher's own queue

    def failing_get(*args, **kwargs):
        if not failed:
            failed.append(True)
            raise RuntimeError("injected failure outside a commit")
        return real_get(*args, **kwargs)

    pipeline._queue.get = failing_get  # noqa: SLF001
    wait_until(lambda: pipeline.restarts == 1, 10, "the batcher restarted")
    now = utc_now()
    pipeline.submit(Event(source="sensor", source_id="mqtt_sensors", natural_key="AQI-0001|x|pm25", occurred_at=now,
                          received_at=now, kind="aqi", device_id="AQI-0001", metric="pm25", value=30.0))
    pipeline.flush(10)
    assert pipeline.stats("mqtt_sensors").accepted == 1
    health = StoreWatch(app.ctx.store, pipeline).health()
    assert (health.state, health.fault) == ("running", "入库线程异常后已重启 1 次")


def test_a_failing_store_write_shows_in_the_store_health_row_until_a_write_succeeds(store):
    import duckdb

    watch = StoreWatch(store)
    assert (watch.health().state, watch.health().fault) == ("running", "")
    with pytest.raises(duckdb.Error):
        store.write(lambda conn: conn.execute("INSERT INTO no_such_table VALUES (1)"))
    health = watch.health()
    assert health.state == "error" and health.fault.startswith("写入失败：") and "no_such_table" in health.fault
    store.write(lambda conn: conn.execute("SELECT 1").fetchall())
    assert watch.health().state == "running"
