"""派单目录 core: versions in force by date, most specific row wins, validation in Chinese, the shipped table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ops_center.core.config import ConfigError, load_config
from ops_center.core.dispatch_catalogue import (
    EPOCH,
    Catalogue,
    CatalogueError,
    Entry,
    Version,
    apply_changes,
    diff,
    known_units,
    parse_rows,
)
from ops_center.core.domains import DOMAIN_CODES
from rules.engine import RuleSet

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
ROW = {"domain": "city_management", "category": "street_vending", "area_level": "*", "lead": "urban_mgmt",
       "co_units": "", "level": "community"}


def _catalogue() -> Catalogue:
    v0 = Version(0, EPOCH, (
        Entry("city_management", None, "*", "urban_mgmt", (), "community"),
        Entry("city_management", "street_vending", "*", "urban_mgmt", ("@community",), "community"),
        Entry("city_management", "street_vending", "grid", "@community", ("urban_mgmt",), "community"),
    ))
    v1 = Version(1, T0, (
        Entry("city_management", None, "*", "emergency", (), "street"),
        Entry("city_management", "street_vending", "*", "water", (), "street"),
    ))
    return Catalogue((v0, v1), frozenset({"community_office"}))


def test_the_version_in_force_at_an_instant_decides():
    cat = _catalogue()
    before, after = T0 - timedelta(seconds=1), T0
    assert cat.lookup("city_management", "street_vending", "street", before)[1].lead == "urban_mgmt"
    assert cat.lookup("city_management", "street_vending", "street", after)[1].lead == "water"
    assert cat.in_force(before).version == 0 and cat.in_force(after).version == 1


def test_most_specific_row_wins_category_over_domain_default_and_level_over_any():
    cat = _catalogue()
    at = T0 - timedelta(days=1)
    assert cat.lookup("city_management", "street_vending", "grid", at)[1].lead == "@community"
    assert cat.lookup("city_management", "street_vending", "community", at)[1].co_units == ("@community",)
    assert cat.lookup("city_management", "garbage_overflow", "grid", at)[1].category is None
    assert cat.lookup("traffic", "accident", "grid", at) is None


def test_a_later_effective_date_published_earlier_takes_over_only_from_its_date():
    cat = _catalogue().with_version(Version(2, T0 + timedelta(days=2), (Entry("traffic", None, "*", "police"),)))
    cat = cat.with_version(Version(3, T0 + timedelta(days=1), (Entry("traffic", None, "*", "fire"),)))
    assert cat.in_force(T0 + timedelta(days=1, hours=1)).version == 3
    assert cat.in_force(T0 + timedelta(days=2)).version == 2
    assert cat.previous(3).version == 2 and cat.previous(0) is None


@pytest.mark.parametrize(("change", "message"), [
    ({"lead": "nobody"}, "第 1 行：未知单位 nobody"),
    ({"co_units": "urban_mgmt"}, "第 1 行：主办单位 城管局 不能同时是协办单位"),
    ({"co_units": "water, water"}, "第 1 行：协办单位重复"),
    ({"category": "flying_saucer"}, "第 1 行：未知类别 flying_saucer"),
    ({"category": "billing_inquiry"}, "第 1 行：未知类别 billing_inquiry"),
    ({"domain": "weather"}, "第 1 行：未知领域 weather"),
    ({"area_level": "city"}, "第 1 行：未知事发区域层级 city"),
    ({"level": "grid"}, "第 1 行：未知派遣层级 grid"),
    ({"lead": ""}, "第 1 行：请填写主办单位"),
    ({"leader": "x"}, "第 1 行：未知字段 leader"),
])
def test_bad_rows_get_a_clear_chinese_error(cfg, change, message):
    with pytest.raises(CatalogueError) as err:
        parse_rows([{**ROW, **change}], known_units(cfg))
    assert str(err.value).startswith(message)


def test_empty_and_duplicate_tables_are_refused(cfg):
    units = known_units(cfg)
    with pytest.raises(CatalogueError, match="派单目录不能为空"):
        parse_rows([], units)
    with pytest.raises(CatalogueError, match="第 2 行：与第 1 行重复"):
        parse_rows([ROW, {**ROW, "lead": "water"}], units)


def test_units_come_from_departments_communities_and_streets(cfg):
    units = known_units(cfg)
    community = next(a for a in cfg.areas.items if a.level == "community")
    street = next(a for a in cfg.areas.items if a.level == "street")
    assert units["urban_mgmt"] == "城管局"
    assert units[f"community:{community.code}"] == f"{community.name}居委会"
    assert units[f"street:{street.code}"] == f"{street.name}办事处"
    parse_rows([{**ROW, "lead": f"community:{community.code}", "co_units": f"@street,street:{street.code}"}], units)


def test_diff_and_changed_rows():
    old = _catalogue().version(0).entries
    new = apply_changes(old, [Entry("city_management", None, "*", "water", (), "street"),
                              Entry("traffic", None, "*", "traffic_police")],
                        [("city_management", "street_vending", "grid")])
    kinds = {(c.kind, c.key) for c in diff(old, new)}
    assert kinds == {("changed", ("city_management", None, "*")), ("added", ("traffic", None, "*")),
                     ("removed", ("city_management", "street_vending", "grid"))}
    assert diff(old, old) == []


def test_shipped_catalogue_covers_every_shipped_rule_category(cfg):
    rules = RuleSet.load([cfg.path_of(p) for p in cfg.rules.paths], cfg)
    seed = cfg.dispatch_seed.latest()
    pairs = {(r.domain, r.category) for r in rules.rules if r.domain in DOMAIN_CODES}
    rows = {(e.domain, e.category) for e in seed.entries}
    assert pairs and pairs <= rows
    assert {(d, None) for d in DOMAIN_CODES} <= rows  # a default for text-model cases without a category
    at = datetime(2026, 11, 24, tzinfo=UTC)
    for domain, category in pairs:
        assert cfg.dispatch_seed.lookup(domain, category, "grid", at) is not None


@pytest.mark.parametrize(("rows", "message"), [
    ("  - {domain: traffic, lead: traffic_police, level: street}\n"
     "  - {domain: traffic, category: accident, lead: ghost_unit, level: street}\n",
     "dispatch_catalogue.yaml:3: 未知单位 ghost_unit"),
    ("  - {domain: traffic, lead: traffic_police, level: street}\n"
     "  - {domain: traffic, area_level: '*', lead: police, level: street}\n",
     "dispatch_catalogue.yaml:3: 第 2 行：与第 1 行重复"),
])
def test_a_bad_shipped_catalogue_stops_start_up_with_its_file_and_line(tmp_path, config_path, rows, message):
    text = Path(config_path).read_text(encoding="utf-8")
    (tmp_path / "config").mkdir()
    for name in ("devices.csv",):
        (tmp_path / "config" / name).write_text((Path(config_path).parent / "config" / name).read_text("utf-8"), "utf-8")
    (tmp_path / "config" / "dispatch_catalogue.yaml").write_text("entries:\n" + rows, "utf-8")
    (tmp_path / "rules").symlink_to(Path(config_path).parent / "rules")
    (tmp_path / "config.yaml").write_text(text, "utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "config.yaml")
    assert str(err.value).startswith(message)
