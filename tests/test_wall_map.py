"""The wall map as a plain dict is the very JSON the go.Figure version sent, for every kind of marker."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

import orjson
import plotly.graph_objects as go
import pytest
from plotly.io.json import to_json_plotly

from layouts import wall_draw, wall_lists, wall_map, wall_tiles, wall_trend
from layouts.common import MAP_STYLE_URL, domain_color, domain_name
from ops_center.core import geo
from ops_center.core.domains import DOMAIN_CODES
from ops_center.read import kpis, queries
from tests.factories import make_incident


def old_map_figure(cfg: Any, street_load: dict[str, int], markers: Any, focus: str | None) -> go.Figure:
    """map_figure as it was, built from go objects: the oracle."""
    district = cfg.site.default_area
    fc = geo.area_polygons(cfg, "street", district)
    codes = [f["properties"]["code"] for f in fc["features"]]
    names = [f["properties"]["name"] for f in fc["features"]]
    loads = [street_load.get(code, 0) for code in codes]
    traces: list[Any] = [go.Choroplethmap(
        geojson=fc, locations=codes, featureidkey="properties.code", z=loads, zmin=0,
        zmax=max(max(loads, default=0), 5), colorscale=[[0, "#13233f"], [0.5, "#1f4f8f"], [1, "#c2410c"]],
        showscale=False, marker={"opacity": 0.75, "line": {"color": "#4f6b9a", "width": 1.5}},
        text=[f"{n}：在办 {v}" for n, v in zip(names, loads, strict=True)], hoverinfo="text")]
    lats, lons = old_positions(cfg, markers)
    for code in (*DOMAIN_CODES, "unclassified"):
        mask = [d == code for d in markers["domain"]] if len(markers) else []
        if not any(mask):
            continue
        traces.append(go.Scattermap(
            lat=[v for v, m in zip(lats, mask, strict=True) if m], lon=[v for v, m in zip(lons, mask, strict=True) if m],
            mode="markers", name=domain_name(code), marker={"size": 13, "color": domain_color(code), "opacity": 0.95},
            text=[str(t) for t, m in zip(markers["title"], mask, strict=True) if m], hoverinfo="text"))
    p1 = [s == "P1" for s in markers["severity"]] if len(markers) else []
    traces.append(go.Scattermap(
        lat=[v for v, m in zip(lats, p1, strict=True) if m], lon=[v for v, m in zip(lons, p1, strict=True) if m],
        mode="markers", name="P1", meta="p1-pulse", hoverinfo="skip",
        marker={"size": 30, "color": "#ff3b3b", "opacity": 0.45}))
    extent = geo.extent(cfg, focus or district)
    center, zoom = wall_map.zoom_for(extent)
    fig = go.Figure(traces)
    fig.update_layout(
        map={"style": MAP_STYLE_URL, "center": center, "zoom": zoom},
        meta={"fit": [extent[1], extent[0], extent[3], extent[2]], "labels": wall_map.street_labels(cfg, district)},
        showlegend=False, paper_bgcolor="#0a1222", margin={"l": 0, "r": 0, "t": 0, "b": 0},
        uirevision=focus or "district", hoverlabel={"font": {"size": 16}})
    return fig


def old_positions(cfg: Any, markers: Any) -> tuple[list[float], list[float]]:
    lats, lons = [], []
    for lat, lon, area in zip(markers["lat"], markers["lon"], markers["area_code"], strict=True):
        if lat is None or lon is None or lat != lat or lon != lon:
            a = cfg.area_by_code.get(area)
            lat, lon = a.centroid if a else cfg.site.city.centroid
        lats.append(float(lat))
        lons.append(float(lon))
    return lats, lons


@pytest.mark.parametrize("focus", [None, "510108004"])
def test_dict_map_is_the_go_figure_json(web_app, web_ctx, demo_incidents, focus):
    cfg, now = web_ctx.cfg, web_ctx.clock()
    make_incident(web_ctx.store, cfg, now=now - timedelta(minutes=3), domain="unclassified", severity="P1",
                  area_code="510108004003001", lat=30.67, lon=104.09, title="<b>未分类</b>")
    make_incident(web_ctx.store, cfg, now=now - timedelta(minutes=4), domain="traffic", area_code="999999")
    summary = queries.summarize_wall(queries.wall_data(web_ctx.hot_incidents, now, cfg.site.timezone, None, focus))
    assert summary.markers["lat"].isna().any() and summary.markers["lat"].notna().any()
    new = wall_map.map_figure(cfg, summary.street_load, summary.markers, focus)
    old = old_map_figure(cfg, summary.street_load, summary.markers, focus)
    assert json.loads(to_json_plotly(new)) == json.loads(to_json_plotly(old))
    assert json.loads(to_json_plotly(new)) == json.loads(to_json_plotly(old.to_plotly_json()))


def test_dict_map_without_markers(web_app, web_ctx):
    cfg, now = web_ctx.cfg, web_ctx.clock()
    summary = queries.summarize_wall(queries.wall_data(web_ctx.hot_incidents, now, cfg.site.timezone))
    assert summary.markers.empty
    new = wall_map.map_figure(cfg, {}, summary.markers, None)
    assert json.loads(to_json_plotly(new)) == json.loads(to_json_plotly(old_map_figure(cfg, {}, summary.markers,
                                                                                          None)))
    assert [t["type"] for t in new["data"]] == ["choroplethmap", "scattermap"]
    assert not math.isnan(new["layout"]["map"]["zoom"])


def test_drawn_views_are_the_json_dash_sends_and_skip_its_python_walk(web_app, web_ctx, demo_incidents):
    cfg, now = web_ctx.cfg, web_ctx.clock()
    tz = cfg.site.timezone
    hot = web_ctx.hot_incidents
    drawn = wall_draw.draw(cfg, tz, None, None, hot.daily, hot.columns(now), now)
    summary = queries.summarize_wall(queries.wall_data(hot, now, tz), wall_lists.LIST_ROWS)
    trend = wall_trend.day_trend(hot.daily.get(now, tz, None), kpis.created_since(hot.columns(now), now - timedelta(hours=10)),
                           "10:00")  # fixed_now is 10:00 local
    tiles = wall_tiles.tiles_view(summary.domains, trend) + [wall_tiles.ranking_tile(summary.street_load)]
    for plain, components in ((drawn.tiles, tiles), (drawn.list, wall_lists.list_view(summary.urgent, tz)),
                              (drawn.p1, wall_lists.p1_view(summary.p1)), (drawn.trend, wall_trend.trend_view(trend))):
        assert json.loads(to_json_plotly(plain)) == json.loads(to_json_plotly(components))
        orjson.dumps(plain)  # plotly's to_json tries orjson first: plain data never takes its slow walk
    orjson.dumps(drawn.map, option=orjson.OPT_SERIALIZE_NUMPY)
