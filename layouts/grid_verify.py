"""网格上报 lists: the worker's own reports with their progress, and 核查 of resolved cases in their grids.

A block of the grid page (layouts/grid.py places `sections()` and calls `callbacks()`); a verification goes
through WorkOrderService.verify, which refuses the resolver and anyone outside the case's grid.
"""

from __future__ import annotations

import dash
import dash_mantine_components as dmc
from dash import ALL, Input, Output, State, callback, dcc, html, no_update

from layouts import ids, photo_upload
from layouts.common import (
    area_name,
    current_user,
    data_version,
    display_title,
    local_time,
    status_name,
    tapped,
    text_or_empty,
)
from ops_center.core.category_names import category_name
from ops_center.core.lifecycle import Conflict, ServiceError
from ops_center.read import work_queue
from ops_center.read.queries import read_scope
from ops_center.web.context import get_context
from ops_center.web.photo_route import photo_url

TICK_MS = 5000


def sections() -> list:
    verify = html.Section([
        html.H3("待核查", className="phone-h"),
        html.P("责任单位已反馈处置的事件：到现场查看，写明情况、拍照，再点该事件的“核查通过”或“不通过（返工）”。",
               className="dim phone-note"),
        html.Div([
            dmc.Textarea(id=ids.GRID_VERIFY_NOTE, label="核查说明（不通过须写明原因）", autosize=True, minRows=2, size="lg"),
            photo_upload.picker(ids.GRID_VERIFY_PHOTOS, ids.GRID_VERIFY_PHOTO_IDS, ids.GRID_VERIFY_PREVIEW,
                                "拍照 / 选择核查照片"),
        ], id=ids.GRID_VERIFY_FORM, className="phone-fields"),
        html.Div(id=ids.GRID_VERIFY_MESSAGE, role="status"),
        html.Ul(id=ids.GRID_VERIFY_LIST, className="task-list"),
    ], className="phone-card")
    mine = html.Section([html.H3("我的上报", className="phone-h"), html.Ul(id=ids.GRID_MINE, className="task-list")],
                        className="phone-card")
    return [verify, mine, dcc.Store(id=ids.GRID_REFRESH, data=0), dcc.Store(id=ids.GRID_SEEN),
            dcc.Interval(id=ids.GRID_TICK, interval=TICK_MS)]


def verify_items(df, tz: str) -> list:
    if df.empty:
        return [html.Li("暂无待核查事件", className="dim")]
    items = []
    for r in df.to_dict("records"):
        iid = int(r["incident_id"])
        photos = [p for p in (r["feedback_photos"] if r["feedback_photos"] is not None else []) if p]
        items.append(html.Li([
            html.Div([html.Span(f"#{iid} ", className="dim"), display_title(r["title"])], className="task-title"),
            html.Div([html.Span(area_name(r["area_code"])),
                      html.Span(f"反馈于 {local_time(r['resolved_at'].to_pydatetime(), tz)}"),
                      html.Span(f"已返工 {int(r['verify_failures'])} 次") if int(r["verify_failures"] or 0) else None],
                     className="task-meta"),
            html.Div(f"处置情况：{text_or_empty(r['feedback_note'])}", className="task-text")
            if text_or_empty(r["feedback_note"]) else None,
            html.Div([html.Img(src=photo_url(iid, p), alt="处置照片") for p in photos], className="task-photos")
            if photos else None,
            html.Div([
                html.Button("核查通过", id={"type": ids.GRID_VERIFY_PASS, "id": iid, "version": int(r["version"])},
                            className="btn btn-big btn-primary", n_clicks=0, type="button"),
                html.Button("不通过（返工）", id={"type": ids.GRID_VERIFY_FAIL, "id": iid, "version": int(r["version"])},
                            className="btn btn-big btn-danger", n_clicks=0, type="button"),
            ], className="btn-row"),
        ], className="task-item", id=f"verify-{iid}"))
    return items


def report_items(df, tz: str) -> list:
    if df.empty:
        return [html.Li("还没有上报记录", className="dim")]
    items = []
    for r in df.to_dict("records"):
        has_case = r["incident_id"] is not None and r["incident_id"] == r["incident_id"]
        state = status_name(r["status"]) if has_case else "处理中"
        items.append(html.Li([
            html.Div(text_or_empty(r["text"])[:80], className="task-title"),
            html.Div([html.Span(local_time(r["occurred_at"].to_pydatetime(), tz)),
                      html.Span(category_name(r["reported_category"])) if text_or_empty(r["reported_category"]) else None,
                      html.Span(area_name(r["area_code"])),
                      html.Span(f"#{int(r['incident_id'])} {state}" if has_case else state, className="task-flag")],
                     className="task-meta"),
        ], className="task-item"))
    return items


def callbacks() -> None:
    """Registered by layouts/grid.py once per app."""

    @callback(
        Output(ids.GRID_VERIFY_LIST, "children"),
        Output(ids.GRID_MINE, "children"),
        Output(ids.GRID_SEEN, "data"),
        Output(ids.GRID_VERIFY_FORM, "style"),
        Input(ids.GRID_TICK, "n_intervals"),
        Input(ids.GRID_REFRESH, "data"),
        State(ids.GRID_SEEN, "data"),
    )
    def load(_tick, refresh, seen):
        """Both lists, queried again only after a committed change (own reports scan the grid events)."""
        key = [data_version(), refresh]
        if key == seen:
            return no_update, no_update, no_update, no_update
        ctx = get_context()
        user = current_user()
        tasks = work_queue.grid_tasks(ctx.store, user.username, read_scope(ctx.cfg, user))
        tz = ctx.cfg.site.timezone
        form = {"display": "none"} if tasks.verify.empty else {}  # the note and photo only when there is a case
        return verify_items(tasks.verify, tz), report_items(tasks.reports, tz), key, form

    @callback(
        Output(ids.GRID_VERIFY_MESSAGE, "children"),
        Output(ids.GRID_REFRESH, "data", allow_duplicate=True),
        Output(ids.GRID_VERIFY_NOTE, "value"),
        Output(ids.GRID_VERIFY_PHOTO_IDS, "data", allow_duplicate=True),
        Output(ids.GRID_VERIFY_PREVIEW, "children", allow_duplicate=True),
        Input({"type": ids.GRID_VERIFY_PASS, "id": ALL, "version": ALL}, "n_clicks"),
        Input({"type": ids.GRID_VERIFY_FAIL, "id": ALL, "version": ALL}, "n_clicks"),
        State(ids.GRID_VERIFY_NOTE, "value"),
        State(ids.GRID_VERIFY_PHOTO_IDS, "data"),
        State(ids.GRID_REFRESH, "data"),
        prevent_initial_call=True,
    )
    def verify(_passes, _fails, note, photos, refresh):
        trig = dash.ctx.triggered_id
        if not tapped(trig):
            return (no_update,) * 5  # the list re-rendered, nobody tapped
        ctx = get_context()
        iid, passed = int(trig["id"]), trig["type"] == ids.GRID_VERIFY_PASS
        try:
            ctx.work_orders.verify(current_user().actor(), iid, int(trig["version"]), passed, (note or "").strip(),
                                   photos=tuple(photos or ()))
        except Conflict:
            return (photo_upload.note(f"#{iid} 刚有变化，已刷新，请核对后再核查", "warn"), (refresh or 0) + 1,
                    no_update, no_update, no_update)
        except ServiceError as exc:
            return photo_upload.note(exc.user_message, "error"), no_update, no_update, no_update, no_update
        text = f"#{iid} 核查通过，已结案" if passed else f"#{iid} 核查不通过，已退回责任单位返工"
        return photo_upload.note(text, "ok"), (refresh or 0) + 1, "", [], []
