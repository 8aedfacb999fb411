"""网格上报: the grid worker's phone screen — report what they see, follow their reports, 核查 in their grids."""

from __future__ import annotations

import math
from typing import Any

import dash
import dash_mantine_components as dmc
import plotly.graph_objects as go
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, dcc, html, no_update

from ingest.phone_report import PhoneReport, ReportRefused, new_report_id, submit
from layouts import grid_verify, ids, photo_upload
from layouts.common import MAP_STYLE_URL, area_name, current_user, gate, shell
from ops_center.core import geo
from ops_center.core.category_names import CATEGORY_NAMES
from ops_center.core.domains import DOMAIN_CODES, DOMAIN_NAMES
from ops_center.web.context import get_context

dash.register_page(__name__, path="/grid", title="网格上报", name="网格上报")

MAP_HEIGHT = 260
# Categories a person reports; sensor-only and triage codes are not offered.
NOT_REPORTED = frozenset({"device_fault", "device_restore", "feed_silent", "unclassified", "smoke_alarm", "sos",
                          "missed_checkin", "no_water_use", "hydrant_low_pressure", "air_quality"})


def scope_codes(scope: str | None) -> tuple[str, ...]:
    """A grid worker's scope: one or more area codes, comma separated."""
    return tuple(c.strip() for c in (scope or "").replace("，", ",").split(",") if c.strip())


def grids_in(cfg: Any, scope: str | None) -> list[Any]:
    """The configured grids (15-digit areas) inside the worker's scope."""
    codes = scope_codes(scope)
    return [a for a in cfg.areas.items if a.level == "grid" and any(a.code.startswith(c) for c in codes)]


def report_categories(ruleset: Any) -> list[tuple[str, str, str]]:
    """(domain, category, name) a person may report: the categories the text rules assign, else every named one."""
    pairs: set[tuple[str, str]] = set()
    for rule in getattr(ruleset, "rules", ()) or ():
        if rule.domain in DOMAIN_CODES and (rule.sources is None or "grid" in rule.sources):
            pairs.add((rule.domain, rule.category))
    if not pairs:
        return [("", c, n) for c, n in sorted(CATEGORY_NAMES.items()) if c not in NOT_REPORTED]
    return sorted((d, c, CATEGORY_NAMES.get(c, c)) for d, c in pairs if c not in NOT_REPORTED)


def category_data(ruleset: Any) -> list[dict]:
    """Select data grouped by domain (the phone shows the domain headings)."""
    groups: dict[str, list[dict]] = {}
    for domain, code, name in report_categories(ruleset):
        groups.setdefault(DOMAIN_NAMES.get(domain, "其他"), []).append({"value": code, "label": name})
    return [{"group": g, "items": items} for g, items in groups.items()]


def layout(**_: Any) -> Any:
    user, stub = gate("grid")
    if stub is not None:
        return stub
    ctx = get_context()
    cfg = ctx.cfg
    grids = grids_in(cfg, user.scope)
    ruleset = ctx.rules.current if ctx.rules is not None else None
    form = html.Section([
        html.H3("上报问题", className="phone-h"),
        dmc.Select(id=ids.GRID_CATEGORY, label="问题类别", placeholder="选择类别（可不选）", searchable=True,
                   clearable=True, data=category_data(ruleset), size="lg", comboboxProps={"withinPortal": True}),
        dmc.Textarea(id=ids.GRID_TEXT, label="情况描述", placeholder="在哪里、什么情况、是否有人受伤……", autosize=True,
                     minRows=3, size="lg"),
        dmc.Select(id=ids.GRID_CELL, label="所在网格", data=[{"value": a.code, "label": _grid_label(a.code)} for a in grids],
                   value=grids[0].code if len(grids) == 1 else None, placeholder="选择网格", size="lg",
                   allowDeselect=False),
        html.Div([
            html.Button("使用当前位置定位", id=ids.GRID_LOCATE, className="btn btn-big", n_clicks=0, type="button"),
            html.Div("未定位：可点“使用当前位置定位”，或在下方地图上点选所在网格", id=ids.GRID_LOCATION_TEXT,
                     className="dim location-text", role="status"),
        ], className="locate-row"),
        dcc.Graph(id=ids.GRID_MAP, figure=map_figure(cfg, grids, None), config={"displayModeBar": False,
                                                                              "scrollZoom": False},
                  className="phone-map"),
        photo_upload.picker(ids.GRID_PHOTOS, ids.GRID_PHOTO_IDS, ids.GRID_PHOTO_PREVIEW),
        html.Button("提交上报", id=ids.GRID_SUBMIT, className="btn btn-primary btn-big btn-block", n_clicks=0,
                    type="button"),
        html.Div(id=ids.GRID_MESSAGE, role="status"),
        dcc.Store(id=ids.GRID_REPORT_ID, data=new_report_id(user.username, ctx.clock())),
        dcc.Store(id=ids.GRID_LOCATION),
    ], className="phone-card")
    verify, mine, *stores = grid_verify.sections()
    # 核查 first: a task waiting on site is what the worker opens the phone for; then a new report, then history.
    root = html.Div([verify, form, mine, *stores], id=ids.GRID_ROOT, className="phone-page")
    return shell("grid", user, root)


def _grid_label(code: str) -> str:
    cfg = get_context().cfg
    community = cfg.area_by_code.get(code[:12])
    return f"{community.name if community else ''} {area_name(code)}".strip()


def map_figure(cfg: Any, grids: list[Any], location: dict | None) -> go.Figure:
    """The worker's grids to tap (a tap sets the grid and its centre) and the chosen position."""
    features = []
    for community in sorted({a.code[:12] for a in grids}):
        wanted = {a.code for a in grids}
        features += [f for f in geo.area_polygons(cfg, "grid", community)["features"]
                     if f["properties"]["code"] in wanted]
    traces: list[Any] = []
    if features:
        codes = [f["properties"]["code"] for f in features]
        traces.append(go.Choroplethmap(
            geojson={"type": "FeatureCollection", "features": features}, locations=codes,
            featureidkey="properties.code", z=[1] * len(codes), showscale=False,
            colorscale=[[0, "#1d3563"], [1, "#1d3563"]], marker={"line": {"color": "#6f8fc7", "width": 1.5},
                                                                  "opacity": 0.7},
            text=[f["properties"]["name"] for f in features], hoverinfo="text"))
    if location and location.get("lat") is not None:
        traces.append(go.Scattermap(lat=[location["lat"]], lon=[location["lon"]], mode="markers", hoverinfo="skip",
                                    marker={"size": 18, "color": "#ff5c5c"}))
    center, zoom = {"lat": cfg.site.city.centroid[0], "lon": cfg.site.city.centroid[1]}, 12.0
    if grids:
        boxes = [geo.extent(cfg, a.code) for a in grids]
        south, west = min(b[0] for b in boxes), min(b[1] for b in boxes)
        north, east = max(b[2] for b in boxes), max(b[3] for b in boxes)
        center = {"lat": (south + north) / 2, "lon": (west + east) / 2}
        zoom = fit_zoom(north - south, east - west)
    fig = go.Figure(traces or [go.Scattermap(lat=[], lon=[])])
    fig.update_layout(map={"style": MAP_STYLE_URL, "center": center, "zoom": zoom},
                      showlegend=False, paper_bgcolor="#0a1222", margin={"l": 0, "r": 0, "t": 0, "b": 0}, height=MAP_HEIGHT,
                      uirevision="grid-map")
    return fig


def fit_zoom(lat_span: float, lon_span: float, width_px: int = 340, height_px: int = MAP_HEIGHT) -> float:
    """The web-mercator zoom that shows a box of these spans whole on the narrowest (phone) map."""
    lon_zoom = math.log2(360 * width_px / (256 * max(lon_span, 1e-5)))
    lat_zoom = math.log2(180 * height_px / (256 * max(lat_span, 1e-5)))
    return round(min(lon_zoom, lat_zoom, 17.0) - 0.4, 2)


# --- location: the browser's geolocation, or a tap on a grid -----------------------------------

clientside_callback(
    ClientsideFunction(namespace="ops_phone", function_name="locate"),  # assets/phone.js
    Output(ids.GRID_LOCATION_TEXT, "children"),
    Input(ids.GRID_LOCATE, "n_clicks"),
    State(ids.GRID_LOCATION, "id"),
    prevent_initial_call=True,
)


@callback(
    Output(ids.GRID_LOCATION, "data", allow_duplicate=True),
    Input(ids.GRID_MAP, "clickData"),
    prevent_initial_call=True,
)
def tap_grid(click):
    """A tap on a grid: its centre, marked as chosen on the map (not measured)."""
    points = (click or {}).get("points") or []
    code = points[0].get("location") if points else None
    user = current_user()
    cfg = get_context().cfg
    if not code or user is None or code not in {a.code for a in grids_in(cfg, user.scope)}:
        return no_update
    lat, lon = cfg.area_by_code[code].centroid
    return {"lat": lat, "lon": lon, "source": "map", "grid": code}


@callback(
    Output(ids.GRID_LOCATION_TEXT, "children", allow_duplicate=True),
    Output(ids.GRID_CELL, "value"),
    Output(ids.GRID_MAP, "figure"),
    Input(ids.GRID_LOCATION, "data"),
    State(ids.GRID_CELL, "value"),
    prevent_initial_call=True,
)
def show_location(location, chosen):
    """Where the report will be filed: the measured point's grid when it lies in the worker's grids."""
    user = current_user()
    cfg = get_context().cfg
    if not location or user is None:
        return no_update, no_update, no_update
    if location.get("error"):
        return html.Span(location["error"], className="msg msg-warn"), no_update, no_update
    grids = grids_in(cfg, user.scope)
    own = {a.code for a in grids}
    code = location.get("grid") or geo.locate(cfg, lat=location["lat"], lon=location["lon"])
    figure = map_figure(cfg, grids, location)
    if location.get("source") == "map":
        return f"已在地图上选择：{_grid_label(code)}（网格中心）", code, figure
    where = f"已定位（精度约 {location.get('accuracy') or 0:.0f} 米）"
    if code in own:
        return f"{where}：{_grid_label(code)}", code, figure
    return html.Span(f"{where}，但不在您负责的网格内；请选择网格或在地图上点选", className="msg msg-warn"), chosen, figure


@callback(
    Output(ids.GRID_MESSAGE, "children"),
    Output(ids.GRID_REPORT_ID, "data"),
    Output(ids.GRID_TEXT, "value"),
    Output(ids.GRID_PHOTO_IDS, "data", allow_duplicate=True),
    Output(ids.GRID_PHOTO_PREVIEW, "children", allow_duplicate=True),
    Output(ids.GRID_REFRESH, "data", allow_duplicate=True),
    Input(ids.GRID_SUBMIT, "n_clicks"),
    State(ids.GRID_REPORT_ID, "data"),
    State(ids.GRID_CATEGORY, "value"),
    State(ids.GRID_TEXT, "value"),
    State(ids.GRID_CELL, "value"),
    State(ids.GRID_LOCATION, "data"),
    State(ids.GRID_PHOTO_IDS, "data"),
    State(ids.GRID_REFRESH, "data"),
    prevent_initial_call=True,
)
def file_report(clicks, report_id, category, text, grid_code, location, photos, refresh):
    """File the report through the grid parser and the pipeline; the form clears only once it is stored."""
    if not clicks:
        return (no_update,) * 6
    ctx = get_context()
    user = current_user()
    if user is None or ctx.pipeline is None:
        return photo_upload.note("上报通道未启动，请稍后再试", "error"), *(no_update,) * 5
    measured = location if location and location.get("lat") is not None and not location.get("error") else {}
    report = PhoneReport(report_id=report_id or new_report_id(user.username, ctx.clock()), reporter=user.username,
                         grid_code=grid_code or "", text=(text or "").strip(), category=category or None,
                         lat=measured.get("lat"), lon=measured.get("lon"), photos=tuple(photos or ()))
    try:
        filed = submit(ctx.cfg, ctx.registry, ctx.pipeline, report, scope_codes(user.scope), ctx.clock())
    except ReportRefused as exc:
        return photo_upload.note(exc.user_message, "error"), *(no_update,) * 5
    done = photo_upload.note(f"已上报（编号 {filed}），可在下方“我的上报”查看办理进度", "ok")
    return done, new_report_id(user.username, ctx.clock()), "", [], [], (refresh or 0) + 1


photo_upload.register(ids.GRID_PHOTOS, ids.GRID_PHOTO_IDS, ids.GRID_PHOTO_PREVIEW, ids.GRID_MESSAGE)
photo_upload.register(ids.GRID_VERIFY_PHOTOS, ids.GRID_VERIFY_PHOTO_IDS, ids.GRID_VERIFY_PREVIEW, ids.GRID_VERIFY_MESSAGE)
grid_verify.callbacks()
