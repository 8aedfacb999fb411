"""The store: one writer, rollback on failure, ids survive restarts, committed data survives a restart."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ops_center.store.store import Store, StoreClosed, from_db, to_db


def _audit(store: Store, actor: str):
    def fn(conn):
        audit_id = store.allocate_ids(conn, "audit_log", 1)
        conn.execute("INSERT INTO audit_log (audit_id, ts, actor, action) VALUES (?, ?, ?, 'test')",
                     [audit_id, to_db(datetime(2026, 11, 24, 2, 0, tzinfo=UTC)), actor])
        return audit_id
    return fn


def test_restart_finds_committed_data_and_continues_ids(db_path):
    with Store(db_path) as store:
        ids = [store.write(_audit(store, f"u{i}")) for i in range(3)]
    assert ids == [1, 2, 3]
    with Store(db_path) as store:
        assert store.query("SELECT count(*) FROM audit_log")[0][0] == 3
        assert store.write(_audit(store, "after-restart")) == 4
        assert store.schema_version >= 1


def test_failed_write_rolls_back_everything_and_reuses_no_id(db_path):
    with Store(db_path) as store:
        def half_then_fail(conn):
            _audit(store, "ghost")(conn)
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            store.write(half_then_fail)
        assert store.query("SELECT count(*) FROM audit_log")[0][0] == 0
        assert store.write(_audit(store, "real")) == 1


def test_writes_from_many_threads_are_serialised(db_path):
    with Store(db_path) as store:
        errors = []

        def worker(n):
            try:
                for i in range(20):
                    store.write(_audit(store, f"t{n}-{i}"))
            except Exception as exc:  # noqa: BLE001 - collected for the assert
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        rows = store.query("SELECT count(*), count(DISTINCT audit_id), max(audit_id) FROM audit_log")[0]
        assert rows == (80, 80, 80)


def test_close_commits_queued_writes_then_refuses(db_path):
    store = Store(db_path)
    futures = [store.submit(_audit(store, f"q{i}")) for i in range(10)]
    store.close()
    assert all(f.result(0) for f in futures)
    with pytest.raises(StoreClosed):
        store.submit(_audit(store, "late"))
    with Store(db_path) as again:
        assert again.query("SELECT count(*) FROM audit_log")[0][0] == 10


def test_time_conversion_is_utc_and_refuses_naive():
    shanghai = timezone(timedelta(hours=8))
    aware = datetime(2026, 11, 24, 10, 0, tzinfo=shanghai)
    assert to_db(aware) == datetime(2026, 11, 24, 2, 0, tzinfo=UTC).replace(tzinfo=None)
    assert from_db(to_db(aware)) == aware
    with pytest.raises(ValueError, match="naive"):
        to_db(datetime(2026, 11, 24, 10, 0))  # noqa: DTZ001


def test_memory_limit_is_applied_when_the_store_opens(db_path):
    store = Store(db_path, memory_limit="256MB")
    try:
        limit = store.write(lambda conn: conn.execute("SELECT current_setting('memory_limit')").fetchone()[0])
    finally:
        store.close()
    assert limit == "244.1 MiB"  # DuckDB shows 256 MB in MiB
