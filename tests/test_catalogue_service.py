"""Publishing 派单目录 versions: admin only, effective date not in the past, audited with the diff, old versions kept."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ops_center.core.lifecycle import Actor
from ops_center.service import catalogue as svc

ADMIN = Actor("admin", "admin", "510108")
OFFICER = Actor("officer", "officer", "510108")


def _rows(cfg, **override):
    rows = [e.as_row() for e in cfg.dispatch_seed.latest().entries]
    for row in rows:
        if row["category"] == "street_vending":
            row.update(override)
    return rows


def _audit(store, action):
    return store.query("SELECT actor, target, detail FROM audit_log WHERE action = ? ORDER BY audit_id", [action])


def test_publish_keeps_old_versions_and_audits_who_when_what(store, cfg, fixed_now):
    effective = fixed_now + timedelta(days=1)
    v1 = svc.publish(store, cfg, ADMIN, _rows(cfg, lead="emergency", co_units="@community"), effective,
                     "占道经营改由应急管理局主办", now=fixed_now)
    assert v1.version == 1
    cat = svc.load_catalogue(store, cfg)
    assert [v.version for v in cat.versions] == [0, 1]
    assert cat.version(1).effective_from == effective and cat.version(1).published_by == "admin"
    assert cat.lookup("city_management", "street_vending", "grid", fixed_now)[1].lead == "urban_mgmt"
    found = cat.lookup("city_management", "street_vending", "grid", effective)[1]
    assert (found.lead, found.co_units) == ("emergency", ("@community",))
    [(actor, target, detail)] = _audit(store, "catalogue.publish")
    detail = json.loads(detail)
    assert (actor, target, detail["version"], detail["against"]) == ("admin", "dispatch_catalogue:v1", 1, 0)
    assert detail["note"] == "占道经营改由应急管理局主办"
    [change] = detail["changes"]
    assert change["kind"] == "changed" and change["row"] == "城市管理 / 占道经营 / 任意层级"
    assert (change["before"]["lead"], change["after"]["lead"]) == ("urban_mgmt", "emergency")


def test_publish_changed_rows_builds_on_the_latest_version(store, cfg, fixed_now):
    svc.publish(store, cfg, ADMIN, _rows(cfg, lead="emergency"), None, "v1", now=fixed_now)
    v2 = svc.publish_changes(store, cfg, ADMIN, [{"domain": "traffic", "category": "accident", "area_level": "grid",
                                                  "lead": "@street", "co_units": "traffic_police", "level": "street"}],
                             [("city_management", "garbage_overflow", "*")], None, "v2", now=fixed_now)
    keys = {e.key for e in v2.entries}
    assert ("traffic", "accident", "grid") in keys and ("city_management", "garbage_overflow", "*") not in keys
    assert next(e for e in v2.entries if e.category == "street_vending").lead == "emergency"
    kinds = sorted(c["kind"] for c in json.loads(_audit(store, "catalogue.publish")[-1][2])["changes"])
    assert kinds == ["added", "removed"]
    with pytest.raises(svc.CatalogueRefused, match="要删除的行不在当前最新版本中"):
        svc.publish_changes(store, cfg, ADMIN, [], [("traffic", "flying", "*")], None, "x", now=fixed_now)


@pytest.mark.parametrize(("rows", "message"), [
    ([], "派单目录不能为空"),
    ("unknown_unit", "第 {n} 行：未知单位 ghost"),
    ("duplicate", "第 56 行：与第 {n} 行重复"),
    ("same", "与当前最新版本（第 0 版）相同，无需发布"),
])
def test_bad_tables_are_refused_and_nothing_is_written(store, cfg, fixed_now, rows, message):
    if rows == "unknown_unit":
        rows = _rows(cfg, lead="ghost")
    elif rows == "duplicate":
        rows = _rows(cfg)
        rows.append(dict(next(r for r in rows if r["category"] == "street_vending")))
    elif rows == "same":
        rows = _rows(cfg)
    vending = 1 + next(i for i, e in enumerate(cfg.dispatch_seed.latest().entries) if e.category == "street_vending")
    with pytest.raises(svc.CatalogueRefused) as err:
        svc.publish(store, cfg, ADMIN, rows, None, "说明", now=fixed_now)
    assert err.value.user_message.startswith(message.format(n=vending))
    assert store.query("SELECT count(*) FROM dispatch_catalogue_versions")[0][0] == 0
    assert _audit(store, "catalogue.publish") == []


def test_effective_date_in_the_past_and_missing_note_are_refused(store, cfg, fixed_now):
    with pytest.raises(svc.CatalogueRefused, match="生效时间不能早于现在"):
        svc.publish(store, cfg, ADMIN, _rows(cfg, lead="water"), fixed_now - timedelta(hours=1), "x", now=fixed_now)
    with pytest.raises(svc.CatalogueRefused, match="请填写发布说明"):
        svc.publish(store, cfg, ADMIN, _rows(cfg, lead="water"), None, "  ", now=fixed_now)
    # the current minute counts as now (the editor's time has minute resolution)
    assert svc.publish(store, cfg, ADMIN, _rows(cfg, lead="water"), fixed_now.replace(second=0), "x",
                       now=fixed_now + timedelta(seconds=30)).version == 1


@pytest.mark.parametrize("actor", [OFFICER, None])
def test_only_admins_publish_and_refusals_are_audited(store, cfg, fixed_now, actor):
    with pytest.raises(svc.NotAdmin) as err:
        svc.publish(store, cfg, actor, _rows(cfg, lead="water"), None, "x", now=fixed_now)
    assert err.value.user_message == "仅管理员可以发布派单目录"
    [(who, target, _)] = _audit(store, "denied:catalogue.publish")
    assert (who, target) == (actor.username if actor else "anonymous", "dispatch_catalogue")
    assert len(svc.load_catalogue(store, cfg).versions) == 1
