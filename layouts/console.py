"""值班台: the SLA-ordered queue, one incident's detail, and every action through the incident service."""

from __future__ import annotations

from typing import Any

import dash
import dash_ag_grid as dag
import dash_mantine_components as dmc
import plotly.graph_objects as go
from dash import Input, Output, State, callback, dcc, html, no_update

from layouts import console_catalogue, console_dispatch, console_open, console_revisit, ids
from layouts.common import (
    BLANK_FIGURE,
    MAP_STYLE_URL,
    area_name,
    countdown,
    current_user,
    data_version,
    display_title,
    domain_name,
    epoch_ms,
    gate,
    local_time,
    server_clock,
    severity_name,
    shell,
    status_name,
    text_or_empty,
)
from ops_center.core import geo
from ops_center.core.area_codes import ancestors, level_of, street_of
from ops_center.core.domains import (
    DOMAIN_CODES,
    LEVEL_NAMES,
    SEVERITIES,
    SOURCE_NAMES,
    STATUS_NAMES,
    UNCLASSIFIED,
)
from ops_center.core.lifecycle import Actor, Conflict
from ops_center.core.ports import IncidentActions, WorkOrderActions
from ops_center.read import queries
from ops_center.service.incidents import ACTION_NAMES, ServiceError, allowed_actions
from ops_center.web.context import get_context

dash.register_page(__name__, path="/console", title="值班台", name="值班台")

TICK_MS = 2000
SORT_NAMES = {"due": "按时限（最紧先）", "severity": "按级别", "created": "按创建时间（新→旧）", "area": "按区域"}
ACTIONS = tuple(ids.CONSOLE_ACTIONS)
SHORTCUTS = {"acknowledge": "A", "dispatch": "D", "escalate": "E", "resolve": "R", "close": "C"}
TIMELINE_ACTIONS = {**ACTION_NAMES, "created": "创建", "escalated": "升级", "overdue": "超期", "warned": "预警",
                    "updated": "重复上报", "correlated": "关联上报"}
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


def _options(pairs: Any) -> list[dict[str, str]]:
    return [{"value": str(v), "label": str(label)} for v, label in pairs]


def layout(incident: str | None = None, **_: Any) -> Any:
    user, stub = gate("console")
    if stub is not None:
        return stub
    cfg = get_context().cfg
    scope = queries.scope_prefix(cfg, user.scope)
    streets = [a for a in cfg.areas.items if a.level == "street" and (scope is None or a.code.startswith(street_of(scope) or scope))]
    filters = html.Div(
        [
            dmc.MultiSelect(id=ids.CONSOLE_F_DOMAIN, placeholder="全部领域", clearable=True, w=220,
                            data=_options([(c, domain_name(c)) for c in (*DOMAIN_CODES, UNCLASSIFIED)])),
            dmc.Select(id=ids.CONSOLE_F_AREA, placeholder="全部街道", clearable=True, w=170,
                       data=_options([(a.code, a.name) for a in streets])),
            dmc.MultiSelect(id=ids.CONSOLE_F_STATUS, placeholder="待办状态", clearable=True, w=260,
                            value=list(queries.QUEUE_STATUSES), data=_options(STATUS_NAMES.items())),
            dmc.Select(id=ids.CONSOLE_F_SOURCE, placeholder="全部来源", clearable=True, w=140,
                       data=_options(SOURCE_NAMES.items())),
            dmc.MultiSelect(id=ids.CONSOLE_F_SEVERITY, placeholder="全部级别", clearable=True, w=180,
                            data=_options((s, severity_name(s)) for s in SEVERITIES)),
            dmc.Select(id=ids.CONSOLE_SORT, value="due", w=170, allowDeselect=False,
                       data=_options(SORT_NAMES.items())),
            html.Button("批量受理", id=ids.CONSOLE_BULK_ACK, className="btn", n_clicks=0),
            dcc.ConfirmDialog(id=ids.CONSOLE_BULK_CONFIRM),
            console_revisit.open_button(),
            html.Span(id=ids.CONSOLE_COUNT, className="console-count"),
        ],
        className="console-filters",
    )
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
    actions = html.Div(
        [
            html.Div([_button(a) for a in ("acknowledge", "dispatch", "escalate", "resolve", "close", "verify_fail",
                                           "reopen", "false_alarm")], className="action-row"),
            console_dispatch.dispatch_row(cfg),
            html.Div(
                [
                    dmc.Select(id=ids.CONSOLE_MERGE_TARGET, label="合并到", w=200, data=[], placeholder="选择主事件"),
                    _button("merge"),
                ],
                className="action-row",
            ),
            console_catalogue.guard_row(),
            html.Div(
                [
                    dmc.Select(id=ids.CONSOLE_DOMAIN, label="分类领域", w=150,
                               data=_options((c, domain_name(c)) for c in DOMAIN_CODES)),
                    dmc.TextInput(id=ids.CONSOLE_CATEGORY, label="类别（可选）", w=150),
                    _button("set_domain"),
                ],
                className="action-row",
            ),
            html.Div(
                [dmc.NumberInput(id=ids.CONSOLE_EXT_HOURS, label="延期（小时）", value=24, min=1, max=24 * 30, step=1, w=120),
                 _button("request_extension"), _button("decide_extension"),
                 html.Button("驳回延期", id=ids.CONSOLE_EXT_REJECT, className="btn act-reject-extension", disabled=True,
                             n_clicks=0),
                 html.Div(id=ids.CONSOLE_EXTENSION, className="console-extension")],
                className="action-row",
            ),
            html.Div(
                [dmc.Textarea(id=ids.CONSOLE_NOTE, placeholder="备注 / 处置说明（按 N 聚焦）", autosize=True, minRows=2,
                              w="100%"),
                 _button("add_note")],
                className="action-row note-row",
            ),
            html.Div(id=ids.CONSOLE_MESSAGE, className="console-message", role="status"),
            html.Button("按最新状态重试", id=ids.CONSOLE_RETRY_BTN, className="btn retry-btn", n_clicks=0,
                        style={"display": "none"}),
            dcc.Store(id=ids.CONSOLE_RETRY),
        ],
        className="console-actions",
    )
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


def _button(action: str) -> html.Button:
    key = SHORTCUTS.get(action)
    label = ACTION_NAMES[action] + (f"（{key}）" if key else "")
    return html.Button(label, id=ids.CONSOLE_ACTIONS[action], className=f"btn act-{action}", disabled=True, n_clicks=0)


# --- callbacks ---------------------------------------------------------------------------


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


@callback(
    Output(ids.CONSOLE_PAGE, "value"),
    Input(ids.CONSOLE_F_DOMAIN, "value"),
    Input(ids.CONSOLE_F_AREA, "value"),
    Input(ids.CONSOLE_F_STATUS, "value"),
    Input(ids.CONSOLE_F_SOURCE, "value"),
    Input(ids.CONSOLE_F_SEVERITY, "value"),
    Input(ids.CONSOLE_SORT, "value"),
    prevent_initial_call=True,
)
def first_page(_domain, _area, _status, _source, _severity, _sort):
    """A new filter or order starts at page 1."""
    return 1


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
        detail_head(inc, tz),
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


@callback(
    output=[
        Output(ids.CONSOLE_MESSAGE, "children"),
        Output(ids.CONSOLE_REFRESH, "data"),
        Output(ids.CONSOLE_NOTE, "value"),
        Output(ids.CONSOLE_RETRY, "data"),
        Output(ids.CONSOLE_RETRY_BTN, "style"),
    ],
    inputs={
        "action_clicks": [Input(ids.CONSOLE_ACTIONS[a], "n_clicks") for a in ACTIONS],
        "bulk_clicks": Input(ids.CONSOLE_BULK_CONFIRM, "submit_n_clicks"),
        "retry_clicks": Input(ids.CONSOLE_RETRY_BTN, "n_clicks"),
        "reject_clicks": Input(ids.CONSOLE_EXT_REJECT, "n_clicks"),
    },
    state={
        "selected": State(ids.CONSOLE_SELECTED, "data"),
        "selected_rows": State(ids.CONSOLE_GRID, "selectedRows"),
        "department": State(ids.CONSOLE_DEPARTMENT, "value"),
        "co_units": State(ids.CONSOLE_CO_UNITS, "value"),
        "merge_target": State(ids.CONSOLE_MERGE_TARGET, "value"),
        "domain": State(ids.CONSOLE_DOMAIN, "value"),
        "category": State(ids.CONSOLE_CATEGORY, "value"),
        "note": State(ids.CONSOLE_NOTE, "value"),
        "refresh": State(ids.CONSOLE_REFRESH, "data"),
        "retry": State(ids.CONSOLE_RETRY, "data"),
        "hours": State(ids.CONSOLE_EXT_HOURS, "value"),
        "confirmed": State(ids.CONSOLE_GUARD_CONFIRM, "checked"),
    },
    prevent_initial_call=True,
)
def act(action_clicks, bulk_clicks, retry_clicks, reject_clicks, selected, selected_rows, department, co_units,
        merge_target, domain, category, note, refresh, retry, hours, confirmed):
    clicks = [*action_clicks, bulk_clicks, retry_clicks, reject_clicks]
    trigger = dash.ctx.triggered_id
    hidden = {"display": "none"}
    if not trigger or not any(clicks):
        return (no_update,) * 5
    user = current_user()
    service = get_context().service
    work_orders = get_context().work_orders
    actor = user.actor()
    note = (note or "").strip()
    params = {"department": department, "co_units": list(co_units or []), "merge_target": merge_target, "domain": domain,
              "category": category, "note": note, "hours": hours, "approve": trigger != ids.CONSOLE_EXT_REJECT,
              "extension_id": (selected or {}).get("extension_id")}
    try:
        if trigger == ids.CONSOLE_BULK_CONFIRM:
            items = [(int(r["incident_id"]), int(r["version"])) for r in (selected_rows or []) if r.get("status") == "new"]
            if not items:
                return message("请先勾选待受理的事件", "warn"), no_update, no_update, None, hidden
            results = service.bulk_acknowledge(actor, items, note=note)
            ok = sum(1 for r in results if r.ok)
            failed = [f"#{r.incident_id}：{r.message}" for r in results if not r.ok]
            text = f"批量受理完成：成功 {ok} 条" + (f"，失败 {len(failed)} 条（{'；'.join(failed[:5])}）" if failed else "")
            return message(text, "ok" if not failed else "warn"), (refresh or 0) + 1, "", None, hidden
        if trigger == ids.CONSOLE_RETRY_BTN:
            if not retry:
                return (no_update,) * 5
            action, params = retry["action"], retry["params"]
            current = service.get(int(retry["incident_id"]))
            selected = {"incident_id": int(retry["incident_id"]), "version": int(current["version"])}
        elif trigger == ids.CONSOLE_EXT_REJECT:
            action = "decide_extension"
        else:
            action = next(a for a, cid in ids.CONSOLE_ACTIONS.items() if cid == trigger)
        if not selected:
            return message("请先选择一个事件", "warn"), no_update, no_update, None, hidden
        if action == "dispatch" and department:
            warning = console_catalogue.guard_text(get_context(), int(selected["incident_id"]), department)
            if warning and not confirmed:
                return message(f"{warning}（请勾选“确认派往基层”后再派遣）", "warn"), no_update, no_update, None, hidden
            if warning:
                params["note"] = f"［基层减负提醒已确认］{warning}" + (f" {note}" if note else "")
        run_action(service, actor, action, selected, work_orders=work_orders, **params)
    except Conflict:
        # Someone (or the SLA sweep) changed it since it was opened: say what, and offer the same action again.
        iid = int(selected["incident_id"])
        text = conflict_text(iid, ACTION_NAMES[action])
        again = {"action": action, "incident_id": iid, "params": params}
        return message(text, "warn"), (refresh or 0) + 1, no_update, again, {"display": "inline-block"}
    except ServiceError as exc:
        # A refused role or scope, a wrong status: say so plainly.
        return message(exc.user_message, "error"), (refresh or 0) + 1, no_update, None, hidden
    done = f"#{selected['incident_id']} 已{ACTION_NAMES[action]}"
    if action == "decide_extension":
        done = f"#{selected['incident_id']} 延期申请已{'批准' if params['approve'] else '驳回'}"
    return message(done, "ok"), (refresh or 0) + 1, "", None, hidden


def conflict_text(incident_id: int, action_name: str) -> str:
    """What changed under the officer: the latest timeline entry and the status now."""
    ctx = get_context()
    detail = queries.incident_detail(ctx.store, incident_id)
    if detail is None:
        return f"#{incident_id} 已不存在"
    inc, tl = detail.incident, detail.timeline
    what = ""
    if tl is not None and not tl.empty:
        last = tl.iloc[-1]
        who = "系统" if text_or_empty(last["actor"]) in ("", "system", "sla") else text_or_empty(last["actor"])
        what = (f"{local_time(last['ts'].to_pydatetime(), ctx.cfg.site.timezone, '%H:%M:%S')} "
                f"{who}{TIMELINE_ACTIONS.get(last['action'], last['action'])}")
        change = _change_text(last)
        what += f"（{change}）" if change else ""
    return (f"未执行「{action_name}」：#{incident_id} 在您打开后已有变化 — {what or '已被更新'}；"
            f"当前状态：{status_name(inc['status'])}。核对后可按最新状态重试。")


def _change_text(r: Any) -> str:
    before, after = text_or_empty(r["from_status"]), text_or_empty(r["to_status"])
    return f"{status_name(before)} → {status_name(after)}" if before and after and before != after else ""


# --- pure helpers ------------------------------------------------------------------------


def run_action(service: IncidentActions, actor: Actor, action: str, selected: dict, *, department: str | None,
               co_units: list[str] | None = None, work_orders: WorkOrderActions | None = None,
               merge_target: str | None, domain: str | None, category: str | None, note: str,
               hours: float | None = None, approve: bool = True, extension_id: int | None = None) -> Any:
    """Call the one service method for `action` with the version the officer saw."""
    iid, version = int(selected["incident_id"]), int(selected["version"])
    if action == "request_extension":
        return service.request_extension(actor, iid, version, float(hours or 0) * 3600, note)
    if action == "decide_extension":
        if not extension_id:
            raise ServiceError("没有待审批的延期申请")
        return service.decide_extension(actor, iid, version, int(extension_id), approve, note=note)
    if action == "dispatch":  # to a lead unit and co-handlers: the work order (layouts/console_dispatch.py)
        if not department:
            raise ServiceError("请选择主办单位")
        if work_orders is None:
            raise ServiceError("派单服务未启动")
        return work_orders.dispatch(actor, iid, version, department, co_units or (), note=note)
    if action == "merge":
        if not merge_target:
            raise ServiceError("请选择要合并到的主事件")
        return service.merge(actor, iid, version, int(merge_target), note=note)
    if action == "set_domain":
        if not domain:
            raise ServiceError("请选择领域")
        return service.set_domain(actor, iid, version, domain, (category or "").strip() or None, note=note)
    if action == "add_note":
        return service.add_note(actor, iid, version, note=note)
    plain = {"acknowledge": service.acknowledge, "resolve": service.resolve, "close": service.close,
             "verify_fail": service.verify_fail, "reopen": service.reopen, "false_alarm": service.false_alarm,
             "escalate": service.escalate}
    if action not in plain:
        raise ServiceError(f"未知操作：{action}")
    return plain[action](actor, iid, version, note=note)


def extension_view(pending: dict | None, tz: str) -> Any:
    """The pending 延期 request: who asked, when, how long and why (approved by a leader or admin)."""
    if not pending:
        return None
    return html.Span(f"待审批延期 #{pending['extension_id']}：{pending['seconds'] / 3600:g} 小时 · "
                     f"{pending['requested_by']} {local_time(pending['requested_at'], tz)} 申请 · 理由：{pending['reason']}",
                     className="msg msg-warn")


def message(text: str, kind: str) -> html.Div:
    return html.Div(text, className=f"msg msg-{kind}")


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


def timeline_view(df: Any, tz: str) -> Any:
    if df is None or df.empty:
        return html.Div("暂无记录", className="dim")
    items = []
    for r in df.to_dict("records"):
        note = text_or_empty(r["note"])
        items.append(html.Li([
            html.Span(local_time(r["ts"].to_pydatetime(), tz, "%m-%d %H:%M:%S"), className="tl-time"),
            html.Span(text_or_empty(r["actor"]) or "系统", className="tl-actor"),
            html.Span(TIMELINE_ACTIONS.get(r["action"], text_or_empty(r["action"])), className="tl-action"),
            html.Span(_change_text(r), className="tl-change"),
            html.Div(note, className="tl-note") if note else None,
        ]))
    return html.Ul(items, className="timeline")


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


@callback(
    Output(ids.CONSOLE_BULK_CONFIRM, "displayed"),
    Output(ids.CONSOLE_BULK_CONFIRM, "message"),
    Output(ids.CONSOLE_MESSAGE, "children", allow_duplicate=True),
    Input(ids.CONSOLE_BULK_ACK, "n_clicks"),
    State(ids.CONSOLE_GRID, "selectedRows"),
    prevent_initial_call=True,
)
def confirm_bulk(clicks, selected_rows):
    """A bulk action asks first, with the count it will act on."""
    if not clicks:
        return no_update, no_update, no_update
    count = sum(1 for r in (selected_rows or []) if r.get("status") == "new")
    if not count:
        return False, no_update, message("请先勾选待受理的事件", "warn")
    return True, f"确认批量受理 {count} 条待受理事件？", no_update


console_dispatch.callbacks()
console_catalogue.callbacks()
console_revisit.callbacks()
console_open.callbacks()
