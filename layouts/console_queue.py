"""值班台 queue: the SLA-ordered, paged grid of cases in the officer's scope, kept current by a tick."""

from __future__ import annotations

from typing import Any

import dash
import dash_ag_grid as dag
from dash import Input, Output, State, callback, no_update

from layouts import ids
from layouts.common import (
    area_name,
    current_user,
    data_version,
    display_title,
    domain_name,
    epoch_ms,
    local_time,
    server_clock,
    status_name,
)
from ops_center.core.area_codes import ancestors, level_of
from ops_center.core.domains import SOURCE_NAMES
from ops_center.read import queries
from ops_center.web.context import get_context

GRID_THEME = ("themeQuartz.withParams({backgroundColor: '#111a2e', foregroundColor: '#e6edf7', "
              "headerBackgroundColor: '#17223a', accentColor: '#3e9bff', borderColor: '#24314f', "
              "fontFamily: 'inherit', fontSize: 14})")

COLUMNS = [
    {"field": "severity", "headerName": "级别", "width": 80, "cellClass": "sev-cell"},
    {"field": "domain_name", "headerName": "领域", "width": 100},
    {"field": "title", "headerName": "标题", "flex": 2, "minWidth": 200},
    {"field": "area", "headerName": "区域（街道 · 社区）", "flex": 1, "minWidth": 170},
    {"field": "status_name", "headerName": "状态", "width": 90},
    # Sorted by the deadline itself (due_ms; none last), shown as which deadline and how long is left.
    {"colId": "countdown", "field": "due_sort", "headerName": "时限（受理/办结）", "width": 170, "sortable": True,
     "valueFormatter": {"function": "params.data.due_ms == null ? '—' : "
                                    "params.data.due_label + ' ' + opsCountdown(params.data.due_ms)"},
     "cellClassRules": {"due-late": {"function": "opsDueState(params.data.due_ms) === 'late'"},
                        "due-warn": {"function": "opsDueState(params.data.due_ms) === 'warn'"}}},
    {"field": "source_name", "headerName": "来源", "width": 110},
    {"field": "report_count", "headerName": "次数", "width": 70},
    {"field": "created", "headerName": "创建", "width": 110},
]


def queue_grid() -> dag.AgGrid:
    """The grid itself: multi-row selection for 批量受理, P1 rows and the kept selection marked."""
    grid = dag.AgGrid(
        id=ids.CONSOLE_GRID,
        columnDefs=COLUMNS,
        rowData=[],
        getRowId="params.data.id",
        defaultColDef={"resizable": True, "sortable": True},
        dashGridOptions={
            "rowSelection": {"mode": "multiRow", "enableClickSelection": True, "checkboxes": True,
                             "headerCheckbox": True},
            "localeText": {"noRowsToShow": "暂无事件"},
            "animateRows": False,
            "rowClassRules": {"row-p1": "params.data.severity === 'P1'", "row-pinned": "params.data.pinned === true"},
            "theme": {"function": GRID_THEME},
        },
        className="console-grid",
        style={"height": "100%"},
    )
    return grid


def queue_rows(df: Any, tz: str) -> list[dict[str, Any]]:
    rows = []
    for r in df.to_dict("records"):
        due = r["next_due"]
        rows.append({
            "id": str(int(r["incident_id"])),
            "incident_id": int(r["incident_id"]),
            "version": int(r["version"]),
            "status": r["status"],
            "status_name": status_name(r["status"]),
            "severity": r["severity"],
            "domain": r["domain"],
            "domain_name": domain_name(r["domain"]),
            "title": display_title(r["title"]),
            "area": area_path(r["area_code"]),
            "source_name": SOURCE_NAMES.get(r["source"], r["source"] or "—"),
            "report_count": int(r["report_count"]),
            "created": local_time(r["created_at"].to_pydatetime(), tz),
            "due_ms": epoch_ms(due.to_pydatetime()) if due is not None and due == due and r["status"] != "resolved" else None,
            "due_label": "受理" if r["status"] == "new" else "办结",
        })
        row = rows[-1]
        row["due_sort"] = row["due_ms"] if row["due_ms"] is not None else 2**53  # none last when sorted
    return rows


def area_path(code: str | None) -> str:
    """Street · community (· grid) for the queue: the street is never hidden behind a community name."""
    if not code:
        return "—"
    codes = [c for c in (*ancestors(code), code) if level_of(c) != "district"]
    return " · ".join(area_name(c) for c in codes) or area_name(code)


def callbacks() -> None:
    """Registered by layouts/console.py once per app."""

    @callback(
        Output(ids.CONSOLE_GRID, "rowData"),
        Output(ids.CONSOLE_COUNT, "children"),
        Output(ids.CONSOLE_SEEN, "data"),
        Output(ids.CONSOLE_PAGE, "total"),
        Output(ids.CONSOLE_GRID, "selectedRows"),
        Input(ids.CONSOLE_F_DOMAIN, "value"),
        Input(ids.CONSOLE_F_AREA, "value"),
        Input(ids.CONSOLE_F_STATUS, "value"),
        Input(ids.CONSOLE_F_SOURCE, "value"),
        Input(ids.CONSOLE_F_SEVERITY, "value"),
        Input(ids.CONSOLE_REFRESH, "data"),
        Input(ids.CONSOLE_TICK, "n_intervals"),
        Input(ids.CONSOLE_SORT, "value"),
        Input(ids.CONSOLE_PAGE, "value"),
        State(ids.CONSOLE_SEEN, "data"),
        State(ids.CONSOLE_SELECTED, "data"),
    )
    def load_queue(domains, area, statuses, source, severities, refresh, _tick, sort, page, seen, selected):
        ctx = get_context()
        key = [data_version(), domains, area, statuses, source, severities, refresh, sort, page]
        if seen == key:
            return (no_update,) * 5
        user = current_user()
        scope = queries.read_scope(ctx.cfg, user)
        filters = queries.QueueFilters(
            statuses=tuple(statuses or queries.QUEUE_STATUSES), domains=tuple(domains or ()),
            severities=tuple(severities or ()), area=area or None, source=source or None,
        )
        page = max(int(page or 1), 1)
        df, total = queries.console_page(ctx.store, filters, scope, sort=sort or "due", page=page)
        tz = ctx.cfg.site.timezone
        rows = queue_rows(df, tz)
        # The incident just acted on stays listed (marked) and selected, even once it no longer matches the filter:
        # the selection never jumps to a neighbour that the next key press would act on.
        kept = int(selected["incident_id"]) if selected else None
        if kept is not None and all(r["incident_id"] != kept for r in rows):
            extra = queue_rows(queries.console_rows_by_id(ctx.store, [kept], scope), tz)
            rows = [{**r, "pinned": True, "status_name": r["status_name"] + "（已不在筛选内）"} for r in extra] + rows
        pages = max(-(-total // queries.CONSOLE_PAGE_SIZE), 1)
        count = f"共 {total} 条 · 第 {min(page, pages)}/{pages} 页"
        reselect = {"ids": [str(kept)]} if kept is not None and dash.ctx.triggered_id == ids.CONSOLE_REFRESH else no_update
        return rows, [count, server_clock(ctx.clock())], key, pages, reselect
