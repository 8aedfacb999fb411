"""区域钻取: numbers from the KPI module, scope-clamped places, and district → grid → back in the browser."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest

from layouts import ids as I
from ops_center.read import kpis
from tests.factories import make_incident
from tests.fixtures_web import click_settled, login

GRID = "510108002005001"  # 望平社区第1网格, in 猛追湾街道 / 望平社区
PAGE_FILE = str(Path(__file__).resolve().parent.parent / "layouts" / "areas.py")


@pytest.fixture
def areas(web_app):
    """The page module as Dash loaded it for web_app (pages register themselves only inside an app)."""
    return next(m for m in reversed(list(sys.modules.values())) if getattr(m, "__file__", None) == PAGE_FILE)


def test_place_is_clamped_to_config_and_scope(areas, cfg):
    assert areas.clean_place(cfg, "510108002005", "510108") == "510108002005"
    assert areas.clean_place(cfg, "999999", "510108") == "510108"
    assert areas.clean_place(cfg, "510108004", "510108002") == "510108002"  # outside the user's scope
    assert areas.clean_place(cfg, None, "510100") == cfg.site.default_area  # city-wide scope
    assert [c for c, _ in areas.trail(cfg, GRID, "510108")] == ["510108", "510108002", "510108002005", GRID]
    assert [c for c, _ in areas.trail(cfg, GRID, "510108002")] == ["510108002", "510108002005", GRID]


def test_today_starts_at_local_midnight(areas):
    now = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 10:00 in Chengdu
    start, end = areas.range_bounds("today", now, "Asia/Shanghai")
    assert (start.astimezone(UTC), end) == (datetime(2026, 11, 23, 16, 0, tzinfo=UTC), now)
    assert areas.range_bounds("7d", now, "Asia/Shanghai") == (now - timedelta(days=7), now)


def test_drill_numbers_come_from_the_kpi_module(areas, web_ctx, demo_incidents):
    cfg, now = web_ctx.cfg, web_ctx.clock()
    start, end = areas.range_bounds("30d", now, cfg.site.timezone)
    drill = areas.load_drill(web_ctx.store, cfg, "510108", start, end, None)
    assert drill.level == "street" and len(drill.rows) == len(cfg.children_of["510108"])
    expected = kpis.kpi_table(web_ctx.store, start, end, group_by="street", parent="510108", as_of=end)
    got = drill.rows.set_index("code").loc[expected["street"]]
    assert list(got["created"]) == list(expected["created"])
    assert sum(drill.rows["created"]) == drill.summary["created"] == 8
    fig = areas.map_figure(drill, cfg, "resolved_rate").to_plotly_json()
    style = fig["layout"]["map"]["style"]
    assert "glyphs" not in style and all(src["type"] == "geojson" for src in style["sources"].values())
    assert {f["id"] for f in fig["data"][0]["geojson"]["features"]} == set(drill.rows["code"])


def url_query(duo) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(duo.driver.current_url).query).items()}


def goto_selector(code: str) -> str:
    """CSS selector of a pattern-matching button id (Dash writes the id as sorted JSON)."""
    raw = json.dumps({"code": code, "type": I.AREAS_GOTO}, separators=(",", ":"))
    return "[id='" + raw + "']"


@pytest.mark.browser
def test_drill_down_to_grid_and_back_by_breadcrumb(web_ctx, demo_incidents, web_duo):
    make_incident(web_ctx.store, web_ctx.cfg, now=web_ctx.clock() - timedelta(hours=2), domain="elderly_care",
                  severity="P2", status="new", area_code=GRID)
    duo = web_duo
    login(duo, "leader", next_path="/areas")
    duo.wait_for_contains_text(f"#{I.AREAS_TITLE}", "成华区", timeout=10)
    duo.wait_for_element(f"#{I.AREAS_MAP} .maplibregl-canvas, #{I.AREAS_MAP} canvas", timeout=10)
    duo.driver.execute_script("window.opsSamePage = true")  # gone if a place link reloaded the page
    for code, name in (("510108002", "猛追湾街道"), ("510108002005", "望平社区"), (GRID, "望平社区第1网格")):
        click_settled(duo, goto_selector(code))
        duo.wait_for_contains_text(f"#{I.AREAS_TITLE}", name, timeout=10)
        duo.wait_for_text_to_equal(".areas-crumb-current", name, timeout=10)
        assert url_query(duo)["code"] == code
    assert duo.driver.execute_script("return window.opsSamePage === true"), "a place link reloaded the page"
    assert "1" in duo.find_element(f"#{I.AREAS_SUMMARY}").text
    # Back up to the district in one step by its breadcrumb; the URL follows and can be shared.
    # The grid shows its incident, not a one-cell choropleth; the map names the area.
    duo.wait_for_contains_text(f"#{I.AREAS_TABLE} .areas-incidents", "养老关怀")
    duo.wait_for_contains_text(f"#{I.AREAS_MAP} .ops-map-label", "望平社区第1网格", timeout=10)
    # Browser Back restores the previous place, page and all (not just the URL).
    duo.driver.back()
    duo.wait_for_text_to_equal(".areas-crumb-current", "望平社区", timeout=10)
    duo.wait_for_contains_text(f"#{I.AREAS_TITLE}", "望平社区 · 近30天", timeout=10)
    assert url_query(duo)["code"] == "510108002005"
    duo.driver.back()
    duo.wait_for_text_to_equal(".areas-crumb-current", "猛追湾街道", timeout=10)
    duo.driver.forward()
    duo.wait_for_text_to_equal(".areas-crumb-current", "望平社区", timeout=10)
    assert duo.driver.execute_script("return window.scrollY") == 0
    click_settled(duo, goto_selector("510108"))
    duo.wait_for_contains_text(f"#{I.AREAS_TITLE}", "成华区 · 近30天", timeout=10)
    assert url_query(duo) == {"code": "510108", "kpi": "created", "range": "30d"}
    # Street names on the district map; durations with a unit; the KPI cards are dark panels.
    duo.wait_for_contains_text(f"#{I.AREAS_MAP} .ops-map-labels", "猛追湾街道", timeout=10)
    assert "小时" in duo.find_element(f"#{I.AREAS_TABLE}").text or "—" in duo.find_element(f"#{I.AREAS_TABLE}").text
    card = duo.driver.execute_script(
        "return getComputedStyle(document.querySelector('#areas-summary .ops-card')).backgroundColor")
    assert card == "rgb(17, 26, 46)", card
    duo.driver.set_window_size(1440, 900)
    box = duo.driver.execute_script(
        "const r = document.getElementById('areas-map').getBoundingClientRect();"
        " return [r.left, r.right, r.bottom, window.innerWidth, window.innerHeight];")
    assert box[0] >= 0 and box[1] <= box[3] and box[2] <= box[4], box  # the map fits the laptop screen
    shared = duo.server_url + "/areas?code=510108002005&kpi=overdue&range=7d"
    duo.driver.get(shared)
    duo.wait_for_contains_text(f"#{I.AREAS_TITLE}", "望平社区 · 近7天", timeout=10)
    assert duo.get_logs() == []


def test_unit_ranking_is_the_kpi_modules_coloured_by_band(areas, web_ctx):
    cfg, now = web_ctx.cfg, web_ctx.clock()
    table = kpis.unit_kpis(web_ctx.store, now - timedelta(days=30), now)
    assert table.empty
    (empty_row,) = areas.unit_table(table, cfg).children[1].children
    assert empty_row.children.children == "此时段本区域无派单"
    ranked = pd.DataFrame([
        {"unit": "urban_mgmt", "rank": 1, "score": 92.5, "band": "good", **{k: 0.9 for k in kpis.UNIT_KPIS}},
        {"unit": "community:510108002002", "rank": 2, "score": 60.0, "band": "poor",
         **{k: 0.6 for k in kpis.UNIT_KPIS}},
    ])
    rows = areas.unit_table(ranked, cfg).children[1].children
    assert [r.className for r in rows] == ["unit-band unit-band-good", "unit-band unit-band-poor"]
    cells = [c.children for c in rows[0].children]
    assert cells[:2] == [1, "城管局"] and cells[-2:] == ["92.5", "优"]
    assert [c.children for c in rows[1].children][1] == "建华社区居委会"
