"""一屏统调: the full-screen wall; one refresh callback that does nothing unless the bus saw a change.

The page lays the wall out and decides when to redraw; what it draws lives beside it: wall_draw (a snapshot's
views and their digests), wall_map, wall_tiles, wall_trend, wall_lists and wall_health (the source strip).
"""

from __future__ import annotations

import functools
from typing import Any

import dash
from dash import Input, Output, State, callback, dcc, html, no_update

from layouts import ids, wall_health
from layouts.common import BLANK_FIGURE, area_name, current_user, data_version, gate, server_clock
from layouts.wall_draw import digest, draw, plain
from layouts.wall_health import HEALTH_SECONDS
from layouts.wall_map import map_legend
from layouts.wall_tiles import ranked_load, totals_view
from ops_center.core import area_tree, geo
from ops_center.read import kpis, queries
from ops_center.web.context import get_context

dash.register_page(__name__, path="/wall", title="一屏统调", name="一屏统调")

PATROL_SECONDS = 15
RATES_SECONDS = 15


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
    hashes = {"totals": digest((wall.totals, rates["ack_on_time_rate"], rates["resolve_on_time_rate"])),
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


# --- pure helpers ------------------------------------------------------------------------


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


def scope_title(cfg: Any, scope: str | None) -> str:
    """The header names the area this wall shows: the site for the whole district, else the officer's area."""
    return cfg.site.name if scope in (None, area_tree.root(cfg)) else f"{cfg.site.name} · {area_name(scope)}"


def scope_label(cfg: Any, scope: str | None) -> str:
    return "范围：" + (area_tree.name(cfg, area_tree.root(cfg)) if scope is None else area_name(scope))


wall_health.callbacks()
