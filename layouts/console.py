"""值班台: the SLA-ordered queue, one incident's detail, and every action through the incident service.

The page puts the panes together; each pane's parts and callbacks live in its own module (console_filters,
console_queue, console_detail, console_actions, console_dispatch, console_catalogue, console_revisit).
"""

from __future__ import annotations

from typing import Any

import dash
import dash_mantine_components as dmc
from dash import dcc, html

from layouts import (
    console_actions,
    console_catalogue,
    console_detail,
    console_dispatch,
    console_filters,
    console_open,
    console_queue,
    console_revisit,
    ids,
)
from layouts.common import gate, shell
from ops_center.web.context import get_context

dash.register_page(__name__, path="/console", title="值班台", name="值班台")

TICK_MS = 2000


def layout(incident: str | None = None, **_: Any) -> Any:
    user, stub = gate("console")
    if stub is not None:
        return stub
    cfg = get_context().cfg
    filters = console_filters.filters_row(cfg, user)
    grid = console_queue.queue_grid()
    actions = console_actions.actions_pane(cfg)
    detail = console_detail.detail_pane(actions)
    help_line = html.Div("快捷键：J/K 上下移动 · A 受理 · D 派遣 · E 上报 · R 处置完成 · C 核查结案 · N 备注",
                         className="console-help")
    root = html.Div(
        [
            filters,
            html.Div([html.Div([html.Div(grid, className="console-queue-grid"),
                                dmc.Pagination(id=ids.CONSOLE_PAGE, total=1, value=1, size="sm", withEdges=True,
                                               className="console-pager")], className="console-queue"),
                      detail], className="console-body"),
            help_line,
            dcc.Store(id=ids.CONSOLE_SEEN),
            dcc.Store(id=ids.CONSOLE_REFRESH, data=0),
            dcc.Store(id=ids.CONSOLE_SELECTED, data=console_open.initial(incident)),
            console_open.store(incident),
            dcc.Interval(id=ids.CONSOLE_TICK, interval=TICK_MS),
            console_revisit.modal(),
        ],
        id=ids.CONSOLE_ROOT,
        className="console-root",
    )
    return shell("console", user, root)


console_queue.callbacks()
console_filters.callbacks()
console_detail.callbacks()
console_actions.callbacks()
console_dispatch.callbacks()
console_catalogue.callbacks()
console_revisit.callbacks()
console_open.callbacks()
