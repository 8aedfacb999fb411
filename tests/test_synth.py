"""The synthetic history is deterministic, realistic in shape, and consistent with the real SLA and key hash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ops_center.core.domains import DOMAIN_CODES, OPEN_STATUSES, UNCLASSIFIED
from ops_center.core.lifecycle import timeline_errors
from ops_center.core.sla import SlaPolicy
from ops_center.demo.synth import generate_history
from ops_center.service.pipeline import key_hash
from ops_center.store.store import Store, from_db

END = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def history(cfg, tmp_path_factory):
    path = tmp_path_factory.mktemp("synth") / "ops.duckdb"
    store = Store(path)
    n = generate_history(store, cfg, days=30, incidents_per_day=200, seed=7, end=END)
    yield store, n
    store.close()


def _checksum(store: Store) -> tuple:
    return store.query(
        "SELECT count(*), sum(hash(incident_id, status, domain, category, severity, area_code, lat, created_at, "
        "acknowledged_at, resolved_at, closed_at, ack_due_at, resolve_due_at, satisfied)) FROM incidents")[0] + \
        store.query("SELECT count(*), sum(hash(natural_key, key_hash, occurred_at, text)) FROM events")[0] + \
        store.query("SELECT count(*), sum(hash(incident_id, ts, action, actor)) FROM incident_timeline")[0]


def test_count_is_exact_and_the_same_seed_gives_the_same_rows(history, cfg, tmp_path):
    store, n = history
    assert n == 30 * 200
    assert store.query("SELECT count(*) FROM incidents")[0][0] == n
    with Store(tmp_path / "again.duckdb") as again:
        generate_history(again, cfg, days=30, incidents_per_day=200, seed=7, end=END)
        assert _checksum(again) == _checksum(store)
    with Store(tmp_path / "other.duckdb") as other:
        generate_history(other, cfg, days=30, incidents_per_day=200, seed=8, end=END)
        assert _checksum(other) != _checksum(store)


def test_domains_in_realistic_proportions(history):
    store, n = history
    counts = dict(store.query("SELECT domain, count(*) FROM incidents GROUP BY 1"))
    order = sorted(DOMAIN_CODES, key=lambda d: -counts.get(d, 0))
    assert order[0] == "city_management"
    assert order[1] == "public_security"
    assert all(counts.get(d, 0) > 0.03 * n for d in DOMAIN_CODES)
    assert 0 < counts.get(UNCLASSIFIED, 0) < 0.05 * n
    sources = dict(store.query("SELECT source, count(*) FROM incidents GROUP BY 1"))
    assert set(sources) == {"sensor", "grid", "hotline"}


def test_areas_are_configured_grids_and_points_lie_near_them(history, cfg):
    store, _ = history
    rows = store.query("SELECT area_code, street_code, district_code, lat, lon FROM incidents")
    for area, street, district, lat, lon in rows:
        grid = cfg.area_by_code[area]
        assert grid.level == "grid" and street == area[:9] and district == area[:6]
        assert abs(lat - grid.centroid[0]) < 0.02 and abs(lon - grid.centroid[1]) < 0.02


def test_times_lie_in_the_window_and_follow_a_daily_rhythm(history):
    store, _ = history
    lo, hi = store.query("SELECT min(created_at), max(updated_at) FROM incidents")[0]
    assert from_db(lo) >= END - timedelta(days=30) and from_db(hi) <= END
    by_hour = dict(store.query(
        "SELECT hour(created_at + INTERVAL 8 HOUR), count(*) FROM incidents GROUP BY 1"))  # Asia/Shanghai
    assert by_hour[10] > 3 * by_hour[4]


def test_lifecycle_progresses_with_age(history):
    store, n = history
    old = dict(store.query("SELECT status, count(*) FROM incidents WHERE created_at < ? GROUP BY 1",
                           [(END - timedelta(days=10)).replace(tzinfo=None)]))
    total_old = sum(old.values())
    assert old["closed"] > 0.85 * total_old and old.get("false_alarm", 0) > 0
    open_recent = store.query(
        "SELECT count(*) FROM incidents WHERE status IN ('new', 'acknowledged', 'dispatched') AND created_at > ?",
        [(END - timedelta(days=1)).replace(tzinfo=None)])[0][0]
    assert open_recent > 0
    # timestamps agree with status; hotline closures carry satisfaction; some verifications failed
    bad = store.query("""SELECT count(*) FROM incidents WHERE
        (status = 'closed' AND (closed_at IS NULL OR resolved_at IS NULL OR acknowledged_at IS NULL))
        OR (status IN ('new', 'acknowledged', 'dispatched') AND closed_at IS NOT NULL)
        OR (status = 'new' AND acknowledged_at IS NOT NULL)
        OR (acknowledged_at < created_at) OR (closed_at < resolved_at)
        OR (status = 'merged' AND merged_into IS NULL)""")[0][0]
    assert bad == 0
    sat = store.query("SELECT count(*), count(satisfied) FILTER (WHERE source = 'hotline'), "
                      "count(satisfied) FILTER (WHERE source <> 'hotline') FROM incidents WHERE status = 'closed'")[0]
    assert sat[1] > 0 and sat[2] == 0
    assert store.query("SELECT count(*) FROM incidents WHERE verify_failures > 0")[0][0] > 0
    assert store.query("SELECT count(*) FROM incidents WHERE overdue")[0][0] > 0
    statuses = {r[0] for r in store.query("SELECT DISTINCT status FROM incidents")}
    assert set(OPEN_STATUSES) <= statuses and {"closed", "false_alarm", "merged"} <= statuses


def test_deadlines_are_the_sla_policys(history, cfg):
    store, _ = history
    policy = SlaPolicy(cfg)
    rows = store.query("SELECT domain, severity, category, created_at, ack_due_at, resolve_due_at FROM incidents "
                       "USING SAMPLE 300 ROWS (reservoir, 1)")
    for domain, severity, category, created, ack_due, resolve_due in rows:
        start = from_db(created)
        assert from_db(ack_due) == policy.ack_due(domain, severity, category, start)
        assert from_db(resolve_due) == policy.resolve_due(domain, severity, category, start)


def test_events_match_incidents_and_use_the_pipelines_key_hash(history):
    store, n = history
    assert store.query("SELECT count(DISTINCT incident_id) FROM events")[0][0] == n
    dupes = store.query("SELECT count(*) FROM (SELECT source_id, natural_key FROM events GROUP BY ALL "
                        "HAVING count(*) > 1)")[0][0]
    assert dupes == 0
    for source_id, natural_key, h in store.query("SELECT source_id, natural_key, key_hash FROM events LIMIT 500"):
        assert h == key_hash(source_id, natural_key)
    mismatched = store.query("""SELECT count(*) FROM incidents i JOIN
        (SELECT incident_id, count(*) c FROM events GROUP BY 1) e USING (incident_id)
        WHERE e.c <> i.report_count""")[0][0]
    assert mismatched == 0


def test_timeline_rows_follow_the_lifecycle(history):
    store, n = history
    actions = dict(store.query("SELECT action, count(*) FROM incident_timeline GROUP BY 1"))
    assert actions["created"] == n
    closed = store.query("SELECT count(*) FROM incidents WHERE status = 'closed'")[0][0]
    assert actions["close"] == closed
    assert {"acknowledge", "dispatch", "resolve", "escalated", "overdue", "false_alarm", "verify_fail",
            "merge"} <= set(actions)


def test_every_timeline_is_a_walk_through_the_lifecycle(history):
    """Each incident's rows, oldest first, are legal steps of ops_center.core.lifecycle and end in its status."""
    store, n = history
    rows = store.query("SELECT t.incident_id, t.action, t.from_status, t.to_status, i.status FROM incident_timeline t "
                       "JOIN incidents i USING (incident_id) ORDER BY t.incident_id, t.ts, t.rowid")
    walks: dict[int, list] = {}
    final: dict[int, str] = {}
    for incident_id, action, frm, to, status in rows:
        walks.setdefault(incident_id, []).append((action, frm, to))
        final[incident_id] = status
    assert len(walks) == n
    errors = {i: e for i, steps in walks.items() if (e := timeline_errors(steps))}
    assert errors == {}
    ended = {i: next((to for _, _, to in reversed(steps) if to is not None)) for i, steps in walks.items()}
    assert ended == final
    # the checker is not a rubber stamp: the same rows with one step out of place are refused
    walk = next(steps for steps in walks.values() if [a for a, _, _ in steps][:3] == ["created", "acknowledge",
                                                                                        "dispatch"])
    assert timeline_errors([walk[0], walk[2], walk[1], *walk[3:]])


def test_units_play_their_part(history, cfg):
    """Dispatched cases have a lead unit that accepts and reports; its feedback is the step that resolved the case."""
    store, _ = history
    missing = store.query("SELECT count(*) FROM incidents i WHERE dispatched_at IS NOT NULL AND domain <> 'unclassified' "
                          "AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.incident_id = i.incident_id "
                          "AND a.role = 'lead')")[0][0]
    assert missing == 0
    leads = dict(store.query("SELECT i.domain, any_value(a.unit) FROM assignments a JOIN incidents i USING "
                             "(incident_id) WHERE a.role = 'lead' GROUP BY 1"))
    assert leads == {d.code: d.department for d in cfg.domains if d.code in leads}
    assert store.query("SELECT count(*) FROM assignments WHERE role = 'co' AND unit NOT LIKE 'community:%'")[0][0] == 0
    unit_feedback = store.query("SELECT count(*) FROM incident_timeline t JOIN feedback f ON f.incident_id = "
                                "t.incident_id AND f.ts = t.ts AND f.role = 'lead' WHERE t.action = 'feedback' "
                                "AND t.actor = f.author")[0][0]
    assert unit_feedback == store.query("SELECT count(*) FROM incident_timeline WHERE action = 'feedback'")[0][0] > 0
    done_late = store.query("SELECT count(*) FROM assignments WHERE status = 'done' AND (accepted_at IS NULL OR "
                            "done_at < accepted_at)")[0][0]
    assert done_late == 0
    returned = store.query("SELECT count(*) FROM assignments WHERE returns > 0 AND decision = 'force'")[0][0]
    assert returned > 0 and store.query("SELECT count(*) FROM callbacks")[0][0] > 0
    assert set(dict(store.query("SELECT satisfaction, count(*) FROM callbacks GROUP BY 1"))) == {"满意", "基本满意",
                                                                                                 "不满意"}
    supervised = store.query("SELECT count(*), count_if(i.overdue), count_if(s.issued_at > i.resolve_due_at) "
                             "FROM supervisions s JOIN incidents i USING (incident_id)")[0]
    assert supervised[0] > 0 and supervised[0] == supervised[1] == supervised[2]  # 督办 on overdue cases only
