"""值班台 work-order block: dispatch to a lead unit and co-handlers, rule on a 退单, 催办 and a leader's 督办.

A block of the console (console_actions places `dispatch_row()`, console_detail `workorder_block()`; console.py calls
`callbacks()`); every action goes through WorkOrderService, which checks role, scope and reasons itself.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dash
import dash_mantine_components as dmc
from dash import Input, Output, State, callback, html, no_update

from layouts import ids
from layouts.common import current_user, local_time, text_or_empty
from ops_center.core.area_tree import is_city_center
from ops_center.core.lifecycle import Conflict, ServiceError
from ops_center.core.units import unit_name, units
from ops_center.read import queries
from ops_center.read.queries_workorder import incident_assignments, returned
from ops_center.service import catalogue as dispatch_catalogue
from ops_center.web.context import get_context

ROLE_NAMES = {"lead": "主办", "co": "协办"}
STATUS_NAMES = {"pending": "待签收", "accepted": "已签收", "returned": "已退单", "done": "已反馈", "cancelled": "已改派"}
SUPERVISORS = frozenset({"leader", "admin"})


def unit_options(cfg: Any, area_code: str | None = None) -> list[dict]:
    """Units grouped by kind; with an area, only the units whose branch covers it (the service checks again)."""
    groups: dict[str, list[dict]] = {}
    names = {"department": "职能部门", "street": "街道", "community": "社区"}
    for unit in units(cfg).values():
        if area_code is not None and not unit.covers(area_code):
            continue
        groups.setdefault(names[unit.kind], []).append({"value": unit.code, "label": unit.name})
    return [{"group": g, "items": items} for g, items in groups.items()]


def suggestion(cfg: Any, inc: dict) -> tuple[str | None, list[str], str | None]:
    """(lead unit, co-units, a warning) to pre-fill dispatch: the 派单目录 in force when the case was created
    (ops_center.service.catalogue); once dispatched, the department it went to."""
    found = dispatch_catalogue.suggest_for(get_context().store, cfg, inc)
    warning = "；".join(found.warnings) or None
    if inc.get("dispatched_at") is None and found.lead_unit in units(cfg):
        return found.lead_unit, list(found.co_units), warning
    domain = cfg.domain_by_code.get(inc["domain"])
    lead = inc.get("department") or (domain.department if domain else None)
    return (lead if lead in units(cfg) else None), [], warning


def dispatch_row(cfg: Any) -> html.Div:
    return html.Div([
        dmc.Select(id=ids.CONSOLE_DEPARTMENT, label="主办单位", w=200, searchable=True, data=unit_options(cfg)),
        dmc.MultiSelect(id=ids.CONSOLE_CO_UNITS, label="协办单位（可多选）", w=280, searchable=True, clearable=True,
                        data=unit_options(cfg)),
        html.Div(id=ids.CONSOLE_DISPATCH_HINT, className="dispatch-hint"),
    ], className="action-row")


def workorder_block() -> html.Div:
    return html.Div([
        html.H4("责任单位办理"),
        html.Div(id=ids.CONSOLE_WORKORDER),
        html.Div([
            dmc.Select(id=ids.CONSOLE_REASSIGN_UNIT, label="改派给", w=200, searchable=True, data=[]),
            html.Button("改派", id=ids.CONSOLE_REASSIGN, className="btn", disabled=True, n_clicks=0),
            html.Button("强派（退回原单位）", id=ids.CONSOLE_FORCE, className="btn btn-warn", disabled=True, n_clicks=0),
            html.Button("催办", id=ids.CONSOLE_REMIND, className="btn", disabled=True, n_clicks=0),
        ], className="action-row"),
        html.Div([
            dmc.NumberInput(id=ids.CONSOLE_SUPERVISE_HOURS, label="督办期限（小时后）", value=24, min=1, max=24 * 30, w=150),
            html.Button("督办", id=ids.CONSOLE_SUPERVISE, className="btn btn-warn", disabled=True, n_clicks=0),
        ], className="action-row"),
        html.Div(id=ids.CONSOLE_WO_MESSAGE, role="status"),
    ], className="detail-block workorder-block")


def assignments_view(df: Any, cfg: Any, tz: str) -> Any:
    if df.empty:
        return html.Div("尚未派遣给责任单位", className="dim")
    items = []
    for r in df.to_dict("records"):
        extra = []
        if r["status"] == "returned":
            extra.append(html.Div(f"退单理由：{text_or_empty(r['return_reason'])}（{text_or_empty(r['returned_by'])}）",
                                  className="tl-note"))
        if r["decision"] == "force" and r["status"] != "cancelled":
            extra.append(html.Span("强派", className="badge"))
        items.append(html.Li([
            html.Span(f"第{int(r['round'])}轮", className="tl-time"),
            html.Span(unit_name(cfg, r["unit"]), className="tl-actor"),
            html.Span(ROLE_NAMES.get(r["role"], r["role"])),
            html.Span(STATUS_NAMES.get(r["status"], r["status"]), className=f"wo-status wo-{r['status']}"),
            html.Span(f"派于 {local_time(r['dispatched_at'].to_pydatetime(), tz)}", className="dim"),
            *extra,
        ], id=f"wo-{int(r['assignment_id'])}"))
    return html.Ul(items, className="timeline workorders")


def message(text: str, kind: str) -> html.Div:
    return html.Div(text, className=f"msg msg-{kind}")


def callbacks() -> None:
    """Registered by layouts/console.py once per app."""

    @callback(
        Output(ids.CONSOLE_WORKORDER, "children"),
        Output(ids.CONSOLE_REASSIGN_UNIT, "data"),
        Output(ids.CONSOLE_REASSIGN, "disabled"),
        Output(ids.CONSOLE_FORCE, "disabled"),
        Output(ids.CONSOLE_REMIND, "disabled"),
        Output(ids.CONSOLE_SUPERVISE, "disabled"),
        Output(ids.CONSOLE_CO_UNITS, "value"),
        Output(ids.CONSOLE_DISPATCH_HINT, "children"),
        Input(ids.CONSOLE_SELECTED, "data"),
    )
    def show_workorder(selected):
        """The selected case's units: who has it, who returned it and why; what the officer may decide now."""
        off = (None, [], True, True, True, True, [], None)
        if not selected:
            return off
        ctx = get_context()
        user = current_user()
        iid = int(selected["incident_id"])
        detail = queries.incident_detail(ctx.store, iid, queries.read_scope(ctx.cfg, user))
        if detail is None or user is None:
            return off
        inc = detail.incident
        df = incident_assignments(ctx.store, iid)
        waiting = returned(df)
        active = not df.empty and bool(df["status"].isin(["pending", "accepted"]).any())
        _, co, warning = suggestion(ctx.cfg, inc)
        current_co = [u for u in df.loc[(df["role"] == "co") & (df["status"] != "cancelled"), "unit"]] if not df.empty \
            else []
        center = user.role in ("officer", "shift_lead", "admin")
        return (assignments_view(df, ctx.cfg, ctx.cfg.site.timezone), unit_options(ctx.cfg, inc["area_code"]),
                not (center and waiting), not (center and waiting), not (center and active),
                not (user.role in SUPERVISORS and inc["status"] in ("acknowledged", "dispatched", "resolved")),
                current_co or co, message(warning, "warn") if warning else None)

    @callback(
        Output(ids.CONSOLE_WO_MESSAGE, "children"),
        Output(ids.CONSOLE_REFRESH, "data", allow_duplicate=True),
        Output(ids.CONSOLE_NOTE, "value", allow_duplicate=True),
        Input(ids.CONSOLE_REASSIGN, "n_clicks"),
        Input(ids.CONSOLE_FORCE, "n_clicks"),
        Input(ids.CONSOLE_REMIND, "n_clicks"),
        Input(ids.CONSOLE_SUPERVISE, "n_clicks"),
        State(ids.CONSOLE_SELECTED, "data"),
        State(ids.CONSOLE_REASSIGN_UNIT, "value"),
        State(ids.CONSOLE_SUPERVISE_HOURS, "value"),
        State(ids.CONSOLE_NOTE, "value"),
        State(ids.CONSOLE_REFRESH, "data"),
        prevent_initial_call=True,
    )
    def decide(_reassign, _force, _remind, _supervise, selected, unit, hours, note, refresh):
        trigger = dash.ctx.triggered_id
        if not trigger or not dash.ctx.triggered[0].get("value") or not selected:
            return no_update, no_update, no_update
        ctx = get_context()
        actor = current_user().actor()
        service = ctx.work_orders
        iid = int(selected["incident_id"])
        note = (note or "").strip()
        try:
            if trigger in (ids.CONSOLE_REASSIGN, ids.CONSOLE_FORCE):
                waiting = returned(incident_assignments(ctx.store, iid))
                if waiting is None:
                    raise ServiceError("该事件没有待裁定的退单")
                decision = "reassign" if trigger == ids.CONSOLE_REASSIGN else "force"
                service.decide_return(actor, int(waiting["assignment_id"]), decision,
                                      unit if decision == "reassign" else None, note)
                done = (f"#{iid} 已改派给{unit_name(ctx.cfg, unit)}" if decision == "reassign"
                        else f"#{iid} 已强派回{unit_name(ctx.cfg, waiting['unit'])}")
            elif trigger == ids.CONSOLE_REMIND:
                sent = service.remind(actor, iid, note)
                done = f"#{iid} 已催办 {len(sent)} 个单位"
            else:
                due = ctx.clock() + timedelta(hours=float(hours or 0))
                service.supervise(actor, iid, due, note)
                done = f"#{iid} 已督办，期限 {local_time(due, ctx.cfg.site.timezone, '%m-%d %H:%M')}"
                if is_city_center(ctx.cfg):  # a command: the owning district records it with its own deadline
                    done = f"#{iid} 已发送督办指令，待区县确认（期限由区县按其督办时限确定）"
        except Conflict:
            return message(f"#{iid} 刚有变化，已刷新，请核对后重试", "warn"), (refresh or 0) + 1, no_update
        except ServiceError as exc:
            return message(exc.user_message, "error"), no_update, no_update
        return message(done, "ok"), (refresh or 0) + 1, ""
