"""值班台 detail pane: the selected case's head, timeline, location, source reports and related cases."""

from __future__ import annotations

from typing import Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, State, callback, dcc, html, no_update

from layouts import console_dispatch, console_open, ids
from layouts.common import (
    BLANK_FIGURE,
    MAP_STYLE_URL,
    area_name,
    countdown,
    current_user,
    display_title,
    domain_name,
    epoch_ms,
    local_time,
    severity_name,
    status_name,
    text_or_empty,
)
from layouts.console_actions import ACTIONS
from layouts.console_timeline import timeline_view
from layouts.fed_banner import command_notes
from ops_center.core import geo
from ops_center.core.area_codes import ancestors, level_of, street_of
from ops_center.core.domains import DOMAIN_CODES, LEVEL_NAMES, SOURCE_NAMES
from ops_center.read import queries
from ops_center.service.incidents import allowed_actions
from ops_center.web.context import get_context


def detail_pane(actions: html.Div) -> html.Div:
    """The case's head, its work order and the action pane, then the blocks that explain it."""
    detail = html.Div(
        [
            html.Div(id=ids.CONSOLE_DETAIL, className="detail-head", children=html.Div("选择左侧事件查看详情", className="dim")),
            console_dispatch.workorder_block(),  # who has the case now, and a 退单 to rule on, before the buttons
            actions,
            html.Div(
                [
                    html.Div([html.H4("处置时间线"), html.Div(id=ids.CONSOLE_TIMELINE)], className="detail-block"),
                    html.Div([html.H4("定位"), dcc.Graph(id=ids.CONSOLE_PIN, config={"displayModeBar": False},
                                                       figure=BLANK_FIGURE, className="console-pin")],
                             className="detail-block"),
                    html.Div([html.H4("来源报告"), html.Div(id=ids.CONSOLE_REPORTS)], className="detail-block"),
                    html.Div([html.H4("关联 / 已合并事件"), html.Div(id=ids.CONSOLE_RELATED)], className="detail-block"),
                ],
                className="detail-body",
            ),
        ],
        className="console-detail",
    )
    return detail


def extension_view(pending: dict | None, tz: str) -> Any:
    """The pending 延期 request: who asked, when, how long and why (approved by a leader or admin)."""
    if not pending:
        return None
    return html.Span(f"待审批延期 #{pending['extension_id']}：{pending['seconds'] / 3600:g} 小时 · "
                     f"{pending['requested_by']} {local_time(pending['requested_at'], tz)} 申请 · 理由：{pending['reason']}",
                     className="msg msg-warn")


def _badge(text: str, cls: str = "") -> html.Span:
    return html.Span(text, className=f"badge {cls}")


def detail_head(inc: dict, tz: str) -> list:
    iid = int(inc["incident_id"])
    area = inc["area_code"]
    path = " / ".join(area_name(c) for c in (*ancestors(area), area))
    is_new = inc["status"] == "new"
    due = inc["ack_due_at"] if is_new else inc["resolve_due_at"]
    return [
        html.Div([html.Span(f"#{iid}", className="detail-id"), html.Span(display_title(inc["title"]), className="detail-title")],
                 className="detail-title-row"),
        html.Div(
            [_badge(severity_name(inc["severity"]), f"sev-{inc['severity']}"), _badge(status_name(inc["status"])),
             _badge(domain_name(inc["domain"])), _badge(LEVEL_NAMES.get(inc["level"], inc["level"])),
             _badge(_department_name(inc.get("department")))],
            className="badges",
        ),
        html.Div(
            [html.Span(f"位置：{path}"),
             html.Span(f"创建：{local_time(inc['created_at'], tz, '%Y-%m-%d %H:%M')}"),
             html.Span(["时限：", countdown(epoch_ms(due), label="受理" if is_new else "办结")]
                       if inc["status"] in ("new", "acknowledged", "dispatched") else "时限：—"),
             html.Span(f"上报 {int(inc['report_count'])} 次")],
            className="detail-meta",
        ),
    ]


def _department_name(code: str | None) -> str:
    if not code:
        return "未派遣"
    dept = next((d for d in get_context().cfg.departments if d.code == code), None)
    return dept.name if dept else code


def reports_view(df: Any, tz: str) -> Any:
    if df is None or df.empty:
        return html.Div("无关联的来源报告", className="dim")
    return html.Ul([
        html.Li([
            html.Span(local_time(r["occurred_at"].to_pydatetime(), tz, "%m-%d %H:%M"), className="tl-time"),
            html.Span(SOURCE_NAMES.get(r["source"], r["source"]), className="tl-actor"),
            html.Div(text_or_empty(r["text"]) or text_or_empty(r["kind"]), className="report-text"),
            html.Div(text_or_empty(r["address"]), className="dim") if text_or_empty(r["address"]) else None,
        ])
        for r in df.to_dict("records")
    ], className="reports")


def related_view(df: Any, inc: dict, tz: str) -> Any:
    if df is None or df.empty:
        return html.Div("无", className="dim")
    items = []
    for r in df.to_dict("records"):
        if r["merged_into"] == inc["incident_id"]:
            relation = "已合并入本事件"
        elif r["incident_id"] == inc.get("merged_into"):
            relation = "本事件已并入此事件"
        else:
            relation = "同街道同领域，可合并"
        items.append(html.Li([
            html.Span(f"#{int(r['incident_id'])}", className="tl-actor"),
            html.Span(display_title(r["title"])),
            html.Span(f"{status_name(r['status'])} · {local_time(r['created_at'].to_pydatetime(), tz)} · {relation}",
                      className="dim"),
        ]))
    return html.Ul(items, className="related")


def _pin_figure(inc: dict | None) -> go.Figure:
    """The incident's street with a pin at its position (or its area's centroid)."""
    cfg = get_context().cfg
    traces: list[Any] = []
    center, zoom = {"lat": cfg.site.city.centroid[0], "lon": cfg.site.city.centroid[1]}, 11
    if inc is not None:
        area = inc["area_code"]
        street = street_of(area) or area
        fc = geo.area_polygons(cfg, "community", street) if level_of(street) == "street" else None
        if fc and fc["features"]:
            codes = [f["properties"]["code"] for f in fc["features"]]
            traces.append(go.Choroplethmap(
                geojson=fc, locations=codes, featureidkey="properties.code", z=[1] * len(codes), showscale=False,
                colorscale=[[0, "#17284a"], [1, "#17284a"]], marker={"line": {"color": "#4f6b9a", "width": 1}},
                text=[f["properties"]["name"] for f in fc["features"]], hoverinfo="text",
            ))
        lat, lon = inc.get("lat"), inc.get("lon")
        if not text_or_empty(lat) or not text_or_empty(lon):  # None, NaN and pd.NA alike: the area's centroid
            a = cfg.area_by_code.get(area)
            lat, lon = a.centroid if a else cfg.site.city.centroid
        lat, lon = float(lat), float(lon)
        traces.append(go.Scattermap(lat=[lat], lon=[lon], mode="markers", hoverinfo="skip",
                                    marker={"size": 16, "color": "#ff5c5c"}))
        min_lat, min_lon, max_lat, max_lon = geo.extent(cfg, street)
        inside = min_lat <= lat <= max_lat and min_lon <= lon <= max_lon
        # A pin outside its street's box (a reported position off the area) is centred, never out of view.
        center = ({"lat": (min_lat + max_lat) / 2, "lon": (min_lon + max_lon) / 2} if inside
                  else {"lat": lat, "lon": lon})
        zoom = 13
    fig = go.Figure(traces or [go.Scattermap(lat=[], lon=[])])
    fig.update_layout(map={"style": MAP_STYLE_URL, "center": center, "zoom": zoom}, showlegend=False,
                      paper_bgcolor="#0a1222", margin={"l": 0, "r": 0, "t": 0, "b": 0}, height=220)
    return fig


def callbacks() -> None:
    """Registered by layouts/console.py once per app."""

    @callback(
        Output(ids.CONSOLE_SELECTED, "data"),
        Output(ids.CONSOLE_DETAIL, "children"),
        Output(ids.CONSOLE_TIMELINE, "children"),
        Output(ids.CONSOLE_REPORTS, "children"),
        Output(ids.CONSOLE_RELATED, "children"),
        Output(ids.CONSOLE_PIN, "figure"),
        Output(ids.CONSOLE_MERGE_TARGET, "data"),
        Output(ids.CONSOLE_DEPARTMENT, "value"),
        Output(ids.CONSOLE_DOMAIN, "value"),
        *[Output(ids.CONSOLE_ACTIONS[a], "disabled") for a in ACTIONS],
        Output(ids.CONSOLE_EXT_REJECT, "disabled"),
        Output(ids.CONSOLE_EXTENSION, "children"),
        Input(ids.CONSOLE_GRID, "selectedRows"),
        Input(ids.CONSOLE_REFRESH, "data"),
        State(ids.CONSOLE_SELECTED, "data"),
    )
    def show_detail(selected_rows, _refresh, current):
        ctx = get_context()
        user = current_user()
        rows = console_open.selected_rows(selected_rows)
        disabled_all = [True] * len(ACTIONS)
        if dash.ctx.triggered_id == ids.CONSOLE_REFRESH and current:
            rows = [current]  # after an action the detail stays on the incident acted on, whatever the grid did
        if len(rows) != 1:
            text = "选择左侧事件查看详情" if not rows else f"已选 {len(rows)} 条事件，可批量受理"
            return (None, html.Div(text, className="dim"), None, None, None, no_update, [], None, None,
                    *disabled_all, True, None)
        incident_id = int(rows[0]["incident_id"])
        detail = queries.incident_detail(ctx.store, incident_id, queries.read_scope(ctx.cfg, user))
        if detail is None:
            return (None, html.Div("事件不存在或不在您的管辖范围内", className="dim"), None, None, None, no_update, [], None, None,
                    *disabled_all, True, None)
        inc = detail.incident
        tz = ctx.cfg.site.timezone
        allowed = set(allowed_actions(inc["status"], user.role)) if user else set()
        pending = queries.pending_extension(ctx.store, incident_id)
        if pending is None:
            allowed.discard("decide_extension")  # nothing to decide
        else:
            allowed.discard("request_extension")  # one pending request at a time
        selected = {"incident_id": incident_id, "version": int(inc["version"]), "status": inc["status"],
                    "extension_id": pending["extension_id"] if pending else None}
        merge_targets = [
            {"value": str(int(r["incident_id"])), "label": f"#{int(r['incident_id'])} {r['title']}"}
            for r in detail.related.to_dict("records")
            if r["status"] in ("new", "acknowledged", "dispatched") and r["incident_id"] != incident_id
        ]
        return (
            selected,
            detail_head(inc, tz) + [html.Div(line, className=f"detail-fed-command detail-fed-{state}")
                                    for state, line in command_notes(detail.commands, tz, local_time)],
            timeline_view(detail.timeline, tz),
            reports_view(detail.reports, tz),
            related_view(detail.related, inc, tz),
            _pin_figure(inc),
            merge_targets,
            console_dispatch.suggestion(ctx.cfg, inc)[0],
            inc["domain"] if inc["domain"] in DOMAIN_CODES else None,
            *[a not in allowed for a in ACTIONS],
            "decide_extension" not in allowed,
            extension_view(pending, tz),
        )
