"""The wall's map: open load by area, incidents by domain, P1 rings, as the plain dict plotly.js takes."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import plotly.io as pio
from dash import html

from layouts import ids
from layouts.common import MAP_STYLE_URL, domain_color, domain_name
from ops_center.core import area_tree, geo
from ops_center.core.domains import DOMAIN_CODES


def zoom_for(extent: tuple[float, float, float, float], panel_px: float = 1000) -> tuple[dict, float]:
    min_lat, min_lon, max_lat, max_lon = extent
    center = {"lat": (min_lat + max_lat) / 2, "lon": (min_lon + max_lon) / 2}
    span = max(max_lon - min_lon, (max_lat - min_lat) * 1.6, 1e-4)
    return center, math.log2(360 / span * panel_px / 512)


def map_figure(cfg: Any, street_load: dict[str, int], markers: Any, focus: str | None) -> dict:
    """Street load, open incidents by domain, P1 rings: a plain dict (go.Figure's validation cost ~80 ms a redraw)."""
    # Positions stay numpy arrays: the JSON encoder passes them through instead of walking 4,000 floats.
    district = area_tree.root(cfg)  # a city center's map is its districts
    lats, lons = _positions(cfg, markers)
    domains = markers["domain"].to_numpy(dtype=object)
    titles = np.array([str(t) for t in markers["title"]], dtype=object)
    traces = [_street_trace(cfg, district, street_load)]
    for code in (*DOMAIN_CODES, "unclassified"):
        mask = domains == code
        if mask.any():
            traces.append({
                "type": "scattermap", "lat": lats[mask], "lon": lons[mask], "mode": "markers",
                "name": domain_name(code), "marker": {"size": 13, "color": domain_color(code), "opacity": 0.95},
                "text": titles[mask].tolist(), "hoverinfo": "text",
            })
    p1 = markers["severity"].to_numpy(dtype=object) == "P1"
    traces.append({
        "type": "scattermap", "lat": lats[p1], "lon": lons[p1], "mode": "markers", "name": "P1",
        "meta": "p1-pulse", "hoverinfo": "skip", "marker": {"size": 30, "color": "#ff3b3b", "opacity": 0.45},
    })
    extent = geo.extent(cfg, focus or district)
    center, zoom = zoom_for(extent)
    layout = {
        "template": _template(),
        "map": {"style": MAP_STYLE_URL, "center": center, "zoom": zoom},
        # assets/ops.js fits this box to the panel's real size (1080p and 4K differ by one zoom level).
        "meta": {"fit": [extent[1], extent[0], extent[3], extent[2]], "labels": street_labels(cfg, district)},
        "showlegend": False, "paper_bgcolor": "#0a1222", "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "uirevision": focus or "district", "hoverlabel": {"font": {"size": 16}},
    }
    return {"data": traces, "layout": layout}


def _street_trace(cfg: Any, district: str, street_load: dict[str, int]) -> dict:
    level = area_tree.CHILD_LEVEL[area_tree.level(cfg, district)]
    fc = geo.area_polygons(cfg, level, district)
    street_load = area_tree.roll_up(street_load, level)
    codes = [f["properties"]["code"] for f in fc["features"]]
    names = [f["properties"]["name"] for f in fc["features"]]
    loads = [street_load.get(code, 0) for code in codes]
    return {
        "type": "choroplethmap", "geojson": fc, "locations": codes, "featureidkey": "properties.code", "z": loads,
        "zmin": 0, "zmax": max(max(loads, default=0), 5),
        "colorscale": [[0, "#13233f"], [0.5, "#1f4f8f"], [1, "#c2410c"]], "showscale": False,
        "marker": {"opacity": 0.75, "line": {"color": "#4f6b9a", "width": 1.5}},
        "text": [f"{n}：在办 {v}" for n, v in zip(names, loads, strict=True)], "hoverinfo": "text",
    }


@functools.cache
def _template() -> dict:
    """plotly's default template as go.Figure embeds it; built once (it is the same for every redraw)."""
    return pio.templates[pio.templates.default].to_plotly_json()


def _positions(cfg: Any, markers: Any) -> tuple[np.ndarray, np.ndarray]:
    """Incident position, or its area's centroid when the source gave none."""
    lats, lons = (markers[c].to_numpy(dtype=float, na_value=np.nan).copy() for c in ("lat", "lon"))
    for i in np.flatnonzero(np.isnan(lats) | np.isnan(lons)):
        a = cfg.area_by_code.get(markers["area_code"].iat[i])
        lats[i], lons[i] = a.centroid if a else cfg.site.city.centroid
    return lats, lons


def street_labels(cfg: Any, district: str) -> list[list]:
    """[lon, lat, name] per street: assets/ops.js writes the names over the map (the offline style has no glyphs)."""
    return [[a.centroid[1], a.centroid[0], a.name] for a in geo.children(cfg, district)]


def map_legend(areas: str = "街道") -> html.Div:
    """What dot colours (domain), red rings (P1) and street fill (open load) mean, read from 3–5 m."""
    dots = [html.Span([html.Span(className="legend-dot", style={"background": domain_color(code)}), domain_name(code)],
                      className="legend-item") for code in (*DOMAIN_CODES, "unclassified")]
    return html.Div(
        [html.Div(dots, className="legend-row"),
         html.Div([html.Span([html.Span(className="legend-ring"), "P1 紧急"], className="legend-item"),
                   html.Span([f"{areas}在办量：", html.Span("少", className="legend-lo"), html.Span(className="legend-ramp"),
                              html.Span("多", className="legend-hi")], className="legend-item")],
                  className="legend-row")],
        id=ids.WALL_LEGEND, className="wall-legend",
    )
