"""A city center's own screens: 市 → 区 → 街道 → 社区 over a store fed by fed_apply, with the one KPI module.

Two district stores hold their own incidents; their outboxes cross to a real city store (tests/fixtures_city.py).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from layouts import ids as I
from ops_center.core import area_tree
from ops_center.core.config import ConfigError, load_config
from ops_center.read import kpis
from ops_center.web.context import set_context
from tests.factories import FixedClock
from tests.fixtures_city import JINJIANG, federate, write_configs
from tests.fixtures_web import FakeHealth, click_settled, login
from tests.test_areas import goto_selector
from tests.test_federation import DISTRICTS, write

ROOT = Path(__file__).resolve().parent.parent
PAGE_FILE = str(ROOT / "layouts" / "areas.py")
SHOTS = Path("/tmp/shots")


@pytest.fixture(scope="module")
def config_path(tmp_path_factory) -> Path:
    return write_configs(tmp_path_factory.mktemp("city"))[0]


@pytest.fixture(scope="module")
def cfg(config_path):
    return load_config(config_path)


@pytest.fixture
def city(web_ctx, districts, fixed_now):
    federate(districts, web_ctx.store, FixedClock(fixed_now))
    return web_ctx


@pytest.fixture
def areas(web_app):
    return next(m for m in reversed(list(sys.modules.values())) if getattr(m, "__file__", None) == PAGE_FILE)


def test_the_city_is_the_root_of_its_areas(cfg):
    assert area_tree.root(cfg) == "510100" and area_tree.level(cfg, "510100") == "city"
    assert area_tree.level(cfg, "510104") == "district" and area_tree.name(cfg, "510100") == "成都市"
    assert area_tree.trail(cfg, "510104002") == ["510100", "510104", "510104002"]
    assert area_tree.within(cfg, "510104002", "510100") and not area_tree.within(cfg, "510104002", "510108")
    assert area_tree.kpi_area(cfg, "510100") is None and area_tree.kpi_area(cfg, "510104") == "510104"
    assert area_tree.roll_up({"510104002": 2, "510104004": 3, "510108002": 1}, "district") == {"510104": 5, "510108": 1}


def test_a_district_center_still_starts_at_its_district(config_path):
    shipped = load_config(ROOT / "config.yaml")
    assert area_tree.root(shipped) == "510108" and area_tree.level(shipped, "510100") == "district"
    assert area_tree.trail(shipped, "510108002") == ["510108", "510108002"]


@pytest.mark.parametrize(("districts", "message"), [
    ([{"code": "510108", "name": "成华区"}, {"code": "510199", "name": "新区"}], "district 510199 .* is not a configured area"),
    ([{"code": "510108", "name": "成华区"}], "area 510104 .* is a district the city does not hear"),
])
def test_a_city_config_must_configure_exactly_the_districts_it_hears(config_path, tmp_path, districts, message):
    doc = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    doc["federation"]["districts"] = districts
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, "city.yaml", doc))


def test_drill_city_district_street_sums_the_districts_kpis(city, areas, districts):
    cfg, now = city.cfg, city.clock()
    start, end = areas.range_bounds("30d", now, cfg.site.timezone)
    assert areas.clean_place(cfg, None, "510100") == "510100"
    assert [c for c, _ in areas.trail(cfg, "510104002", "510100")] == ["510100", "510104", "510104002"]
    assert areas.clean_place(cfg, "510104002", "510108") == "510108"  # a district user stays in their district

    top = areas.load_drill(city.store, cfg, "510100", start, end, None)
    assert top.level == "district" and set(top.rows["code"]) == set(DISTRICTS)
    own = {code: kpis.kpi_summary(store, start, end, as_of=end) for code, store in districts.items()}
    by_district = top.rows.set_index("code")
    for code in DISTRICTS:
        assert {k: by_district.loc[code, k] for k in kpis.COUNT_COLUMNS} == {k: own[code][k] for k in kpis.COUNT_COLUMNS}
        assert by_district.loc[code, "ack_on_time_rate"] == pytest.approx(own[code]["ack_on_time_rate"], nan_ok=True)
    for k in kpis.COUNT_COLUMNS:
        assert top.summary[k] == sum(own[c][k] for c in DISTRICTS), k
    assert top.summary["created"] > 0 and top.summary["overdue"] > 0
    assert {f["id"] for f in top.shapes["features"]} == set(DISTRICTS)

    district = areas.load_drill(city.store, cfg, JINJIANG, start, end, None)
    streets = kpis.kpi_table(districts[JINJIANG], start, end, group_by="street", parent=JINJIANG, as_of=end)
    got = district.rows.set_index("code").loc[streets["street"]]
    assert district.level == "street" and list(got["created"]) == list(streets["created"])
    assert list(got["overdue"]) == list(streets["overdue"])

    street = streets.sort_values("created")["street"].iloc[-1]
    communities = areas.load_drill(city.store, cfg, street, start, end, None)
    assert communities.level == "community"
    assert communities.rows["created"].sum() == district.rows.set_index("code").loc[street, "created"]


@pytest.fixture
def silent_jinjiang(city):
    """The city's health as its consumer reports it: 锦江区 not heard for 40 minutes."""
    ctx = replace(city, health=lambda: [FakeHealth(f"fed_{JINJIANG}", "锦江区", "silent",
                                                   city.clock() - timedelta(minutes=40), 0.0, 0.0, 0)])
    set_context(ctx)
    return ctx


@pytest.mark.browser
def test_city_wall_and_drill_down_at_1080p(silent_jinjiang, web_duo):
    SHOTS.mkdir(exist_ok=True)
    duo = web_duo
    duo.driver.set_window_size(1920, 1080)
    duo.driver.get(f"{duo.server_url}/wall?token=wall-demo-kiosk-token")
    duo.wait_for_contains_text(".wall-title", "成都市城市运行管理中心", timeout=10)
    duo.wait_for_contains_text(f"#{I.WALL_SCOPE}", "范围：成都市", timeout=10)
    duo.wait_for_contains_text("#wall-tile-ranking", "区在办排名", timeout=10)
    duo.wait_for_contains_text("#wall-tile-ranking", "锦江区", timeout=10)
    duo.wait_for_contains_text(f"#{I.WALL_MAP} .ops-map-labels", "锦江区", timeout=10)
    duo.wait_for_contains_text("#wall-fed-silent", "锦江区", timeout=10)
    duo.driver.save_screenshot(str(SHOTS / "city-wall-1080p.png"))

    login(duo, "leader", next_path="/areas")
    duo.wait_for_contains_text(f"#{I.AREAS_TITLE}", "成都市 · 近30天 · 下级区 2 个", timeout=10)
    duo.wait_for_contains_text(f"#{I.AREAS_TITLE}", "区县静默：锦江区", timeout=10)
    duo.wait_for_contains_text(f"#{I.AREAS_MAP} .ops-map-labels", "成华区", timeout=10)
    duo.driver.save_screenshot(str(SHOTS / "city-areas-1080p.png"))
    click_settled(duo, goto_selector(JINJIANG))
    duo.wait_for_contains_text(f"#{I.AREAS_TITLE}", "锦江区 · 近30天 · 下级街道", timeout=10)
    duo.wait_for_text_to_equal(".areas-crumb-current", "锦江区", timeout=10)
    duo.wait_for_contains_text(f"#{I.AREAS_BREADCRUMBS}", "成都市", timeout=10)
    duo.driver.save_screenshot(str(SHOTS / "city-areas-district-1080p.png"))
    click_settled(duo, goto_selector("510100"))
    duo.wait_for_text_to_equal(".areas-crumb-current", "成都市", timeout=10)
    logs = duo.get_logs()
    assert logs == [], [e["message"][:300] for e in logs]


def test_mode_overrides_the_configured_role(config_path, tmp_path):
    doc = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    doc["federation"]["district_code"] = "510108"  # one file that can run either way
    both = write(tmp_path, "both.yaml", doc)
    assert load_config(both).federation.role == "city"
    district = load_config(both, role="district")
    assert district.federation.role == "district" and area_tree.root(district) == district.site.default_area
    with pytest.raises(ConfigError, match="role district needs district_code"):
        load_config(config_path, role="district")
    with pytest.raises(ConfigError, match="--mode city needs a federation section"):
        load_config(ROOT / "config.yaml", role="city")
    ran = subprocess.run([sys.executable, "run.py", "--config", str(both), "--mode", "district", "check-config"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    ran = subprocess.run([sys.executable, "run.py", "check-config", "--config", str(config_path), "--mode", "district"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 2 and "role district needs district_code" in ran.stderr
