"""一屏统调: the full-screen wall; one refresh callback that does nothing unless the bus saw a change."""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Iterable
from typing import Any, NamedTuple

import dash
import numpy as np
import pandas as pd
import plotly.io as pio
from dash import Input, Output, State, callback, dcc, html, no_update
from dash.development.base_component import Component

from layouts import ids
from layouts.common import (
    BLANK_FIGURE,
    MAP_STYLE_URL,
    area_name,
    countdown,
    current_user,
    data_version,
    domain_color,
    domain_name,
    epoch_ms,
    gate,
    local_time,
    pct,
    server_clock,
    status_name,
)
from layouts.fed_banner import attention_banner, silent_banner
from ops_center.core import area_tree, geo
from ops_center.core.domains import DOMAIN_CODES, LEVEL_NAMES, SEVERITY_NAMES
from ops_center.core.ports import HealthRow
from ops_center.read import kpis, queries
from ops_center.web.context import get_context

dash.register_page(__name__, path="/wall", title="一屏统调", name="一屏统调")

PATROL_SECONDS = 15
RATES_SECONDS = 15
HEALTH_SECONDS = 5
STATE_NAMES = {"connected": "在线", "polling": "轮询中", "silent": "静默", "down": "中断", "running": "运行中",
               "stopped": "已停止", "connecting": "连接中", "disconnected": "已断开", "auth_failed": "认证失败",
               "error": "故障", "starting": "启动中",
               "calendar_expiring": "即将到期", "calendar_expired": "已过期"}
P1_CHIPS = 6  # P1 chips that fit the alarm strip at 16:9; the rest are counted ("另 N 起")
LIST_ROWS = 7  # urgent rows that fit the list panel above the 7-day trend (assets/wall.css: .wall-side)
TREND_DAYS = 7
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def layout(**_: Any) -> Any:
    user, stub = gate("wall")
    if stub is not None:
        return stub
    cfg = get_context().cfg
    scope = queries.scope_prefix(cfg, user.scope if user else None)
    header = html.Header(
        [
            html.Div([html.Div(scope_title(cfg, scope), className="wall-title"),
                      html.Div("一屏统调", className="wall-sub")], className="wall-brand"),
            html.Div(id=ids.WALL_TOTALS, className="wall-totals"),
            html.Div(
                [
                    html.Div(id=ids.WALL_CLOCK, className="wall-clock"),
                    html.Div(
                        [
                            html.Span(id=ids.WALL_SCOPE, className="wall-scope"),
                            html.Button("声音：关", id=ids.WALL_SOUND, className="wall-patrol-btn",
                                        title="新P1事件响铃（浏览器要求先点一次开启）"),
                            html.Button("巡屏", id=ids.WALL_PATROL_TOGGLE, className="wall-patrol-btn", n_clicks=0),
                            html.Span(user.name, id=ids.SHELL_USER, className="wall-user"),
                        ],
                        className="wall-meta",
                    ),
                ],
                className="wall-right",
            ),
        ],
        className="wall-header",
    )
    body = html.Div(
        [
            html.Section(
                [dcc.Graph(id=ids.WALL_MAP, config={"displayModeBar": False, "scrollZoom": False, "responsive": True},
                           className="wall-map-graph", figure=BLANK_FIGURE),
                 map_legend(ranked_load(cfg, {})[1].removesuffix("在办排名"))],
                className="wall-map panel",
            ),
            html.Div(
                [html.Section([html.H3("紧急与最新事件", className="panel-title"), html.Div(id=ids.WALL_LIST)],
                              className="wall-list panel"),
                 html.Section(id=ids.WALL_TREND, className="wall-trend panel")],
                className="wall-side",
            ),
        ],
        className="wall-body",
    )
    return html.Div(
        [
            header,
            html.Div(id=ids.WALL_P1, className="wall-p1"),
            body,
            html.Div(id=ids.WALL_TILES, className="wall-tiles"),
            html.Div(id=ids.WALL_HEALTH, className="wall-health"),
            html.Div(id=ids.WALL_FLASH, className="wall-flash"),
            html.Div(id=ids.WALL_SERVER_NOW),
            dcc.Store(id=ids.WALL_SEEN, data=None),
            dcc.Store(id=ids.WALL_HEALTH_SEEN, data=None),
            dcc.Store(id=ids.WALL_PATROL, data={"on": False, "i": -1}),
            dcc.Interval(id=ids.WALL_TICK, interval=cfg.web.wall_refresh_ms),
            dcc.Interval(id=ids.WALL_HEALTH_TICK, interval=HEALTH_SECONDS * 1000),
            dcc.Interval(id=ids.WALL_PATROL_TICK, interval=PATROL_SECONDS * 1000, disabled=True),
        ],
        id=ids.WALL_ROOT,
        className="wall-root",
    )


# --- callbacks ---------------------------------------------------------------------------


@callback(
    Output(ids.WALL_SEEN, "data"),
    Output(ids.WALL_TOTALS, "children"),
    Output(ids.WALL_MAP, "figure"),
    Output(ids.WALL_TILES, "children"),
    Output(ids.WALL_LIST, "children"),
    Output(ids.WALL_FLASH, "className"),
    Output(ids.WALL_SCOPE, "children"),
    Output(ids.WALL_SERVER_NOW, "children"),
    Output(ids.WALL_P1, "children"),
    Output(ids.WALL_TREND, "children"),
    Input(ids.WALL_TICK, "n_intervals"),
    Input(ids.WALL_PATROL, "data"),
    State(ids.WALL_SEEN, "data"),
)
def refresh(_n: int | None, patrol: dict | None, seen: dict | None):
    ctx = get_context()
    now, hot = ctx.clock(), ctx.hot_incidents
    user = current_user()
    scope = queries.scope_prefix(ctx.cfg, user.scope if user else None)
    focus = patrol_street(ctx.cfg, patrol, scope)
    # Redraw when the bus saw a commit or the hot set caught up with one, once a minute (deadlines pass),
    # or when patrol moves on.
    key = [data_version(), hot.version, int(now.timestamp() // 60), focus]
    if seen and seen.get("key") == key:
        return (no_update,) * 10
    tz = ctx.cfg.site.timezone
    wall = hot.view(("wall", scope, focus), now, functools.partial(draw, ctx.cfg, tz, scope, focus, hot.daily))
    key[1] = wall.version  # what this redraw shows, maybe newer than when the key was taken
    rates = recent_rates(ctx.store, now, tz, focus or scope, (seen or {}).get("rates"))
    hashes = {"totals": _digest((wall.totals, rates["ack_on_time_rate"], rates["resolve_on_time_rate"])),
              **wall.hashes}
    old = (seen or {}).get("h", {})
    changed = {name: old.get(name) != digest for name, digest in hashes.items()}
    was = (seen or {}).get("flash")
    fresh_p1 = seen is not None and bool(set(wall.p1_open) - set(seen.get("p1", [])))
    flash = ("wall-flash flash-b" if was == "a" else "wall-flash flash-a") if fresh_p1 else no_update
    new_seen = {"key": key, "h": hashes, "p1": list(wall.p1_open), "rates": rates,
                "flash": ("b" if was == "a" else "a") if fresh_p1 else was}
    views = {"totals": plain(totals_view(wall.totals, rates)), "map": wall.map, "tiles": wall.tiles, "list": wall.list}
    label = ("巡屏：" + area_name(focus)) if focus else scope_label(ctx.cfg, scope)
    return (new_seen, *(view if changed[name] else no_update for name, view in views.items()), flash,
            label, plain(server_clock(now)), wall.p1 if changed["p1"] else no_update,
            wall.trend if changed["trend"] else no_update)


class Drawn(NamedTuple):  # not a dataclass: Dash executes page modules outside sys.modules
    """One hot-set snapshot's wall, drawn once (mostly by the hot set's catch-up thread) for every refresh."""

    version: int
    totals: dict[str, int]
    p1_open: tuple[int, ...]
    hashes: dict[str, str]
    map: dict
    tiles: list
    list: Any
    p1: Any
    trend: Any


class Trend(NamedTuple):
    """受理数 per local day (today live from the hot set, earlier days from the cached KPI query) and 昨日同期."""

    days: tuple  # local dates, oldest first, today last
    created: tuple[int, ...]
    same_time_yesterday: int
    today_by_domain: dict[str, int]
    same_time_by_domain: dict[str, int]
    as_of: str  # local HH:MM the figures run to


def draw(cfg: Any, tz: str, scope: str | None, focus: str | None, daily: Any, cols: Any, now: Any) -> Drawn:
    summary = queries.summarize_wall(queries.wall_frames(cols, now, tz, scope, focus), LIST_ROWS)
    trend = day_trend(daily.get(now, tz, focus or scope, TREND_DAYS),
                      kpis.created_since(cols, queries.local_midnight(now, tz), focus or scope), local_time(now, tz, "%H:%M"))
    # 今日新增 is the KPI module's 受理数 (false alarms and merged duplicates excluded), like the trend beside it.
    totals = {**summary.totals, **queries.wall_attention(cols, now, focus or scope),
              "new_today": trend.created[-1], "same_time_yesterday": trend.same_time_yesterday}
    hashes = {"map": _digest((summary.street_load, _frame_digest(summary.markers), focus)),
              "tiles": _digest((summary.domains, summary.street_load, trend.today_by_domain, trend.same_time_by_domain)),
              "list": _frame_digest(summary.urgent), "p1": _frame_digest(summary.p1), "trend": _digest(trend)}
    return Drawn(cols.version, totals, summary.p1_open, hashes,
                 map_figure(cfg, summary.street_load, summary.markers, focus or scope),
                 plain(tiles_view(summary.domains, trend) + [ranking_tile(*ranked_load(cfg, summary.street_load))]),
                 plain(list_view(summary.urgent, tz)), plain(p1_view(summary.p1)), plain(trend_view(trend)))


def day_trend(daily: kpis.DailyCreated, today: dict[str, int], as_of: str) -> Trend:
    """The cached series with today's figure replaced by the live one, so the wall's 今日 moves within 2 s."""
    return Trend(daily.days, (*daily.created[:-1], sum(today.values())), daily.same_time_yesterday, today,
                 {code: same for code, (_, same) in daily.by_domain.items()}, as_of)


def plain(value: Any) -> Any:
    """Components as the very JSON Dash sends: a response of plain data takes orjson's C path, not a Python walk."""
    if isinstance(value, Component):
        data = value.to_plotly_json()
        return {**data, "props": {name: plain(v) for name, v in data["props"].items()}}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


@callback(
    Output(ids.WALL_PATROL, "data"),
    Output(ids.WALL_PATROL_TICK, "disabled"),
    Output(ids.WALL_PATROL_TOGGLE, "className"),
    Input(ids.WALL_PATROL_TOGGLE, "n_clicks"),
    Input(ids.WALL_PATROL_TICK, "n_intervals"),
    State(ids.WALL_PATROL, "data"),
    prevent_initial_call=True,
)
def patrol(_clicks: int | None, _n: int | None, state: dict | None):
    state = state or {"on": False, "i": -1}
    if dash.ctx.triggered_id == ids.WALL_PATROL_TOGGLE:
        on = not state.get("on")
        state = {"on": on, "i": 0 if on else -1}
    elif state.get("on"):
        state = {"on": True, "i": state.get("i", -1) + 1}
    else:
        return no_update, no_update, no_update
    return state, not state["on"], "wall-patrol-btn on" if state["on"] else "wall-patrol-btn"


@callback(
    Output(ids.WALL_HEALTH, "children"),
    Output(ids.WALL_HEALTH_SEEN, "data"),
    Input(ids.WALL_HEALTH_TICK, "n_intervals"),
    State(ids.WALL_HEALTH_SEEN, "data"),
)
def health(_n: int | None, seen: str | None):
    ctx = get_context()
    items = health_items(ctx.health(), ctx.clock(), ctx.cfg.site.timezone)
    digest = _digest(items)
    if digest == seen:
        return no_update, no_update
    return health_view(items), digest


# --- pure helpers ------------------------------------------------------------------------


def _digest(value: Any) -> str:
    return hashlib.blake2b(json.dumps(value, default=str, sort_keys=True).encode(), digest_size=12).hexdigest()


def _frame_digest(frame: Any) -> str:
    """Change detection for up to 2,000 rows within this process: Python's own hash, no lists or JSON first."""
    parts = tuple(frame[name].to_numpy().tobytes() if isinstance(frame[name].dtype, np.dtype)
                  and frame[name].dtype.kind in "biuf" else tuple(map(str, frame[name].tolist()))
                  for name in frame.columns)
    return f"{hash(parts) & 0xFFFFFFFFFFFFFFFF:016x}"


def patrol_street(cfg: Any, state: dict | None, scope: str | None = None) -> str | None:
    """The area patrol mode shows now (cycling through the root's streets, or a city's districts, in scope), or None."""
    if not state or not state.get("on"):
        return None
    streets = [a.code for a in geo.children(cfg, area_tree.root(cfg)) if scope is None or a.code.startswith(scope)]
    if not streets:
        return None
    i = state.get("i")
    return streets[max(i if isinstance(i, int) else 0, 0) % len(streets)]


def recent_rates(store: Any, now: Any, tz: str, scope: str | None, last: dict | None) -> dict[str, Any]:
    """及时响应率 and 按期办结率 for today so far (the one KPI module), re-queried every RATES_SECONDS."""
    # A whole day's rate barely moves between redraws. Kept in the browser's WALL_SEEN: no server-side state.
    if last and last.get("scope") == scope and 0 <= now.timestamp() - last.get("at", -1e18) < RATES_SECONDS:
        return last
    kpi = kpis.kpi_summary(store, queries.local_midnight(now, tz), now, area=scope, as_of=now)
    return {"scope": scope, "at": now.timestamp(), "ack_on_time_rate": kpi.get("ack_on_time_rate"),
            "resolve_on_time_rate": kpi.get("resolved_on_time_rate")}


def change(today: int, before: int) -> tuple[str, str]:
    """Today against 昨日同期 as an arrow and the difference, and its colour class (more incidents is the warning)."""
    diff = today - before
    if diff == 0:
        return "持平", "flat"
    return (f"↑{diff}", "up") if diff > 0 else (f"↓{-diff}", "down")


def totals_view(totals: dict[str, int], rates: dict[str, float | None]) -> list:
    new_today, before = totals["new_today"], totals.get("same_time_yesterday", 0)
    arrow, trend = change(new_today, before)
    today_card = html.Div(
        [html.Div([html.Span(str(new_today), id="wall-today-value"),
                   html.Span(arrow, id="wall-today-change", className=f"total-change {trend}")],
                  className="total-value"),
         html.Div("今日新增", className="total-label"),
         html.Div(f"昨日同期 {before}", id="wall-today-before", className="total-before")],
        className="wall-total wall-total-today", id="wall-total-today",
    )
    items = [
        ("在办", str(totals["open"]), ""),
        ("即将超时", str(totals.get("soon", 0)), "warn" if totals.get("soon") else ""),
        ("超期", str(totals["overdue"]), "danger" if totals["overdue"] else ""),
        ("督办/升级", f"{totals.get('supervised', 0)}/{totals.get('escalated', 0)}", ""),
        ("及时响应率", pct(rates.get("ack_on_time_rate")), ""),
        ("按期办结率", pct(rates.get("resolve_on_time_rate")), ""),
    ]
    return [today_card] + [
        html.Div([html.Div(value, className="total-value " + cls), html.Div(label, className="total-label")],
                 className="wall-total")
        for label, value, cls in items
    ]


def _zoom_for(extent: tuple[float, float, float, float], panel_px: float = 1000) -> tuple[dict, float]:
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
    center, zoom = _zoom_for(extent)
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


def scope_title(cfg: Any, scope: str | None) -> str:
    """The header names the area this wall shows: the site for the whole district, else the officer's area."""
    return cfg.site.name if scope in (None, area_tree.root(cfg)) else f"{cfg.site.name} · {area_name(scope)}"


def scope_label(cfg: Any, scope: str | None) -> str:
    return "范围：" + (area_tree.name(cfg, area_tree.root(cfg)) if scope is None else area_name(scope))


def ranked_load(cfg: Any, street_load: dict[str, int]) -> tuple[dict[str, int], str]:
    """The ranking tile's rows and title: streets at a district center, districts at a city center."""
    level = area_tree.CHILD_LEVEL[area_tree.level(cfg, area_tree.root(cfg))]
    return area_tree.roll_up(street_load, level), f"{LEVEL_NAMES[level]}在办排名"


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


def p1_view(p1: Any) -> list:
    """The alarm strip: every open P1 counted, the first few named with their area and deadline."""
    if p1 is None or len(p1) == 0:
        return [html.Span("P1 紧急", className="p1-label calm"), html.Span("当前无在办P1事件", className="p1-none")]
    chips = []
    for r in p1.head(P1_CHIPS).to_dict("records"):
        is_new = r["status"] == "new"
        due = r["ack_due_at"] if is_new else r["resolve_due_at"]
        chips.append(html.Div(
            [html.Span(className="dot", style={"background": domain_color(r["domain"])}),
             html.Span(str(r["title"]), className="p1-title"),
             html.Span(area_name(r["street_code"] or r["area_code"]), className="p1-area"),
             countdown(epoch_ms(due.to_pydatetime()) if due is not None and due == due else None,
                       label="受理" if is_new else "办结")],
            className="p1-chip", id=f"wall-p1-{int(r['incident_id'])}",
        ))
    more = len(p1) - len(chips)
    return [html.Span(f"P1 紧急 {len(p1)} 起", className="p1-label"), *chips,
            *([html.Span(f"另 {more} 起", className="p1-more")] if more > 0 else [])]


RANKED_STREETS = 5


def ranking_tile(street_load: dict[str, int], title: str = "街道在办排名") -> html.Div:
    """街道在办排名: the streets (a city's districts) carrying the most open incidents, as bars (the map's fill)."""
    top = sorted(street_load.items(), key=lambda kv: (-kv[1], kv[0]))[:RANKED_STREETS]
    peak = max((n for _, n in top), default=0) or 1
    rows = [html.Div([html.Span(area_name(code).removesuffix("街道"), className="rank-name"),
                      html.Span(html.Span(className="rank-fill", style={"width": f"{n / peak * 100:.0f}%"}),
                                className="rank-bar"),
                      html.Span(str(n), className="rank-num")], className="rank-row")
            for code, n in top]
    return html.Div([html.Div(title, className="tile-name rank-title"),
                     html.Div(rows or [html.Span("暂无在办事件", className="tile-lbl")], className="rank-rows")],
                    className="wall-tile wall-rank", id="wall-tile-ranking")


def tiles_view(domains: dict[str, dict[str, Any]], trend: Trend) -> list:
    tiles = []
    for code in DOMAIN_CODES:
        d = domains[code]
        today = trend.today_by_domain.get(code, 0)
        arrow, moved = change(today, trend.same_time_by_domain.get(code, 0))
        peak = max(max(d["spark"]), 1)
        bars = [html.Span(className="spark-bar", style={"height": f"{max(v / peak * 100, 4):.0f}%"}) for v in d["spark"]]
        tiles.append(html.Div(
            [
                html.Div(domain_name(code), className="tile-name", style={"borderColor": domain_color(code)}),
                html.Div(
                    [
                        html.Div([html.Div(str(d["open"]), className="tile-num"), html.Div("在办", className="tile-lbl")]),
                        html.Div([html.Div(str(d["overdue"]), className="tile-num" + (" danger" if d["overdue"] else "")),
                                  html.Div("超期", className="tile-lbl")]),
                        html.Div([html.Div([str(today), html.Span(arrow, className=f"tile-change {moved}")],
                                           className="tile-num"),
                                  html.Div("今日", className="tile-lbl")],
                                 title=f"今日 {today}，昨日同期 {trend.same_time_by_domain.get(code, 0)}"),
                    ],
                    className="tile-nums",
                ),
                html.Div(bars, className="tile-spark", title="近24小时每小时新增", style={"color": domain_color(code)}),
                html.Div([html.Span("24时前"), html.Span(f"每小时新增 峰值{max(d['spark'])}"), html.Span("现在")],
                         className="tile-axis"),
            ],
            className="wall-tile", id=f"wall-tile-{code}",
        ))
    return tiles


def trend_view(trend: Trend) -> list:
    """近7日每日新增: one bar per local day with its count and date, today's bar with yesterday's same-time mark."""
    peak = max(max(trend.created), trend.same_time_yesterday, 1)
    last = len(trend.days) - 1
    columns = []
    for i, (day, n) in enumerate(zip(trend.days, trend.created, strict=True)):
        name = "今日" if i == last else "昨日" if i == last - 1 else WEEKDAYS[day.weekday()]
        bar = [html.Div(className="trend-fill", style={"height": f"{n / peak * 100:.1f}%"})]
        if i == last:  # where yesterday stood at this time of day: today's bar above it is more than yesterday
            bar.append(html.Div(className="trend-mark", title=f"昨日同期 {trend.same_time_yesterday}",
                                style={"bottom": f"{trend.same_time_yesterday / peak * 100:.1f}%"}))
        columns.append(html.Div(
            [html.Div(str(n), className="trend-num"), html.Div(bar, className="trend-bar"),
             html.Div(f"{day.month}/{day.day}", className="trend-date"), html.Div(name, className="trend-day")],
            className="trend-col" + (" today" if i == last else ""), id=f"wall-trend-day-{i}",
        ))
    arrow, moved = change(trend.created[-1], trend.same_time_yesterday)
    head = html.Div(
        [html.H3(f"近{len(trend.days)}日每日新增", className="panel-title"),
         html.Div([f"今日截至{trend.as_of} ", html.Span(arrow, className=f"total-change {moved}"),
                   html.Span(className="trend-key"), f"昨日同期 {trend.same_time_yesterday}"],
                  className="trend-note")],
        className="trend-head",
    )
    return [head, html.Div(columns, className="trend-cols")]


def list_view(urgent: Any, tz: str) -> Any:
    if urgent is None or len(urgent) == 0:
        return html.Div("暂无在办事件", className="wall-empty")
    rows = []
    for r in urgent.to_dict("records"):
        is_new = r["status"] == "new"
        due = r["ack_due_at"] if is_new else r["resolve_due_at"]
        rows.append(html.Div(
            [
                html.Span(r["severity"], className=f"sev sev-{r['severity']}", title=SEVERITY_NAMES.get(r["severity"], "")),
                html.Span(className="dot", style={"background": domain_color(r["domain"])}),
                html.Div(
                    [html.Div(str(r["title"]), className="item-title"),
                     html.Div(f"{domain_name(r['domain'])} · {area_name(r['area_code'])} · "
                              f"{local_time(r['created_at'].to_pydatetime(), tz, '%H:%M')}", className="item-sub")],
                    className="item-main",
                ),
                html.Span(status_name(r["status"]), className=f"status status-{r['status']}"),
                countdown(epoch_ms(due.to_pydatetime()) if due is not None and due == due else None,
                          label="受理" if is_new else "办结"),
            ],
            # overdue_now is NULL (pd.NA, not true) when a deadline it needs is missing
            className="wall-item" + (" p1" if r["severity"] == "P1" else "")
            + (" late" if pd.notna(r.get("overdue_now")) and r.get("overdue_now") else ""),
            id=f"wall-item-{int(r['incident_id'])}",
        ))
    return rows


def health_items(sources: Iterable[HealthRow], now: Any, tz: str) -> list[dict[str, Any]]:
    items = []
    for s in sources:
        last = s.last_message_at
        items.append({
            "id": s.source_id,
            "name": s.name or s.source_id,
            "state": s.state,
            "last": local_time(last, tz, "%H:%M:%S") if last else "—",
            "rate": float(s.messages_per_min),
            "dead": int(s.dead_letters_total),
            "fault": getattr(s, "fault", ""),  # SourceHealth has one; HealthRow does not require it
        })
    return items


def rate_text(per_min: float) -> str:
    """Messages a minute, 万 past ten thousand so 114 k/min reads 11.4万条/分."""
    return f"{per_min / 10000:.1f}万条/分" if per_min >= 10000 else f"{per_min:.0f}条/分"


def health_view(items: list[dict[str, Any]]) -> list:
    if not items:
        return [html.Span("暂无数据源", className="health-empty")]
    return [*silent_banner(items, html.Div), *attention_banner(items, html.Div)] + [
        html.Div(
            [html.Span(className="health-dot"), html.Span(item["name"], className="health-name"),
             html.Span(STATE_NAMES.get(item["state"], item["state"]), className="health-state"),
             html.Span(rate_text(item["rate"]), className="health-rate"),
             html.Span(f"最近 {item['last']}", className="health-last")],
            className=f"health-item state-{item['state']}", id=f"wall-health-{item['id']}",
        )
        for item in items
    ]
