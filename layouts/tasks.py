"""本单位任务 /tasks: a responsible unit's queue by deadline, on a phone or at a desk; actions in tasks_actions."""

from __future__ import annotations

from typing import Any

import dash
import dash_mantine_components as dmc
from dash import ALL, Input, Output, State, callback, dcc, html, no_update

from layouts import ids, photo_upload, tasks_actions
from layouts.common import current_user, data_version, gate, server_clock, shell, tapped
from layouts.task_cards import hung_list, task_detail, task_list
from ops_center.core.units import HANG_KINDS, unit_name
from ops_center.read import work_queue
from ops_center.read.queries import read_scope
from ops_center.web.context import get_context

dash.register_page(__name__, path="/tasks", title="本单位任务", name="本单位任务")

TICK_MS = 5000


def layout(**_: Any) -> Any:
    user, stub = gate("tasks")
    if stub is not None:
        return stub
    cfg = get_context().cfg
    head = html.Div([
        html.H3(unit_name(cfg, user.unit) or "未关联责任单位", className="phone-h"),
        html.Div(id=ids.TASKS_COUNT, className="task-meta"),
    ], className="phone-card")
    queue = html.Section([html.H4("待办（按时限排序）", className="phone-sub"),
                          html.Ul(id=ids.TASKS_LIST, className="task-list")], className="phone-card")
    hung = html.Section([html.H4("挂账（长期办理，不计超期）", className="phone-sub"),
                         html.Ul(id=ids.TASKS_HUNG, className="task-list")], className="phone-card")
    actions = html.Section([
        html.Div(id=ids.TASKS_DETAIL, children=html.Div("点选一项任务开始办理", className="dim")),
        dmc.Textarea(id=ids.TASKS_NOTE, label="说明 / 理由", placeholder="退单、反馈、延期、挂账都需填写", autosize=True,
                     minRows=2, size="lg"),
        photo_upload.picker(ids.TASKS_PHOTOS, ids.TASKS_PHOTO_IDS, ids.TASKS_PHOTO_PREVIEW, "拍照 / 选择处置照片"),
        html.Div([_button("accept", "签收", "btn-primary"), _button("feedback", "处置反馈", "btn-primary"),
                  _button("return_order", "退单", "btn-danger")], className="btn-row"),
        html.Div([
            dmc.NumberInput(id=ids.TASKS_EXT_HOURS, label="延期（小时）", value=24, min=1, max=24 * 30, step=1, size="lg"),
            _button("request_extension", "申请延期", "btn-warn"),
        ], className="btn-row align-end"),
        html.Div([
            dmc.Select(id=ids.TASKS_HANG_KIND, label="挂账类型", data=[{"value": k, "label": v} for k, v in HANG_KINDS.items()],
                       value="engineering", allowDeselect=False, size="lg"),
            _button("hang", "转挂账", "btn-warn"),
        ], className="btn-row align-end"),
        html.Div(id=ids.TASKS_MESSAGE, role="status"),
    ], className="phone-card task-actions")
    root = html.Div([
        html.Div([head, queue, hung], className="tasks-column"),
        html.Div([actions], className="tasks-column"),
        dcc.Store(id=ids.TASKS_SELECTED),
        dcc.Store(id=ids.TASKS_SEEN),
        dcc.Store(id=ids.TASKS_REFRESH, data=0),
        dcc.Interval(id=ids.TASKS_TICK, interval=TICK_MS),
    ], id=ids.TASKS_ROOT, className="phone-page tasks-page")
    return shell("tasks", user, root)


def _button(action: str, label: str, kind: str) -> html.Button:
    return html.Button(label, id=ids.TASKS_ACTIONS[action], className=f"btn btn-big {kind}", n_clicks=0, disabled=True,
                       type="button")


@callback(
    Output(ids.TASKS_LIST, "children"),
    Output(ids.TASKS_HUNG, "children"),
    Output(ids.TASKS_COUNT, "children"),
    Output(ids.TASKS_SEEN, "data"),
    Input(ids.TASKS_TICK, "n_intervals"),
    Input(ids.TASKS_REFRESH, "data"),
    Input(ids.TASKS_SELECTED, "data"),
    State(ids.TASKS_SEEN, "data"),
)
def load_queue(_tick, refresh, selected, seen):
    """The unit's open assignments, soonest deadline first, and its 挂账 cases apart (redrawn only on a change)."""
    key = [data_version(), refresh, (selected or {}).get("assignment_id")]
    if seen == key:
        return no_update, no_update, no_update, no_update
    ctx = get_context()
    user = current_user()
    now = ctx.clock()
    df = work_queue.unit_queue(ctx.store, user.unit, read_scope(ctx.cfg, user), now)
    tz = ctx.cfg.site.timezone
    picked = (selected or {}).get("assignment_id")
    open_rows, hung_rows = tasks_actions.split_hung(df)
    pending = int((open_rows["assignment_status"] == "pending").sum()) if not open_rows.empty else 0
    count = [html.Span(f"待签收 {pending}"), html.Span(f"办理中 {len(open_rows) - pending}"),
             html.Span(f"挂账 {len(hung_rows)}"), server_clock(now)]
    return task_list(open_rows, picked), hung_list(hung_rows, tz, picked), count, key


@callback(
    Output(ids.TASKS_SELECTED, "data"),
    Input({"type": ids.TASKS_OPEN, "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def pick(clicks):
    """A tap on a task opens it (the button re-rendering is not a tap)."""
    trig = dash.ctx.triggered_id
    if not any(clicks or []) or not tapped(trig):
        return no_update
    return {"assignment_id": int(trig["id"])}


@callback(
    Output(ids.TASKS_DETAIL, "children"),
    *[Output(ids.TASKS_ACTIONS[a], "disabled") for a in tasks_actions.ACTIONS],
    Input(ids.TASKS_SELECTED, "data"),
    Input(ids.TASKS_REFRESH, "data"),
)
def show_task(selected, _refresh):
    """The chosen task's case and history; only the actions its state allows are enabled."""
    none = [True] * len(tasks_actions.ACTIONS)
    if not selected:
        return html.Div("点选一项任务开始办理", className="dim"), *none
    ctx = get_context()
    user = current_user()
    item = tasks_actions.work_item(ctx, user, int(selected["assignment_id"]))
    if item is None:
        return html.Div("该任务不存在或已不属于本单位", className="dim"), *none
    allowed = tasks_actions.allowed(item)
    return task_detail(item, ctx.cfg.site.timezone), *[a not in allowed for a in tasks_actions.ACTIONS]


tasks_actions.callbacks()
photo_upload.register(ids.TASKS_PHOTOS, ids.TASKS_PHOTO_IDS, ids.TASKS_PHOTO_PREVIEW, ids.TASKS_MESSAGE)
