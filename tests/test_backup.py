"""Online backup of a live store and restore: one snapshot while the writer commits, nothing lost or deleted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from ops_center.store.backup import BackupError, backup, list_backups, restore, verify
from ops_center.store.store import Store
from ops_center.wiring.backup_cli import pid_path
from tests.factories import make_incidents
from tests.fixtures_ingest import wait_until
from tests.test_ingest_noloss import ROOT, start_ingest, subscriptions, tail, write_config


def audit_rows(store: Store, n: int, start: int) -> None:
    store.write(lambda c: c.executemany(
        "INSERT INTO audit_log (audit_id, ts, actor, action, target, detail) VALUES (?, now(), 'test', 'x', ?, '{}')",
        [(start + i, f"t{start + i}") for i in range(n)]))


def count(db: Path, table: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - test's own table names
    finally:
        con.close()


@pytest.fixture
def live(tmp_path, cfg, fixed_now):
    store = Store(tmp_path / "ops.duckdb")
    make_incidents(store, cfg, [{"domain": "environment"}] * 300, now=fixed_now - timedelta(hours=1))
    yield store
    store.close()


def test_a_backup_is_one_snapshot_while_the_writer_commits(live, tmp_path, fixed_now):
    stop, written = threading.Event(), [0]

    def writer():
        while not stop.is_set():
            audit_rows(live, 20, 100_000 + written[0])
            written[0] += 20

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_until(lambda: written[0] >= 200, 30, "writes flowing")
        cursor = live.cursor()
        result = backup(cursor, tmp_path / "backups", fixed_now)
        cursor.close()
        during = written[0]
    finally:
        stop.set()
        thread.join(30)
    assert result.path.name == "ops-center-" + fixed_now.strftime("%Y%m%dT%H%M%SZ") + ".duckdb"
    assert result.rows["incidents"] == 300 and verify(result.path) == result.rows  # the copy is the snapshot
    assert 0 < result.rows["audit_log"] <= during < written[0] + 1  # writes went on during and after the copy
    assert list_backups(tmp_path / "backups") == [result.path]
    assert not list((tmp_path / "backups").glob("*.part"))


def test_restore_puts_the_backup_back_and_keeps_the_replaced_file(live, tmp_path, fixed_now):
    cursor = live.cursor()
    taken = backup(cursor, tmp_path / "backups", fixed_now)
    cursor.close()
    audit_rows(live, 50, 1)  # after the backup: gone once restored, kept in the replaced file
    live.close()  # (a center holding the file is refused: the run.py test below, DuckDB's lock is per process)
    after = count(live.path, "audit_log")
    aside = restore(taken.path, live.path, fixed_now)
    assert aside is not None and count(aside, "audit_log") == after  # nothing deleted
    assert count(live.path, "audit_log") == taken.rows["audit_log"] == after - 50
    reopened = Store(live.path)  # the restored file opens as a store again (migrations included)
    try:
        assert reopened.query("SELECT count(*) FROM incidents")[0][0] == 300
    finally:
        reopened.close()


def test_a_file_that_is_not_a_backup_replaces_nothing(live, tmp_path, fixed_now):
    live.close()
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(os.urandom(4096))
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).execute("CREATE TABLE t (x INT)").close()
    before = live.path.read_bytes()
    for bad in (junk, empty, tmp_path / "missing.duckdb"):
        with pytest.raises(BackupError):
            restore(bad, live.path, fixed_now)
    assert live.path.read_bytes() == before and not list(tmp_path.glob("*.before-restore-*"))


def test_only_the_newest_backups_are_kept(live, tmp_path, fixed_now):
    folder = tmp_path / "backups"
    cursor = live.cursor()
    results = [backup(cursor, folder, fixed_now + timedelta(hours=i), keep=2) for i in range(4)]
    cursor.close()
    assert list_backups(folder) == [r.path for r in results[-2:]]
    assert results[-1].pruned == (results[1].path,)
    with pytest.raises(BackupError, match="exists already"):
        backup(live.cursor(), folder, fixed_now + timedelta(hours=3))


@pytest.mark.mqtt
def test_run_py_backup_asks_the_running_center_then_restore_after_it_stopped(private_mosquitto, config_path,
                                                                             tmp_path):
    config, db, log = write_config(config_path, tmp_path), tmp_path / "ops.duckdb", tmp_path / "center.log"
    proc = start_ingest(config, db, private_mosquitto.url, log)
    cli = [sys.executable, str(ROOT / "run.py"), "--config", str(config), "--db", str(db)]
    try:
        wait_until(lambda: (subscriptions(log) == 1 and pid_path(db).exists()) or proc.poll() is not None, 60,
                   "center up")
        assert proc.poll() is None, tail(log)
        assert int(pid_path(db).read_text()) == proc.pid
        done = subprocess.run([*cli, "backup", "--timeout", "60"], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr + tail(log)
        written = Path(done.stdout.strip().removeprefix("backup written: "))
        assert written.parent == tmp_path / "data" / "backups"  # store.backup.dir, beside the config
        assert verify(written)["schema_version"] >= 1
        refused = subprocess.run([*cli, "restore", str(written)], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and "in use" in refused.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert not pid_path(db).exists()  # removed on a clean stop
    put = subprocess.run([*cli, "restore", str(written)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert put.returncode == 0 and "previous file is kept as" in put.stdout, put.stderr
    assert verify(db) == verify(written)
