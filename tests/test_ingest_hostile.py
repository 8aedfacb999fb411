"""Hostile MQTT input (issue 11): no payload may silence a receiver, and a stalled receiver is restarted."""

from __future__ import annotations

import multiprocessing
import os
import signal
from datetime import timedelta

import duckdb
import orjson
import pytest

from ingest.receiver_pool import ReceiverPool
from ingest.receiver_process import PipeShipper
from ingest.sources import mqtt_source
from ops_center.core.clock import utc_now
from ops_center.core.model import DeadLetter, Event
from tests.fixtures_ingest import Publisher, Subscriber, isolated_cfg, make_app, wait_until
from tests.test_ingest_noloss import readings

pytestmark = pytest.mark.mqtt

# Eight committed chunks of 5,000: SIGTERM after the first leaves most of the file unread, as 100,000 rows did.
BIG_FILE_ROWS = 40_000
# issue 11.1: an extra field nested 500 deep, about 1 KB
POISON = b'{"ts": "2026-11-24T10:00:00+08:00", "value": 1, "x": ' + b"[" * 500 + b"]" * 500 + b"}"


def pool_for(app, config_path) -> ReceiverPool:
    source = mqtt_source(app.cfg, config_path, app.cfg.source("mqtt_sensors"), app.pipeline, app.registry,
                         url=app.cfg.mqtt.url)
    assert isinstance(source, ReceiverPool)
    return source


def test_a_poison_message_is_a_dead_letter_and_the_valid_ones_after_it_are_stored(mosquitto, cfg, config_path,
                                                                                  db_path):
    app = make_app(isolated_cfg(cfg, mosquitto.url, receivers=1), config_path, db_path)
    prefix = app.cfg.mqtt.topic_prefix
    pub = Publisher(mosquitto.host, mosquitto.port, f"{app.cfg.mqtt.client_id}-pub")
    try:
        pool = app.run(pool_for(app, config_path))
        assert pool.wait_subscribed(30)
        pub.publish_all([(f"{prefix}/sensor/aqi/AQI-0001", POISON), *readings(prefix, 0, 200)])
        wait_until(lambda: app.count("SELECT count(*) FROM events WHERE device_id = 'AQI-0001'") == 200, 10,
                   "the 200 valid readings after the poison stored within seconds")
        assert app.rows("SELECT reason FROM dead_letters") == [("too_deep",)]
        child = pool._children[0]  # noqa: SLF001 - the real receiver process
        assert child.restarts == 0 and child.process.is_alive()

        # The poison was acked with its dead letter: the same session resumed gets nothing again.
        pool.stop()
        app.started.remove(pool)
        again = app.run(pool_for(app, config_path))
        assert again.wait_subscribed(30)
        pub.publish_all(readings(prefix, 200, 201))
        wait_until(lambda: app.count("SELECT count(*) FROM events WHERE device_id = 'AQI-0001'") == 201, 20,
                   "one more reading")
        app.pipeline.flush()
        assert app.count("SELECT count(*) FROM dead_letters") == 1
    finally:
        pub.close()
        app.close()


def test_a_stalled_receiver_is_killed_restarted_and_shown_in_health(mosquitto, cfg, config_path, db_path):
    base = isolated_cfg(cfg, mosquitto.url, receivers=1)
    app = make_app(base.model_copy(update={"ingest": base.ingest.model_copy(
        update={"stall_after": timedelta(seconds=2)})}), config_path, db_path)
    prefix = app.cfg.mqtt.topic_prefix
    pub = Publisher(mosquitto.host, mosquitto.port, f"{app.cfg.mqtt.client_id}-pub")
    try:
        pool = app.run(pool_for(app, config_path))
        assert pool.wait_subscribed(30)
        child = pool._children[0]  # noqa: SLF001 - the test freezes the real process
        frozen = child.process.pid
        assert pool.health().fault == ""
        os.kill(frozen, signal.SIGSTOP)  # alive but silent: no heartbeat, nothing shipped
        pub.publish_all(readings(prefix, 0, 50))
        wait_until(lambda: child.process.pid != frozen and child.subscribed.is_set(), 30, "receiver replaced")
        assert "停止响应" in pool.health().fault
        wait_until(lambda: app.count("SELECT count(*) FROM events WHERE device_id = 'AQI-0001'") == 50, 30,
                   "what the frozen receiver held is redelivered to the new one")
    finally:
        pub.close()
        app.close()


class _SpawnedProcess:
    """The face of multiprocessing's Process that the watchdog uses: alive until killed."""

    pid = 4242

    def __init__(self) -> None:
        self.killed = False

    def is_alive(self) -> bool:
        return not self.killed

    def kill(self) -> None:
        self.killed = True


def test_a_receiver_slow_to_start_is_given_time_and_one_that_went_silent_is_not(cfg, config_path, db_path):
    """On a loaded host a spawned receiver took longer than stall_after to import and connect, and the watchdog
    killed every new one before it said a word: starting gets START_GRACE_S, silence after a word stall_after."""
    from ingest.receiver_pool import START_GRACE_S

    app = make_app(isolated_cfg(cfg, "mqtt://127.0.0.1:1", receivers=1).model_copy(update={"ingest": cfg.ingest.model_copy(
        update={"stall_after": timedelta(seconds=2)})}), config_path, db_path)
    try:
        pool = pool_for(app, config_path)
        child = pool._children[0]  # noqa: SLF001 - the watchdog's view of one receiver, driven by hand
        child.process, child.last_heard, child.heard = _SpawnedProcess(), 1000.0, False
        assert not pool.check_stalled(child, 1000.0 + 5) and not child.process.killed  # still importing
        assert pool.check_stalled(child, 1000.0 + START_GRACE_S + 1) and child.process.killed  # never spoke: hung
        child.process, child.last_heard, child.heard = _SpawnedProcess(), 2000.0, True
        assert pool.check_stalled(child, 2000.0 + 3) and child.process.killed  # spoke, then fell silent
        assert "停止响应" in pool.health().fault
    finally:
        app.close()


def test_a_chunk_item_that_will_not_pickle_is_shipped_as_a_dead_letter(cfg, config_path):
    """Defence behind the parse-time bounds: the shipper never dies of a bad item, the rest of the chunk ships."""
    writer_end, receiver_end = multiprocessing.Pipe(duplex=True)
    ship = PipeShipper(receiver_end, "mqtt_sensors")
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    now = utc_now()
    good = Event(source="sensor", source_id="mqtt_sensors", natural_key="ok", occurred_at=now, received_at=now)
    bad = Event(source="sensor", source_id="mqtt_sensors", natural_key="AQI-0001|deep", occurred_at=now,
                received_at=now, fields={"x": deep})
    assert ship(("chunk", 1, [bad, good], 2, 0, now))
    kind, seq, items, messages, dead, _ = writer_end.recv()
    assert (kind, seq, messages, dead) == ("chunk", 1, 2, 1)
    assert isinstance(items[0], DeadLetter) and items[0].reason == "internal_error"
    assert items[0].raw == b"AQI-0001|deep" and "RecursionError" in items[0].detail
    assert items[1] == good


def test_disk_full_exits_for_a_restart_and_the_restart_stores_everything_once(private_mosquitto, config_path,
                                                                               tmp_path):
    """issue 11.12: an invalidated DuckDB instance ends the process (code 75) at once, logged once, not
    thousands of times; the restart with space again stores every message exactly once."""
    import subprocess
    import sys

    from tests.test_ingest_noloss import ROOT, stored, subscriptions, tail, write_config

    broker = private_mosquitto
    config, db, log = write_config(config_path, tmp_path), tmp_path / "ops.duckdb", tmp_path / "ingest.log"
    n = 20_000

    def child(limit: int) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "tests.disk_full_child", str(config), str(db), broker.url,
                                 str(limit)], cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT)

    pub = Publisher(broker.host, broker.port, "diskfull-pub")
    out = Subscriber(broker.host, broker.port, "ops/out/incident/#", "diskfull-out")
    sentinel = ("ops/sensor/smoke/SMK-0005", b'{"ts": "2026-11-24T12:00:00+08:00", "event": "alarm"}')
    proc = child(1_000_000)
    try:
        wait_until(lambda: subscriptions(log) == 1 or proc.poll() is not None, 60, "ingest subscribed")
        assert proc.poll() is None, tail(log)
        pub.publish_all([*readings("ops", 0, n), sentinel], timeout=120)
        wait_until(lambda: proc.poll() is not None, 120, "the process to exit on the invalidated store")
        assert proc.returncode == 75, tail(log)  # EX_TEMPFAIL: ops_center.store.store.EXIT_STORE_FATAL
        text = log.read_text(errors="replace")
        assert text.count("CRITICAL") == 1 and "DuckDB instance invalidated" in text
        assert text.count("Traceback") <= 3, tail(log, 80)  # rate-limited, not one per batch and input

        proc = child(0)  # space again: the service manager's restart
        wait_until(lambda: subscriptions(log) == 2 or proc.poll() is not None, 60, "ingest subscribed again")
        assert proc.poll() is None, tail(log)
        # Mosquitto delivers one session's queue in order and the pipeline commits in order: the alarm
        # published after the readings coming back on the outbound topic means all before it are stored.
        wait_until(lambda: any(t.endswith("/created") for t, _ in out.messages) or proc.poll() is not None, 120,
                   "the alarm after the readings on the outbound topic")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, tail(log)
        assert stored(db) == (n, n)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        pub.close()
        out.close()



def test_a_big_export_does_not_starve_the_sensors(mosquitto, cfg, config_path, db_path, tmp_path):
    """issue 11.2: while a 20,000-row CSV is being read, sensor readings are still stored within seconds."""
    import time
    from datetime import timedelta

    from bench.hotline_csv import write_hotline_csv
    from ingest.drop_folder import DropFolder
    from ops_center.core.config import SourceConfig

    base = isolated_cfg(cfg, mosquitto.url, receivers=1)  # chunks of 1,000 rows: a reading waits behind one
    base = base.model_copy(update={"ingest": base.ingest.model_copy(update={"file_chunk_rows": 1000})})
    app = make_app(base, config_path, db_path)
    prefix = app.cfg.mqtt.topic_prefix
    pub = Publisher(mosquitto.host, mosquitto.port, f"{app.cfg.mqtt.client_id}-pub")
    rows = 20_000
    try:
        pool = app.run(pool_for(app, config_path))
        assert pool.wait_subscribed(30)
        src = SourceConfig(id="hotline_drop", kind="drop_folder", name="12345热线(文件)", path=str(tmp_path / "drop"),
                           poll_interval=timedelta(seconds=0.2))
        drop = app.run(DropFolder(app.cfg, src, tmp_path / "drop", app.pipeline, app.registry, settle_s=0))
        grids = [a.centroid for a in app.cfg.areas.items if len(a.code) == 15]
        write_hotline_csv(tmp_path / "export.csv", rows, end=utc_now() - timedelta(minutes=1),
                          span=timedelta(days=28), points=grids)
        (tmp_path / "export.csv").rename(drop.path / "export.csv")
        wait_until(lambda: app.pipeline.stats("hotline_drop").accepted > 0, 60, "the file's first chunk committed")
        sent = time.monotonic()
        pub.publish_all(readings(prefix, 0, 300))
        wait_until(lambda: app.pipeline.stats("mqtt_sensors").accepted >= 300, 5, "300 readings during the file")
        latency = time.monotonic() - sent
        during = app.pipeline.stats("hotline_drop").accepted < rows
        wait_until(lambda: (drop.processed_dir / "export.csv").exists(), 180, "the whole file stored")
        assert app.rows("SELECT count(*), count(DISTINCT natural_key) FROM events WHERE source_id = 'hotline_drop'"
                        )[0] == (rows, rows)
        print(f"\n300 readings stored {latency:.1f} s after publishing, file still being read: {during}")
    finally:
        pub.close()
        app.close()


def test_sigterm_with_a_big_file_half_read_exits_promptly_and_the_restart_resumes(private_mosquitto, config_path,
                                                                                    tmp_path):
    """issue 11.2: SIGTERM did not finish in 200 s under a big file; now it is bounded, and nothing is re-read."""
    import subprocess
    import sys
    import time
    from datetime import timedelta

    import yaml

    from bench.hotline_csv import write_hotline_csv
    from tests.test_ingest_noloss import ROOT, subscriptions, tail, write_config

    broker = private_mosquitto
    config, db, log = write_config(config_path, tmp_path), tmp_path / "ops.duckdb", tmp_path / "ingest.log"
    drop = tmp_path / "drop"
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["sources"].append({"id": "hotline_drop", "kind": "drop_folder", "name": "12345热线(文件)", "path": str(drop),
                            "poll_interval": "1s"})
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    drop.mkdir()
    write_hotline_csv(tmp_path / "export.csv", BIG_FILE_ROWS, end=utc_now() - timedelta(minutes=1),
                      span=timedelta(days=28), points=[(30.66, 104.10), (30.67, 104.12)])
    progress = drop / ".progress" / "export.csv.json"

    def child() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "tests.disk_full_child", str(config), str(db), broker.url, "0"],
                                cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT)

    proc = child()
    try:
        wait_until(lambda: subscriptions(log) == 1 or proc.poll() is not None, 60, "ingest subscribed")
        (tmp_path / "export.csv").rename(drop / "export.csv")
        wait_until(lambda: progress.exists() or proc.poll() is not None, 60, "the first chunk committed")
        assert proc.poll() is None, tail(log)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(45) == 0, tail(log)
        took = time.monotonic() - started
        first = orjson.loads(progress.read_bytes())
        assert 0 < first["accepted"] < BIG_FILE_ROWS and (drop / "export.csv").exists()

        proc = child()  # the restart reads on from the saved offset, not from the top
        wait_until(lambda: (drop / "processed" / "export.csv").exists() or proc.poll() is not None, 240,
                   "the file finished after the restart")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(45) == 0, tail(log)
        assert f"resuming at offset {first['offset']}" in log.read_text(errors="replace")
        con = duckdb.connect(str(db))
        try:
            assert con.execute("SELECT count(*), count(DISTINCT natural_key) FROM events "
                               "WHERE source_id = 'hotline_drop'").fetchone() == (BIG_FILE_ROWS, BIG_FILE_ROWS)
        finally:
            con.close()
        print(f"\nSIGTERM after {first['accepted']:,} rows: exited in {took:.1f} s; the restart resumed there")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
