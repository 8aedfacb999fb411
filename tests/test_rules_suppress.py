"""Suppression: device/area/domain silences with an expiry; created and cancelled with an audit row."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ops_center.core.model import Decision
from ops_center.store.store import Store
from rules.suppress import (
    SuppressionError,
    active_suppression,
    cancel_suppression,
    create_suppression,
    load_suppressions,
)
from tests.fixtures_rules import T0, reading

FIRE = Decision("r", "fire_safety", "smoke_alarm", "P2", "street", "fire", "t")


def row(sid, scope, value, starts=T0 - timedelta(hours=1), ends=T0 + timedelta(hours=1), cancelled=None):
    return {"suppression_id": sid, "scope": scope, "value": value, "starts_at": starts, "ends_at": ends,
            "cancelled_at": cancelled}


def test_scopes():
    ev = reading("smoke", "S-1", event="alarm", area_code="510108002002001")
    assert active_suppression(ev, FIRE, [row(1, "device", "S-1")], T0) == 1
    assert active_suppression(ev, FIRE, [row(1, "device", "S-2")], T0) is None
    assert active_suppression(ev, FIRE, [row(2, "area", "510108002")], T0) == 2  # street covers its grids
    assert active_suppression(ev, FIRE, [row(2, "area", "510108004")], T0) is None
    assert active_suppression(ev, FIRE, [row(3, "domain", "fire_safety")], T0) == 3
    assert active_suppression(ev, FIRE, [row(3, "domain", "traffic")], T0) is None
    assert active_suppression(ev, FIRE, [row(9, "area", "510108"), row(4, "device", "S-1")], T0) == 4


def test_expiry_start_and_cancellation():
    ev = reading("smoke", "S-1", event="alarm")
    window = [row(1, "device", "S-1", starts=T0, ends=T0 + timedelta(hours=2))]
    assert active_suppression(ev, FIRE, window, T0 - timedelta(seconds=1)) is None  # not started
    assert active_suppression(ev, FIRE, window, T0) == 1
    assert active_suppression(ev, FIRE, window, T0 + timedelta(hours=2)) is None  # expired
    cancelled = [row(1, "device", "S-1", cancelled=T0 - timedelta(minutes=1))]
    assert active_suppression(ev, FIRE, cancelled, T0) is None
    naive = [row(1, "device", "S-1", starts=(T0 - timedelta(hours=1)).replace(tzinfo=None),
                 ends=(T0 + timedelta(hours=1)).replace(tzinfo=None))]
    assert active_suppression(ev, FIRE, naive, T0) == 1  # rows straight from the store are naive UTC


def test_create_and_cancel_are_stored_and_audited(db_path):
    store = Store(db_path)
    try:
        sid = create_suppression(store, "admin", "area", "510108002", T0, T0 + timedelta(hours=4), "管网检修",
                                 now=T0)
        second = create_suppression(store, "admin", "device", "S-1", T0, T0 + timedelta(hours=1), None, now=T0)
        assert second == sid + 1
        rows = load_suppressions(store, T0 + timedelta(minutes=5))
        assert [(r["suppression_id"], r["scope"], r["value"]) for r in rows] == [(sid, "area", "510108002"),
                                                                                (second, "device", "S-1")]
        ev = reading("smoke", "S-9", area_code="510108002002001")
        assert active_suppression(ev, FIRE, rows, T0 + timedelta(minutes=5)) == sid
        cancel_suppression(store, "officer", sid, now=T0 + timedelta(minutes=10))
        assert [r["suppression_id"] for r in load_suppressions(store, T0 + timedelta(minutes=11))] == [second]
        audit = store.query("SELECT actor, action, target, detail FROM audit_log ORDER BY audit_id")
        assert [(a, b, c) for a, b, c, _ in audit] == [
            ("admin", "suppression.create", f"suppression:{sid}"),
            ("admin", "suppression.create", f"suppression:{second}"),
            ("officer", "suppression.cancel", f"suppression:{sid}"),
        ]
        assert json.loads(audit[0][3])["reason"] == "管网检修"
        with pytest.raises(SuppressionError, match="already cancelled"):
            cancel_suppression(store, "officer", sid, now=T0)
        with pytest.raises(SuppressionError, match="ends_at must be after starts_at"):
            create_suppression(store, "admin", "device", "S-1", T0, T0, None, now=T0)
        with pytest.raises(SuppressionError, match="scope must be one of"):
            create_suppression(store, "admin", "street", "x", T0, T0 + timedelta(hours=1), None, now=T0)
        assert store.query("SELECT count(*) FROM audit_log")[0][0] == 3  # failed requests leave no trace
    finally:
        store.close()


def test_only_an_admin_actor_may_manage_suppressions(db_path):
    from ops_center.core.lifecycle import Actor, PermissionDenied

    with Store(db_path) as store:
        officer = Actor("officer", "officer", "510108")
        with pytest.raises(PermissionDenied):
            create_suppression(store, officer, "device", "S-1", T0, T0 + timedelta(hours=1), "x", now=T0)
        sid = create_suppression(store, Actor("admin", "admin", "510108"), "device", "S-1", T0,
                                 T0 + timedelta(hours=1), "x", now=T0)
        with pytest.raises(PermissionDenied):
            cancel_suppression(store, officer, sid, now=T0)
        assert store.query("SELECT count(*), count(cancelled_at) FROM suppressions")[0] == (1, 0)


def test_configured_suppressions_are_created_once(cfg, db_path):
    from rules.suppress import sync_configured

    assert cfg.suppressions, "the demo config declares a maintenance window"
    with Store(db_path) as store:
        assert sync_configured(store, cfg, T0) == len(cfg.suppressions)
        assert sync_configured(store, cfg, T0) == 0  # a restart creates nothing new
        assert store.query("SELECT created_by, scope FROM suppressions") == [
            ("config", s.scope) for s in cfg.suppressions]
        assert store.query("SELECT actor, action FROM audit_log") == [("config", "suppression.create")]
