"""值班台 action pane: every button calls one incident-service method with the version the officer saw."""

from __future__ import annotations

from typing import Any

import dash
import dash_mantine_components as dmc
from dash import Input, Output, State, callback, dcc, html, no_update

from layouts import console_catalogue, console_dispatch, ids
from layouts.common import current_user, domain_name, local_time, status_name, text_or_empty
from layouts.console_filters import options
from layouts.console_timeline import TIMELINE_ACTIONS, change_text
from ops_center.core.domains import DOMAIN_CODES
from ops_center.core.lifecycle import Actor, Conflict
from ops_center.core.ports import IncidentActions, WorkOrderActions
from ops_center.read import queries
from ops_center.service.incidents import ACTION_NAMES, ServiceError
from ops_center.web.context import get_context

ACTIONS = tuple(ids.CONSOLE_ACTIONS)
SHORTCUTS = {"acknowledge": "A", "dispatch": "D", "escalate": "E", "resolve": "R", "close": "C"}


def actions_pane(cfg: Any) -> html.Div:
    """The buttons and the inputs they take (units, merge target, domain, 延期 hours, note), then the outcome."""
    actions = html.Div(
        [
            html.Div([button(a) for a in ("acknowledge", "dispatch", "escalate", "resolve", "close", "verify_fail",
                                          "reopen", "false_alarm")], className="action-row"),
            console_dispatch.dispatch_row(cfg),
            html.Div(
                [
                    dmc.Select(id=ids.CONSOLE_MERGE_TARGET, label="合并到", w=200, data=[], placeholder="选择主事件"),
                    button("merge"),
                ],
                className="action-row",
            ),
            console_catalogue.guard_row(),
            html.Div(
                [
                    dmc.Select(id=ids.CONSOLE_DOMAIN, label="分类领域", w=150,
                               data=options((c, domain_name(c)) for c in DOMAIN_CODES)),
                    dmc.TextInput(id=ids.CONSOLE_CATEGORY, label="类别（可选）", w=150),
                    button("set_domain"),
                ],
                className="action-row",
            ),
            html.Div(
                [dmc.NumberInput(id=ids.CONSOLE_EXT_HOURS, label="延期（小时）", value=24, min=1, max=24 * 30, step=1, w=120),
                 button("request_extension"), button("decide_extension"),
                 html.Button("驳回延期", id=ids.CONSOLE_EXT_REJECT, className="btn act-reject-extension", disabled=True,
                             n_clicks=0),
                 html.Div(id=ids.CONSOLE_EXTENSION, className="console-extension")],
                className="action-row",
            ),
            html.Div(
                [dmc.Textarea(id=ids.CONSOLE_NOTE, placeholder="备注 / 处置说明（按 N 聚焦）", autosize=True, minRows=2,
                              w="100%"),
                 button("add_note")],
                className="action-row note-row",
            ),
            html.Div(id=ids.CONSOLE_MESSAGE, className="console-message", role="status"),
            html.Button("按最新状态重试", id=ids.CONSOLE_RETRY_BTN, className="btn retry-btn", n_clicks=0,
                        style={"display": "none"}),
            dcc.Store(id=ids.CONSOLE_RETRY),
        ],
        className="console-actions",
    )
    return actions


def button(action: str) -> html.Button:
    """Disabled until a case is selected; the label shows its keyboard shortcut."""
    key = SHORTCUTS.get(action)
    label = ACTION_NAMES[action] + (f"（{key}）" if key else "")
    return html.Button(label, id=ids.CONSOLE_ACTIONS[action], className=f"btn act-{action}", disabled=True, n_clicks=0)


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
        change = change_text(last)
        what += f"（{change}）" if change else ""
    return (f"未执行「{action_name}」：#{incident_id} 在您打开后已有变化 — {what or '已被更新'}；"
            f"当前状态：{status_name(inc['status'])}。核对后可按最新状态重试。")


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


def message(text: str, kind: str) -> html.Div:
    return html.Div(text, className=f"msg msg-{kind}")


def callbacks() -> None:
    """Registered by layouts/console.py once per app."""

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
        fed = get_context().cfg.federation
        if fed is not None and fed.role == "city":  # a command to the district: applied there, answered later
            done = f"#{selected['incident_id']} 已发送{ACTION_NAMES[action]}指令，待区县确认"
        if action == "decide_extension":
            done = f"#{selected['incident_id']} 延期申请已{'批准' if params['approve'] else '驳回'}"
        return message(done, "ok"), (refresh or 0) + 1, "", None, hidden

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
