"""值班台 回访 queue: closed hotline cases from the next working day; 不满意 reopens the case as 重办.

A block of the console (console_filters places `open_button()`, console.py `modal()` and calls `callbacks()`);
the rating goes through WorkOrderService.record_callback, which checks role, scope and the round itself.
"""

from __future__ import annotations

import dash
import dash_mantine_components as dmc
from dash import ALL, Input, Output, State, callback, dcc, html, no_update

from layouts import ids
from layouts.common import area_name, current_user, data_version, display_title, local_time, tapped
from ops_center.core.lifecycle import ServiceError
from ops_center.core.units import SATISFACTION, unit_name
from ops_center.read import work_queue
from ops_center.read.queries import read_scope
from ops_center.web.context import get_context

CALLERS = frozenset({"officer", "shift_lead", "admin"})


def open_button() -> html.Button:
    return html.Button("回访", id=ids.CONSOLE_REVISIT_OPEN, className="btn", n_clicks=0)


def modal() -> html.Div:
    return html.Div([dcc.Store(id=ids.CONSOLE_REVISIT_SEEN), dmc.Modal(
        [dmc.Textarea(id=ids.CONSOLE_REVISIT_NOTE, label="回访记录（不满意须写明原因）", autosize=True, minRows=2),
         html.Div(id=ids.CONSOLE_REVISIT_MESSAGE, role="status"),
         html.Ul(id=ids.CONSOLE_REVISIT_LIST, className="timeline revisit-list")],
        id=ids.CONSOLE_REVISIT_MODAL, title="回访队列（热线办结件，次个工作日起）", size="xl", opened=False,
    )])


def rows_view(df, cfg, tz: str, may_call: bool) -> list:
    if df.empty:
        return [html.Li("暂无待回访事件", className="dim")]
    items = []
    for r in df.to_dict("records"):
        iid = int(r["incident_id"])
        buttons = [html.Button(s, id={"type": ids.CONSOLE_REVISIT_RATE, "id": iid, "rating": s},
                               className="btn" + (" btn-danger" if s == "不满意" else ""), n_clicks=0,
                               disabled=not may_call) for s in SATISFACTION]
        items.append(html.Li([
            html.Span(f"#{iid}", className="tl-actor"),
            html.Span(display_title(r["title"])),
            html.Span(f"{area_name(r['area_code'])} · 主办 {unit_name(cfg, r['lead_unit']) or '—'} · "
                      f"结案 {local_time(r['closed_at'].to_pydatetime(), tz)}"
                      + (f" · 第{int(r['redo_count']) + 1}轮" if int(r["redo_count"] or 0) else ""), className="dim"),
            html.Div(buttons, className="action-row"),
        ], id=f"revisit-{iid}"))
    return items


def callbacks() -> None:
    """Registered by layouts/console.py once per app."""

    @callback(
        Output(ids.CONSOLE_REVISIT_OPEN, "children"),
        Output(ids.CONSOLE_REVISIT_LIST, "children"),
        Output(ids.CONSOLE_REVISIT_SEEN, "data"),
        Input(ids.CONSOLE_TICK, "n_intervals"),
        Input(ids.CONSOLE_REFRESH, "data"),
        Input(ids.CONSOLE_REVISIT_MODAL, "opened"),
        State(ids.CONSOLE_REVISIT_SEEN, "data"),
    )
    def load(_tick, refresh, opened, seen):
        """The 回访 count on the button and the list in the dialog; queried again on a change or a new hour."""
        ctx = get_context()
        now = ctx.clock()
        key = [data_version(), refresh, bool(opened), now.strftime("%Y%m%d%H")]
        if key == seen:
            return no_update, no_update, no_update
        user = current_user()
        df = work_queue.callback_queue(ctx.store, ctx.cfg, read_scope(ctx.cfg, user), now)
        return f"回访（{len(df)}）", rows_view(df, ctx.cfg, ctx.cfg.site.timezone, user.role in CALLERS), key

    @callback(
        Output(ids.CONSOLE_REVISIT_MODAL, "opened"),
        Input(ids.CONSOLE_REVISIT_OPEN, "n_clicks"),
        prevent_initial_call=True,
    )
    def open_modal(clicks):
        return bool(clicks)

    @callback(
        Output(ids.CONSOLE_REVISIT_MESSAGE, "children"),
        Output(ids.CONSOLE_REFRESH, "data", allow_duplicate=True),
        Output(ids.CONSOLE_REVISIT_NOTE, "value"),
        Input({"type": ids.CONSOLE_REVISIT_RATE, "id": ALL, "rating": ALL}, "n_clicks"),
        State(ids.CONSOLE_REVISIT_NOTE, "value"),
        State(ids.CONSOLE_REFRESH, "data"),
        prevent_initial_call=True,
    )
    def rate(_clicks, note, refresh):
        trig = dash.ctx.triggered_id
        if not tapped(trig):
            return no_update, no_update, no_update  # the list re-rendered, nobody clicked
        ctx = get_context()
        iid, rating = int(trig["id"]), str(trig["rating"])
        note = (note or "").strip()
        if rating == "不满意" and not note:
            return html.Div("不满意须填写回访记录（将随重办发给主办单位）", className="msg msg-error"), no_update, no_update
        try:
            ctx.work_orders.record_callback(current_user().actor(), iid, rating, note)
        except ServiceError as exc:
            return html.Div(exc.user_message, className="msg msg-error"), (refresh or 0) + 1, no_update
        text = f"#{iid} 回访：{rating}" + ("，已按重办派回主办单位" if rating == "不满意" else "")
        return html.Div(text, className="msg msg-ok"), (refresh or 0) + 1, ""
