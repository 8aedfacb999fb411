"""Backtest: stored events replayed through a rule set, compared with the incidents that were created."""

from __future__ import annotations

import argparse
import io
import json
import re
from datetime import timedelta

import pytest

from ops_center.read.queries_admin import backtest_inputs
from ops_center.store import retention
from ops_center.store.store import Store, to_db
from rules.backtest import compare, replay
from rules.cli import add_parser, run
from tests.fixtures_rules import GRID, T0

EVENTS = [  # (minutes after T0, source, kind, device, event, metric, value, text, stored rule_id)
    (0, "hotline", None, None, None, None, None, "楼下烧烤店油烟很大，窗户都不敢开", "old.noise"),
    (1, "sensor", "smoke", "S-1", "alarm", None, None, None, "fire.smoke_alarm"),
    (3, "sensor", "smoke", "S-1", "alarm", None, None, None, "fire.smoke_alarm"),
    (4, "hotline", None, None, None, None, None, "孩子户口迁到成华区需要准备什么", "unclassified"),
    (5, "sensor", "water_level", "WL-1", None, "level_cm", 3.0, None, None),
    (6, "grid", None, None, None, None, None, "巡查发现三楼楼道着火冒烟", "fire.fire_report"),
]
ACTUAL = [("fire_safety", 0), ("unclassified", 4), ("traffic", 5)]  # (domain, minute) as the live run created


@pytest.fixture
def backtest_db(db_path):
    store = Store(db_path)

    def fill(conn):
        for i, (m, source, kind, device, event, metric, value, text, rule_id) in enumerate(EVENTS, start=1):
            at = to_db(T0 + timedelta(minutes=m))
            conn.execute(
                "INSERT INTO events (event_id, source, source_id, natural_key, key_hash, occurred_at, received_at, "
                "kind, device_id, metric, value, event, text, area_code, lat, lon, fields, rule_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [i, source, f"{source}_src", f"n{i}", i, at, at, kind, device, metric, value, event, text or "",
                 GRID, 30.6596, 104.0893, json.dumps({"lone_elder": False}), rule_id])
        for i, (domain, m) in enumerate(ACTUAL, start=1):
            at = to_db(T0 + timedelta(minutes=m))
            conn.execute(
                "INSERT INTO incidents (incident_id, status, domain, severity, title, area_code, level, created_at, "
                "updated_at) VALUES (?, 'new', ?, 'P3', 't', ?, 'community', ?, ?)", [i, domain, GRID, at, at])

    store.write(fill)
    df = store.query_df("SELECT * FROM events ORDER BY event_id")
    store.close()
    return db_path, df


def test_replay_counts_and_differences(shipped, backtest_db):
    _, df = backtest_db
    summary = replay(df, shipped)
    assert summary.events == 6
    # environment (fumes), fire (smoke alarm; the grid fire report 5 min later and 0 m away correlates), triage
    assert dict(summary.incidents_by_domain) == {"environment": 1, "fire_safety": 1, "unclassified": 1}
    assert (summary.created, summary.bumped, summary.correlated) == (3, 1, 1)
    report = compare(df, summary, {"fire_safety": 1, "unclassified": 1, "traffic": 1})
    per = {r["domain"]: (r["would_create"], r["actual"], r["difference"]) for r in report["per_domain"]}
    assert per == {"environment": (1, 0, 1), "fire_safety": (1, 1, 0), "traffic": (0, 1, -1), "unclassified": (1, 1, 0)}
    assert report["changed_events"] == 1
    assert report["top_changes"] == [{"old_rule": "old.noise", "new_rule": "env.cooking_fumes", "events": 1}]


def test_backtest_cli_prints_the_comparison(cfg, config_path, backtest_db):
    db, _ = backtest_db
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["rules", "backtest", "--since", "1h", "--until", (T0 + timedelta(minutes=30)).isoformat(),
                              "--db", str(db)])
    out, err = io.StringIO(), io.StringIO()
    assert run(args, cfg, config_path, stdout=out, stderr=err) == 0, err.getvalue()
    text = out.getvalue()
    assert "6 events" in text and "3 incidents would be created" in text
    assert "environment            1       0      +1" in text
    assert "traffic                0       1      -1" in text
    assert "old.noise -> env.cooking_fumes: 1" in text
    before = _counts(db)
    assert before == (6, 3)  # nothing was written


def _counts(db):
    import duckdb

    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM incidents)").fetchone()
    finally:
        conn.close()


def test_backtest_over_an_archived_period_replays_the_archived_events(cfg, config_path, shipped, backtest_db,
                                                                      tmp_path):
    """Retention moved the period's incidents and events to Parquet: the backtest answers as before it ran."""
    db, _ = backtest_db
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["rules", "backtest", "--since", "1h", "--until", (T0 + timedelta(minutes=30)).isoformat(),
                              "--db", str(db)])
    store = Store(db)
    store.write(lambda conn: (conn.execute("UPDATE incidents SET status = 'closed'"),
                              conn.execute("UPDATE events SET incident_id = 1 + event_id % 3")))
    store.close()
    before = io.StringIO()
    assert run(args, cfg, config_path, stdout=before, stderr=io.StringIO()) == 0

    store = Store(db)
    try:
        period = (T0 - timedelta(hours=1), T0 + timedelta(hours=1))
        page_before = backtest_inputs(store, *period)  # what the admin page's backtest replays
        moved = retention.archive(store, tmp_path / "archive", T0 + timedelta(days=60), timedelta(days=30))
        page_after = backtest_inputs(store, *period)
    finally:
        store.close()
    assert page_after[1] == page_before[1] == {"fire_safety": 1, "unclassified": 1, "traffic": 1}
    assert replay(page_after[0], shipped).incidents_by_domain == replay(page_before[0], shipped).incidents_by_domain
    assert len(page_after[0]) == 6
    assert (moved.rows["incidents"], moved.rows["events"]) == (3, 6) and _counts(db) == (0, 0)
    after, err = io.StringIO(), io.StringIO()
    assert run(args, cfg, config_path, stdout=after, stderr=err) == 0, err.getvalue()
    assert "6 events" in after.getvalue()
    strip_timing = re.compile(r" in [0-9.]+s \([0-9,]+/s\)")
    assert strip_timing.sub("", after.getvalue()) == strip_timing.sub("", before.getvalue())
