"""No loss, no duplicates: 5,000 QoS 1 messages survive kill -9 of the ingest process and a broker restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest
import yaml

from ingest import sensors
from tests.fixtures_ingest import Publisher, Subscriber, isolated_cfg, make_app, wait_until

pytestmark = pytest.mark.mqtt

ROOT = Path(__file__).resolve().parent.parent
N = 5000


def readings(prefix: str, start: int, stop: int) -> list[tuple[str, bytes]]:
    """N distinct AQI readings (unique ts): normal values, so they make events but no incidents."""
    base = 1795485600
    return [(f"{prefix}/sensor/aqi/AQI-0001", b'{"ts": %d, "metric": "pm25", "value": 35}' % (base + i))
            for i in range(start, stop)]


def write_config(cfg_src: Path, tmp: Path) -> Path:
    """The demo config with absolute paths and only the sensor source, for a run.py subprocess."""
    data = yaml.safe_load(cfg_src.read_text(encoding="utf-8"))
    data["devices"]["path"] = str(cfg_src.parent / data["devices"]["path"])
    data["rules"]["paths"] = [str(cfg_src.parent / p) for p in data["rules"]["paths"]]
    data["sources"] = [s for s in data["sources"] if s["kind"] == "mqtt_sensor"]
    data["reports"]["folder"] = str(tmp / "reports")
    data["ingest"] = {"max_age": "3650d"}  # the readings carry fixed late-2026 times; the clock is live
    if data.get("dispatch_catalogue"):
        data["dispatch_catalogue"] = str(cfg_src.parent / data["dispatch_catalogue"])
    if data.get("areas", {}).get("geojson_path"):
        data["areas"]["geojson_path"] = str(cfg_src.parent / data["areas"]["geojson_path"])
    out = tmp / "config.yaml"
    out.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


def start_ingest(config: Path, db: Path, url: str, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, str(ROOT / "run.py"), "--config", str(config), "--db", str(db), "--mqtt-url", url,
           "--no-simulator", "--no-web"]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _stat(pid: int | str) -> list[str]:
    """State and parent of a process from /proc (empty once it is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return bool(fields) and fields[0] != "Z"


def children_of(pid: int) -> list[int]:
    """Live child processes of pid (the receiver processes of mqtt.receivers)."""
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    return [child for child in pids if (f := _stat(child)) and int(f[1]) == pid and f[0] != "Z"]


def tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def subscriptions(log: Path) -> int:
    return log.read_text(errors="replace").count("mqtt_sensors: subscribed")


def wal_size(db: Path) -> int:
    wal = db.with_name(db.name + ".wal")
    return wal.stat().st_size if wal.exists() else 0


def stored(db: Path) -> tuple[int, int]:
    con = duckdb.connect(str(db))
    try:
        return con.execute("SELECT count(*), count(DISTINCT natural_key) FROM events WHERE device_id = 'AQI-0001'").fetchone()
    finally:
        con.close()


def paced(pub: Publisher, messages: list[tuple[str, bytes]], per_tick: int = 50, tick_s: float = 0.05) -> threading.Thread:
    """Publish in the background at about per_tick / tick_s messages a second, like a live feed."""
    tick = threading.Event()

    def run() -> None:
        for i in range(0, len(messages), per_tick):
            pub.publish_all(messages[i : i + per_tick])
            tick.wait(tick_s)

    thread = threading.Thread(target=run, name="paced-publisher", daemon=True)
    thread.start()
    return thread


def test_kill_9_in_the_middle_of_5000_messages_loses_nothing(private_mosquitto, config_path, tmp_path):
    """run.py (the real process) is killed while a live feed flows; the restart stores all 5,000 once.

    Done is seen from outside: a smoke alarm published after the 5,000 comes back on the outbound
    topic; Mosquitto delivers one session's queue in order and the pipeline commits in order.
    """
    broker = private_mosquitto
    config, db, log = write_config(config_path, tmp_path), tmp_path / "ops.duckdb", tmp_path / "ingest.log"
    out = Subscriber(broker.host, broker.port, "ops/out/incident/#", "noloss-out")
    pub = Publisher(broker.host, broker.port, "noloss-pub")
    sentinel = ("ops/sensor/smoke/SMK-0005", b'{"ts": "2026-11-24T12:00:00+08:00", "event": "alarm"}')
    proc = start_ingest(config, db, broker.url, log)
    try:
        wait_until(lambda: subscriptions(log) == 1 or proc.poll() is not None, 60, "ingest subscribed")
        assert proc.poll() is None, f"run.py died on start:\n{tail(log)}"
        wal0 = wal_size(db)
        feed = paced(pub, readings("ops", 0, N) + [sentinel])  # ≈ 1,000 a second for 5 s
        # DuckDB appends to its WAL on commit (nothing else writes here: no simulator, no incidents): kill -9 then
        wait_until(lambda: wal_size(db) > wal0 or proc.poll() is not None, 30, "first commits")
        assert proc.poll() is None, f"run.py died on its own:\n{tail(log)}"
        receivers = children_of(proc.pid)
        assert receivers, "config.yaml receives in child processes (mqtt.receivers: 1)"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        # An orphaned receiver sees its pipe close and leaves without acking anything.
        wait_until(lambda: not any(alive(pid) for pid in receivers), 15, "orphans gone")
        after_kill = stored(db)
        feed.join(30)  # the rest of the feed is queued by the broker for the offline session
        assert not feed.is_alive()
        assert 0 < after_kill[0] < N, after_kill

        mark = len(out.messages)
        proc = start_ingest(config, db, broker.url, log)
        wait_until(lambda: subscriptions(log) == 2 or proc.poll() is not None, 60, "ingest subscribed again")
        assert proc.poll() is None, f"run.py died on restart:\n{tail(log)}"
        wait_until(lambda: any(t.endswith(("/created", "/updated")) for t, _ in out.messages[mark:]), 90,
                   "the alarm after the 5,000 on the outbound topic")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        assert stored(db) == (N, N)
        print(f"\nkill -9 after {after_kill[0]} of {N} stored; after restart {N} stored exactly once")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        pub.close()
        out.close()


def test_broker_restart_in_the_middle_of_5000_messages_loses_nothing(private_mosquitto, cfg, config_path, db_path):
    broker = private_mosquitto
    app = make_app(isolated_cfg(cfg, broker.url), config_path, db_path)
    try:
        prefix = app.cfg.mqtt.topic_prefix

        def sensor_source():
            return app.run(sensors.build(app.cfg, app.cfg.source("mqtt_sensors"), app.pipeline, app.registry))

        def accepted() -> int:
            return app.pipeline.stats("mqtt_sensors").accepted

        source = sensor_source()  # creates the persistent session, then goes away
        assert source.link.subscribed.wait(10)
        source.stop()
        pub = Publisher(broker.host, broker.port, "restart-pub")
        pub.publish_all(readings(prefix, 0, N))  # all queued on the broker for the offline session
        pub.close()
        source = sensor_source()
        wait_until(lambda: accepted() > 0, 30, "first commits")
        at_restart = accepted()
        broker.restart()  # SIGTERM: Mosquitto writes queued and in-flight messages to its persistence file
        wait_until(lambda: accepted() >= N, 90, f"{N} accepted after restart")
        assert at_restart < N
        assert app.rows("SELECT count(*), count(DISTINCT natural_key) FROM events")[0] == (N, N)
        print(f"\nbroker restarted after {at_restart} of {N} committed; all {N} stored exactly once")
    finally:
        app.close()
