"""督办台账 /supervision: every 督办 record in the reader's area, its countdown and state; leaders 延期 or 销号 here."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import dash
import dash_mantine_components as dmc
import pandas as pd
from dash import ALL, Input, Output, State, callback, dcc, html, no_update

from layouts import ids
from layouts.common import current_user, data_version, gate, local_time, server_clock, shell, tapped
from layouts.supervision_view import (
    SHOW_NAMES,
    by_unit,
    count_text,
    extended_due,
    ledger_table,
    record_detail,
    unit_options,
)
from ops_center.core.lifecycle import ROLE_ACTIONS, ServiceError
from ops_center.read import work_queue
from ops_center.read.queries import read_scope
from ops_center.web.context import get_context

dash.register_page(__name__, path="/supervision", title="督办台账", name="督办台账")

TICK_MS = 5000
NOTHING_PICKED = "点选一条督办记录的“办理”查看详情；点事件标题在值班台打开该事件"


def may_decide(user: Any) -> bool:
    """Whether the reader may 延期 or 销号 (the service checks again on every call)."""
    mine = ROLE_ACTIONS.get(user.role, frozenset()) if user is not None else frozenset()
    return {"close_supervision", "extend_supervision"} <= mine


def layout(**_: Any) -> Any:
    user, stub = gate("supervision")
    if stub is not None:
        return stub
    filters = html.Div([
        dmc.SegmentedControl(id=ids.SUPERVISION_SHOW, value="open",
                             data=[{"value": k, "label": v} for k, v in SHOW_NAMES.items()]),
        dmc.Select(id=ids.SUPERVISION_UNIT, placeholder="全部责任单位", clearable=True, searchable=True, data=[], w=240),
        html.Span(id=ids.SUPERVISION_COUNT, className="sv-count"),
    ], className="sv-filters")
    decide = may_decide(user)
    panel = html.Aside([
        html.Div(html.Div(NOTHING_PICKED, className="dim"), id=ids.SUPERVISION_DETAIL),
        html.Div([
            dmc.Textarea(id=ids.SUPERVISION_NOTE, label="说明（延期理由 / 销号说明）", autosize=True, minRows=2),
            html.Div([
                dmc.NumberInput(id=ids.SUPERVISION_HOURS, label="延长（小时）", value=24, min=1, max=24 * 30, step=1,
                                w=130),
                html.Button("督办延期", id=ids.SUPERVISION_EXTEND, className="btn btn-warn", disabled=True, n_clicks=0),
                html.Button("督办销号", id=ids.SUPERVISION_CLOSE, className="btn", disabled=True, n_clicks=0),
            ], className="action-row"),
        ], className="sv-actions", style=None if decide else {"display": "none"}),
        html.Div("延期和销号由领导办理" if not decide else "", className="dim"),
        html.Div(id=ids.SUPERVISION_MESSAGE, role="status"),
    ], className="sv-panel")
    root = html.Div([
        filters,
        html.Div([html.Div(id=ids.SUPERVISION_TABLE, className="sv-table-wrap"), panel], className="sv-body"),
        dcc.Store(id=ids.SUPERVISION_SELECTED),
        dcc.Store(id=ids.SUPERVISION_SEEN),
        dcc.Store(id=ids.SUPERVISION_REFRESH, data=0),
        dcc.Interval(id=ids.SUPERVISION_TICK, interval=TICK_MS),
    ], id=ids.SUPERVISION_ROOT, className="sv-page")
    return shell("supervision", user, root)


@callback(
    Output(ids.SUPERVISION_TABLE, "children"),
    Output(ids.SUPERVISION_UNIT, "data"),
    Output(ids.SUPERVISION_COUNT, "children"),
    Output(ids.SUPERVISION_SEEN, "data"),
    Input(ids.SUPERVISION_SHOW, "value"),
    Input(ids.SUPERVISION_UNIT, "value"),
    Input(ids.SUPERVISION_TICK, "n_intervals"),
    Input(ids.SUPERVISION_REFRESH, "data"),
    Input(ids.SUPERVISION_SELECTED, "data"),
    State(ids.SUPERVISION_SEEN, "data"),
)
def load_ledger(show, unit, _tick, refresh, selected, seen):
    """The reader's 督办 records (one query) when data, filters, the choice or the minute change; the table is
    redrawn only when what it shows changed, so a 办理 click is not lost to a redraw that changed nothing."""
    app = get_context()
    now = app.clock()
    picked = (selected or {}).get("supervision_id")
    key = [data_version(), show, unit, refresh, picked, int(now.timestamp() // 60)]
    seen = seen if isinstance(seen, dict) else {}
    if seen.get("key") == key:
        return no_update, no_update, no_update, no_update
    show = show if show in work_queue.SUPERVISION_SHOWS else "open"
    df = work_queue.supervision_list(app.store, read_scope(app.cfg, current_user()), now, show=show)
    rows = by_unit(df, unit)
    drawn = [show, unit, refresh, picked, rows_digest(df)]  # the countdowns tick in the browser (assets/ops.js)
    count = [count_text(rows), server_clock(now)]
    if seen.get("drawn") == drawn:  # the minute passed and no record changed state: keep the table's buttons
        return no_update, no_update, count, {"key": key, "drawn": drawn}
    tz = app.cfg.site.timezone
    return ledger_table(rows, app.cfg, tz, picked), unit_options(df, app.cfg), count, {"key": key, "drawn": drawn}


def rows_digest(df: pd.DataFrame) -> str:
    """Every value of the records, in order (their states follow the clock), as a short text for the browser."""
    return hashlib.blake2b(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes(), digest_size=8).hexdigest()


@callback(
    Output(ids.SUPERVISION_SELECTED, "data"),
    Input({"type": ids.SUPERVISION_PICK, "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def pick(clicks):
    """办理 on a row picks its record (the button re-rendering is not a click)."""
    trig = dash.ctx.triggered_id
    if not any(clicks or []) or not tapped(trig):
        return no_update
    return {"supervision_id": int(trig["id"])}


@callback(
    Output(ids.SUPERVISION_DETAIL, "children"),
    Output(ids.SUPERVISION_EXTEND, "disabled"),
    Output(ids.SUPERVISION_CLOSE, "disabled"),
    Input(ids.SUPERVISION_SELECTED, "data"),
    Input(ids.SUPERVISION_REFRESH, "data"),
)
def show_record(selected, _refresh):
    """The picked record, read again inside the reader's scope; 延期 and 销号 only while it is not closed."""
    if not selected:
        return html.Div(NOTHING_PICKED, className="dim"), True, True
    app = get_context()
    user = current_user()
    df = work_queue.supervision_list(app.store, read_scope(app.cfg, user), app.clock(), show="all",
                                     supervision_id=int(selected["supervision_id"]))
    if df.empty:
        return html.Div("该督办记录不存在或不在您的管辖范围内", className="dim"), True, True
    row = df.iloc[0].to_dict()
    locked = bool(pd.notna(row["closed_at"])) or not may_decide(user)
    return record_detail(row, app.cfg, app.cfg.site.timezone), locked, locked


@callback(
    Output(ids.SUPERVISION_MESSAGE, "children"),
    Output(ids.SUPERVISION_REFRESH, "data"),
    Output(ids.SUPERVISION_NOTE, "value"),
    Input(ids.SUPERVISION_EXTEND, "n_clicks"),
    Input(ids.SUPERVISION_CLOSE, "n_clicks"),
    State(ids.SUPERVISION_SELECTED, "data"),
    State(ids.SUPERVISION_NOTE, "value"),
    State(ids.SUPERVISION_HOURS, "value"),
    State(ids.SUPERVISION_REFRESH, "data"),
    prevent_initial_call=True,
)
def decide(extend_clicks, close_clicks, selected, note, hours, refresh):
    """延期 or 销号 through WorkOrderService, which checks role, scope and reason and writes the audit row."""
    trigger = dash.ctx.triggered_id
    if not (extend_clicks or close_clicks) or trigger not in (ids.SUPERVISION_EXTEND, ids.SUPERVISION_CLOSE):
        return no_update, no_update, no_update
    if not selected:
        return _message("请先在列表中点“办理”选择一条督办记录", "warn"), no_update, no_update
    app = get_context()
    if app.work_orders is None:
        return _message("派单服务未启动", "error"), no_update, no_update
    user = current_user()
    actor = user.actor()
    sid = int(selected["supervision_id"])
    note = (note or "").strip()
    tz = app.cfg.site.timezone
    try:
        if trigger == ids.SUPERVISION_CLOSE:
            app.work_orders.close_supervision(actor, sid, note)
            done = f"督办 #{sid} 已销号"
        else:
            if not hours or float(hours) <= 0:
                return _message("请填写延长的小时数", "warn"), no_update, no_update
            current = work_queue.supervision_list(app.store, read_scope(app.cfg, user), app.clock(), show="all",
                                                  supervision_id=sid)
            if current.empty:
                return _message("该督办记录不存在或不在您的管辖范围内", "error"), no_update, no_update
            due = extended_due(_utc(current.iloc[0]["due_at"]), app.clock(), float(hours))
            app.work_orders.extend_supervision(actor, sid, due, note)
            done = f"督办 #{sid} 已延期至 {local_time(due, tz, '%m-%d %H:%M')}"
    except ServiceError as exc:
        return _message(exc.user_message, "error"), (refresh or 0) + 1, no_update
    return _message(done, "ok"), (refresh or 0) + 1, ""


def _utc(value: Any) -> datetime:
    return value.to_pydatetime().astimezone(UTC)


def _message(text: str, kind: str) -> html.Div:
    return html.Div(text, className=f"msg msg-{kind}")
