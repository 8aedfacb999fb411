"""区域钻取 /areas: a KPI choropleth of one level; click to go down, breadcrumbs to go up; URL = the place."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import NamedTuple
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

import dash
import dash_mantine_components as dmc
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from layouts import ids
from layouts.common import display_title, domain_color, gate, kpi_text, local_time, shell, status_name
from layouts.fed_banner import silent_note
from ops_center.core import area_tree, geo
from ops_center.core.config import Config
from ops_center.core.domains import DOMAIN_CODES, DOMAIN_NAMES, LEVEL_NAMES, UNCLASSIFIED
from ops_center.core.units import unit_name
from ops_center.read import kpis, queries
from ops_center.web.context import get_context

PATH = "/areas"
dash.register_page(__name__, path=PATH, title="区域钻取", name="区域钻取")

RANGES = {"today": "今日", "7d": "近7天", "30d": "近30天", "90d": "近90天"}
DEFAULT_RANGE = "30d"
DEFAULT_KPI = "created"
TABLE_KPIS = ("created", "open", "overdue", "ack_on_time_rate", "resolved_rate", "resolved_on_time_rate",
              "median_resolve_minutes", "satisfaction_rate", "rework_rate")
CHILD_LEVEL = area_tree.CHILD_LEVEL
# No tiles, no glyphs: a plain background, so the map never asks the internet for anything. The one
# (empty, inline) source is there because plotly.js drops an empty `sources` object when it restyles an
# existing map, and MapLibre then rejects the style ("missing required property sources").
MAP_STYLE = {
    "version": 8,
    "sources": {"blank": {"type": "geojson", "data": {"type": "FeatureCollection", "features": []}}},
    "layers": [{"id": "background", "type": "background", "paint": {"background-color": "#0b1220"}}],
}
DARK = {"paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)", "font": {"color": "#e6edf7"}}


# --- pure helpers ---------------------------------------------------------------------------


def range_bounds(key: str, now: datetime, tz: str) -> tuple[datetime, datetime]:
    """[start, now) of a range key; 'today' starts at local midnight."""
    if key == "today":
        local = now.astimezone(ZoneInfo(tz))
        return local.replace(hour=0, minute=0, second=0, microsecond=0), now
    return now - timedelta(days=int(key.rstrip("d"))), now


def clean_place(cfg: Config, code: str | None, scope: str) -> str:
    """A configured area inside the user's scope (else the scope itself, or the root: the city or the district)."""
    home = scope if area_tree.known(cfg, scope) else area_tree.root(cfg)
    if code and area_tree.known(cfg, code) and area_tree.within(cfg, code, home):
        return code
    return home


def trail(cfg: Config, code: str, scope: str) -> list[tuple[str, str]]:
    """(code, name) from the top the user may see down to `code`."""
    top = scope if area_tree.known(cfg, scope) else area_tree.root(cfg)
    codes = [c for c in area_tree.trail(cfg, code) if area_tree.known(cfg, c) and area_tree.within(cfg, c, top)]
    return [(c, area_tree.name(cfg, c)) for c in codes]


def fmt(value: object, unit: str) -> str:
    return kpi_text(value, unit)


def map_view(cfg: Config, code: str) -> tuple[dict, float]:
    """Centre and zoom that fit an area's shape into the map panel (~760×540 px, with a margin)."""
    lat0, lon0, lat1, lon1 = geo.extent(cfg, code)
    lon_span = max(lon1 - lon0, 1e-4)
    lat_span = max(lat1 - lat0, 1e-4) / math.cos(math.radians((lat0 + lat1) / 2))
    zoom = min(math.log2(760 * 360 / (256 * lon_span)), math.log2(540 * 360 / (256 * lat_span))) - 0.8
    return {"lat": (lat0 + lat1) / 2, "lon": (lon0 + lon1) / 2}, max(1.0, min(zoom, 18.0))


class Drill(NamedTuple):
    """What the page shows for one place: its children's KPIs, its own summary and domain mix.

    (A NamedTuple, not a dataclass: Dash executes page modules before registering them in sys.modules.)
    """

    code: str
    level: str  # level of the rows shown (children, or the leaf itself)
    shapes: dict  # GeoJSON of the rows' areas
    rows: pd.DataFrame  # one row per child area: code, name + KPI columns
    summary: dict
    domains: pd.DataFrame
    incidents: pd.DataFrame | None = None  # a grid (a leaf): its incidents, shown instead of one shaded cell


def load_drill(store, cfg: Config, code: str, start: datetime, end: datetime, domain: str | None) -> Drill:
    """All numbers via ops_center.read.kpis (as of `end`, the live now): children, summary, domain mix."""
    level = area_tree.level(cfg, code)
    child = CHILD_LEVEL.get(level)
    area = area_tree.kpi_area(cfg, code)  # the city root: every stored incident
    incidents = None
    if child and geo.children(cfg, code):
        shapes = geo.area_polygons(cfg, child, code)
        areas = [(a.code, a.name) for a in geo.children(cfg, code)]
        group = child
    else:  # a grid (or an area without children): show the area itself
        child = level
        parent = cfg.area_by_code[code].parent_code or code
        shapes = geo.area_polygons(cfg, level, parent)
        shapes["features"] = [f for f in shapes["features"] if f["id"] == code]
        areas = [(code, cfg.area_by_code[code].name)]
        group = level
        incidents = queries.area_incidents(store, code, start, end, domain)
    table = kpis.kpi_table(store, start, end, group_by=group, parent=area, domain=domain, as_of=end)
    table = table.dropna(subset=[group]).set_index(group)
    rows = pd.DataFrame(areas, columns=["code", "name"]).set_index("code", drop=False)
    rows = rows.join(table[[k for k in kpis.KPIS]], how="left")
    for column in kpis.COUNT_COLUMNS:
        rows[column] = rows[column].fillna(0).astype("int64")
    summary = kpis.kpi_summary(store, start, end, area=area, domain=domain, as_of=end)
    domains = kpis.kpi_table(store, start, end, group_by="domain", parent=area, as_of=end)
    return Drill(code, child, shapes, rows.reset_index(drop=True), summary, domains, incidents)


def fit_box(cfg: Config, code: str) -> list[float]:
    """[west, south, east, north] of an area's drawn shape."""
    lat0, lon0, lat1, lon1 = geo.extent(cfg, code)
    return [lon0, lat0, lon1, lat1]


def area_labels(cfg: Config, codes: list[str]) -> list[list]:
    """[lon, lat, name] per shown area: assets/ops.js writes the names over the map (no glyphs offline)."""
    return [[cfg.area_by_code[c].centroid[1], cfg.area_by_code[c].centroid[0], cfg.area_by_code[c].name]
            for c in codes if c in cfg.area_by_code]


def map_figure(drill: Drill, cfg: Config, kpi: str) -> go.Figure:
    """Grey base cells (every area clickable) under the KPI colouring, named; a grid shows its incidents instead."""
    spec = kpis.KPIS[kpi]
    center, zoom = map_view(cfg, drill.code)
    rows = drill.rows
    values = rows[kpi].astype(float)
    text = [f"{n}<br>{spec.name}：{fmt(v, spec.unit)}" for n, v in zip(rows["name"], values, strict=True)]
    base = go.Choroplethmap(
        geojson=drill.shapes, locations=rows["code"], z=[0] * len(rows), featureidkey="id",
        colorscale=[[0, "#1b2740"], [1, "#1b2740"]], showscale=False, marker={"line": {"color": "#3a4a6b", "width": 1}},
        hovertext=text, hoverinfo="text", name="",
    )
    traces: list = [base]
    if drill.incidents is not None:
        traces += incident_traces(cfg, drill)
    else:
        known = values.notna()
        traces.append(go.Choroplethmap(
            geojson=drill.shapes, locations=rows["code"][known], z=values[known], featureidkey="id",
            colorscale="RdYlGn" if spec.unit == "rate" else "YlOrRd",
            # Rates on 0–100 %, counts and hours from 0: a single area never gets a 76.6–77.4 scale.
            zmin=0, zmax=1 if spec.unit == "rate" else max(float(values[known].max()) if known.any() else 1, 1),
            marker={"opacity": 0.75, "line": {"color": "#0b1220", "width": 1}},
            colorbar={"title": {"text": spec.name + ("（小时）" if spec.unit == "minutes" else "")},
                      "tickformat": ".0%" if spec.unit == "rate" else None, "thickness": 12},
            hovertext=[t for t, k in zip(text, known, strict=True) if k], hoverinfo="text", name="",
        ))
    fig = go.Figure(traces)
    fig.update_layout(map={"style": MAP_STYLE, "center": center, "zoom": zoom}, margin=dict(l=0, r=0, t=0, b=0),
                      uirevision=drill.code, clickmode="event",
                      # assets/ops.js fits this box to the panel's real size (a laptop's is smaller than 760x540).
                      meta={"labels": area_labels(cfg, list(rows["code"])), "fit": fit_box(cfg, drill.code)},
                      showlegend=drill.incidents is not None,
                      legend={"bgcolor": "rgba(11,18,32,0.8)", "x": 0.01, "y": 0.01, "yanchor": "bottom"}, **DARK)
    return fig


def incident_traces(cfg: Config, drill: Drill) -> list:
    """The grid's incidents as dots by domain (position, else the grid's centroid), legend named in Chinese."""
    df = drill.incidents
    centroid = cfg.area_by_code[drill.code].centroid
    traces = []
    for code in (*DOMAIN_CODES, UNCLASSIFIED):
        part = df[df["domain"] == code]
        if part.empty:
            continue
        lat = part["lat"].astype(float).fillna(centroid[0])
        lon = part["lon"].astype(float).fillna(centroid[1])
        traces.append(go.Scattermap(
            lat=lat, lon=lon, mode="markers", name=f"{DOMAIN_NAMES.get(code, code)}（{len(part)}）",
            marker={"size": 12, "color": domain_color(code)},
            hovertext=[f"#{i} {display_title(t)}" for i, t in zip(part["incident_id"], part["title"], strict=True)],
            hoverinfo="text",
        ))
    return traces


def ranking_figure(drill: Drill, kpi: str) -> go.Figure:
    spec = kpis.KPIS[kpi]
    rows = drill.rows.dropna(subset=[kpi]).sort_values(kpi, ascending=True).tail(15)
    fig = go.Figure(go.Bar(x=rows[kpi], y=rows["name"], orientation="h", marker_color="#3e9bff",
                           text=[fmt(v, spec.unit) for v in rows[kpi]], textposition="auto",
                           hoverinfo="skip"))
    fig.update_layout(margin=dict(l=8, r=8, t=30, b=8), title={"text": f"{spec.name}排名", "font": {"size": 14}},
                      xaxis={"tickformat": ".0%" if spec.unit == "rate" else None, "gridcolor": "#24314f"},
                      height=max(220, 26 * len(rows) + 60), **DARK)
    return fig


def domain_figure(drill: Drill, cfg: Config) -> go.Figure:
    df = drill.domains[drill.domains["created"] > 0]
    order = [d for d in (*DOMAIN_CODES, UNCLASSIFIED) if d in set(df["domain"])]
    df = df.set_index("domain").loc[order]
    colours = [cfg.domain_by_code[d].color if d in cfg.domain_by_code else "#8b8d98" for d in order]
    fig = go.Figure(go.Pie(labels=[DOMAIN_NAMES.get(d, d) for d in order], values=df["created"], hole=0.55,
                           marker={"colors": colours}, sort=False, textinfo="label+value"))
    fig.update_layout(margin=dict(l=8, r=8, t=30, b=8), title={"text": "领域构成（受理数）", "font": {"size": 14}},
                      showlegend=False, height=260, **DARK)
    return fig


class View(NamedTuple):
    """How the page shows a place (everything in the URL but the place): what a place link keeps."""

    kpi: str
    span: str
    domain: str | None


def place_link(code: str, name: str, view: View, class_name: str) -> html.A:
    """Going to a place is a link. assets/ops.js turns its click into the page's own URL change at once
    (`dash_clientside.set_props` on areas-url), so a click can never be lost to a redraw; a pattern-matching
    button was: after Back/Forward its click reached `navigate` merged with the redraw of the buttons and was
    read as "not clicked" (the flaky drill-down test). Middle-click and copy-link work as for any link."""
    search = place_query(code, view.kpi, view.span, view.domain)
    return html.A(name, href=PATH + search, id={"type": ids.AREAS_GOTO, "code": code}, className=class_name,
                  **{"data-areas-search": search})


def crumbs(cfg: Config, code: str, scope: str, view: View) -> list:
    items = trail(cfg, code, scope)
    out: list = []
    for i, (c, name) in enumerate(items):
        if i:
            out.append(html.Span(" › ", style={"color": "#8fa1c0"}))
        if c == code:
            out.append(html.Span(name, className="areas-crumb-current", style={"fontWeight": 700}))
        else:
            out.append(place_link(c, name, view, "areas-link areas-crumb"))
    return out


def table(drill: Drill, cfg: Config, view: View) -> dmc.Table:
    if drill.incidents is not None:
        return incident_table(drill, cfg)
    can_go_down = drill.level != area_tree.level(cfg, drill.code)
    head = dmc.TableThead(dmc.TableTr([dmc.TableTh(LEVEL_NAMES[drill.level])]
                                      + [dmc.TableTh(kpis.KPIS[k].name) for k in TABLE_KPIS]))
    body = []
    for row in drill.rows.sort_values(["created", "code"], ascending=[False, True]).itertuples(index=False):
        data = row._asdict()
        name = place_link(data["code"], data["name"], view, "areas-link areas-row-link") if can_go_down else data["name"]
        body.append(dmc.TableTr([dmc.TableTd(name)]
                                + [dmc.TableTd(fmt(data[k], kpis.KPIS[k].unit)) for k in TABLE_KPIS]))
    return dmc.Table([head, dmc.TableTbody(body)], striped=True, highlightOnHover=True, withTableBorder=True,
                     fz="sm")


UNIT_COLUMNS = ("assigned", "accept_on_time_rate", "return_rate", "unit_on_time_rate", "unit_rework_rate",
                "unit_satisfaction_rate", "extensions", "supervisions")
BAND_LABELS = {"good": "优", "fair": "中", "poor": "差", "none": "—"}


def unit_table(units: pd.DataFrame, cfg: Config) -> dmc.Table:
    """责任单位排名: each unit's numbers from the KPI module, its row coloured by the band of its 综合得分."""
    head = dmc.TableThead(dmc.TableTr([dmc.TableTh(h) for h in ("排名", "责任单位")]
                                      + [dmc.TableTh(kpis.UNIT_KPIS[k].name) for k in UNIT_COLUMNS]
                                      + [dmc.TableTh("综合得分"), dmc.TableTh("等级")]))
    body = [dmc.TableTr([dmc.TableTd(int(r["rank"])), dmc.TableTd(unit_name(cfg, r["unit"]))]
                        + [dmc.TableTd(fmt(r[k], kpis.UNIT_KPIS[k].unit)) for k in UNIT_COLUMNS]
                        + [dmc.TableTd("—" if pd.isna(r["score"]) else f"{r['score']:.1f}"),
                           dmc.TableTd(BAND_LABELS[r["band"]])],
                        className=f"unit-band unit-band-{r['band']}")
            for r in units.to_dict("records")]
    if not body:
        body = [dmc.TableTr(html.Td("此时段本区域无派单", colSpan=len(UNIT_COLUMNS) + 4))]
    return dmc.Table([head, dmc.TableTbody(body)], highlightOnHover=True, withTableBorder=True, fz="sm",
                     className="areas-units")


def incident_table(drill: Drill, cfg: Config) -> dmc.Table:
    """A grid's incidents in the range, newest first."""
    head = dmc.TableThead(dmc.TableTr([dmc.TableTh(h) for h in ("编号", "标题", "领域", "等级", "状态", "创建时间")]))
    tz = cfg.site.timezone
    body = [dmc.TableTr([dmc.TableTd(f"#{int(r['incident_id'])}"), dmc.TableTd(display_title(r["title"])),
                         dmc.TableTd(DOMAIN_NAMES.get(r["domain"], r["domain"])), dmc.TableTd(r["severity"]),
                         dmc.TableTd(status_name(r["status"])),
                         dmc.TableTd(local_time(r["created_at"].to_pydatetime(), tz, "%m-%d %H:%M"))])
            for r in drill.incidents.to_dict("records")]
    if not body:
        body = [dmc.TableTr(html.Td("此时段本网格无事件", colSpan=6))]
    return dmc.Table([head, dmc.TableTbody(body)], striped=True, highlightOnHover=True, withTableBorder=True,
                     fz="sm", className="areas-incidents")


def summary_cards(summary: dict) -> list:
    keys = ("created", "open", "overdue", "ack_on_time_rate", "resolved_rate", "resolved_on_time_rate")
    return [
        dmc.Paper([dmc.Text(kpis.KPIS[k].name, size="xs", c="dimmed"),
                   dmc.Text(fmt(summary.get(k), kpis.KPIS[k].unit), size="xl", fw=700)],
                  p="xs", withBorder=True, style={"minWidth": 110}, className="ops-card")
        for k in keys
    ]


# --- page -----------------------------------------------------------------------------------


def layout(code: str | None = None, kpi: str | None = None, domain: str | None = None, **query: object):
    user, stub = gate("areas")
    if stub is not None:
        return stub
    cfg = get_context().cfg
    place = clean_place(cfg, code, user.scope)
    kpi = kpi if kpi in kpis.KPIS else DEFAULT_KPI
    span = query.get("range") if query.get("range") in RANGES else DEFAULT_RANGE
    domain = domain if domain in cfg.domain_by_code or domain == UNCLASSIFIED else "all"
    controls = dmc.Group(
        [
            html.Div(crumbs(cfg, place, user.scope, View(kpi, str(span), domain)), id=ids.AREAS_BREADCRUMBS,
                     style={"flex": 1}),
            dmc.Select(id=ids.AREAS_KPI, data=[{"value": k.key, "label": k.name} for k in kpis.KPIS.values()],
                       value=kpi, allowDeselect=False, w=190, label="着色指标"),
            dmc.Select(id=ids.AREAS_DOMAIN, value=domain, allowDeselect=False, w=140, label="领域",
                       data=[{"value": "all", "label": "全部领域"}]
                       + [{"value": d, "label": DOMAIN_NAMES[d]} for d in (*DOMAIN_CODES, UNCLASSIFIED)]),
            dmc.SegmentedControl(id=ids.AREAS_RANGE, value=span, data=[{"value": k, "label": v} for k, v in RANGES.items()]),
        ],
        align="flex-end",
    )
    body = dmc.Grid(
        [
            dmc.GridCol([dcc.Graph(id=ids.AREAS_MAP, config={"displayModeBar": False, "scrollZoom": True,
                                                             "responsive": True},
                                   className="areas-map")], span={"base": 12, "lg": 7}),
            dmc.GridCol([html.Div(id=ids.AREAS_SUMMARY, style={"display": "flex", "gap": 8, "flexWrap": "wrap"}),
                         dcc.Graph(id=ids.AREAS_DOMAIN_MIX, config={"displayModeBar": False})],
                        span={"base": 12, "lg": 5}),
            dmc.GridCol([html.Div(id=ids.AREAS_TABLE, style={"overflowX": "auto"})], span={"base": 12, "lg": 8}),
            dmc.GridCol([dcc.Graph(id=ids.AREAS_RANKING, config={"displayModeBar": False})],
                        span={"base": 12, "lg": 4}),
            dmc.GridCol([html.H4("责任单位排名", style={"margin": "8px 0"}),
                         html.Div(id=ids.AREAS_UNITS, style={"overflowX": "auto"})], span=12),
        ],
        gutter="md",
    )
    return shell("areas", user, dcc.Location(id=ids.AREAS_URL, refresh=False),
                 dcc.Store(id=ids.AREAS_STATE, data={"code": place}), dcc.Store(id=ids.AREAS_SCROLL),
                 html.H3(id=ids.AREAS_TITLE, style={"margin": "4px 0 8px"}), controls, body)


def place_query(code: str, kpi: str, span: str, domain: str | None) -> str:
    """The URL query of one view: what Back, Forward and a shared link restore."""
    query = {"code": code, "kpi": kpi, "range": span} | ({"domain": domain} if domain not in (None, "all") else {})
    return "?" + urlencode(query)


def parse_query(search: str | None) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items()}


@callback(
    Output(ids.AREAS_URL, "search"),
    Input(ids.AREAS_MAP, "clickData"),
    Input(ids.AREAS_KPI, "value"),
    Input(ids.AREAS_RANGE, "value"),
    Input(ids.AREAS_DOMAIN, "value"),
    State(ids.AREAS_STATE, "data"),
    State(ids.AREAS_URL, "search"),
    prevent_initial_call=True,
)
def navigate(click, kpi, span, domain, state, search):
    """A map click or a control: a new URL (a history entry), checked against scope. Breadcrumbs and the table's
    places are links (`place_link`), which change the URL in the browser."""
    trig = ctx.triggered_id
    code = (state or {}).get("code")
    if trig == ids.AREAS_MAP:
        points = (click or {}).get("points") or []
        code = points[0].get("location") if points else None
    user = gate("areas")[0]
    cfg = get_context().cfg
    if user is None or not code or clean_place(cfg, code, user.scope) != code:
        return no_update
    kpi = kpi if kpi in kpis.KPIS else DEFAULT_KPI
    span = span if span in RANGES else DEFAULT_RANGE
    wanted = place_query(code, kpi, span, domain)
    return no_update if wanted == search else wanted


@callback(
    Output(ids.AREAS_TITLE, "children"),
    Output(ids.AREAS_BREADCRUMBS, "children"),
    Output(ids.AREAS_MAP, "figure"),
    Output(ids.AREAS_SUMMARY, "children"),
    Output(ids.AREAS_TABLE, "children"),
    Output(ids.AREAS_RANKING, "figure"),
    Output(ids.AREAS_DOMAIN_MIX, "figure"),
    Output(ids.AREAS_STATE, "data"),
    Output(ids.AREAS_KPI, "value"),
    Output(ids.AREAS_RANGE, "value"),
    Output(ids.AREAS_DOMAIN, "value"),
    Output(ids.AREAS_UNITS, "children"),
    Input(ids.AREAS_URL, "search"),
    State(ids.AREAS_KPI, "value"),
    State(ids.AREAS_RANGE, "value"),
    State(ids.AREAS_DOMAIN, "value"),
)
def render(search, kpi_now, span_now, domain_now):
    """Everything from the URL, so Back and Forward (which change only the URL) restore the page."""
    user = gate("areas")[0]
    if user is None:
        return (no_update,) * 12
    app = get_context()
    cfg = app.cfg
    query = parse_query(search)
    code = clean_place(cfg, query.get("code"), user.scope)
    kpi = query.get("kpi") if query.get("kpi") in kpis.KPIS else DEFAULT_KPI
    span = query.get("range") if query.get("range") in RANGES else DEFAULT_RANGE
    domain = query.get("domain")
    domain = domain if domain in cfg.domain_by_code or domain == UNCLASSIFIED else "all"
    start, end = range_bounds(span, app.clock(), cfg.site.timezone)
    drill = load_drill(app.store, cfg, code, start, end, None if domain == "all" else domain)
    title = (f"{area_tree.name(cfg, code)} · {RANGES[span]} · " +
             (f"下级{LEVEL_NAMES[drill.level]} {len(drill.rows)} 个" if drill.incidents is None
              else f"本网格事件（含误报） {len(drill.incidents)} 起"))
    title += silent_note(app.health(), code)
    same = lambda new, old: no_update if new == old else new  # noqa: E731 - setting a control re-triggers navigate
    view = View(kpi, span, None if domain == "all" else domain)
    return (title, crumbs(cfg, code, user.scope, view), map_figure(drill, cfg, kpi), summary_cards(drill.summary),
            table(drill, cfg, view), ranking_figure(drill, kpi), domain_figure(drill, cfg), {"code": code},
            same(kpi, kpi_now), same(span, span_now), same(domain, domain_now),
            unit_table(kpis.unit_kpis(app.store, start, end, area=code, as_of=app.clock()), cfg))


# After a drill (a new URL) the page starts at its top, where the map and the breadcrumbs are.
dash.clientside_callback(
    "function (search) { window.scrollTo(0, 0); return search || ''; }",
    Output(ids.AREAS_SCROLL, "data"),
    Input(ids.AREAS_URL, "search"),
    prevent_initial_call=True,
)

