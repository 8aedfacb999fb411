"""系统管理's 屏蔽 tab: an admin silences a device, area or domain for a while, or cancels a silence."""

from __future__ import annotations

from datetime import timedelta

import dash_mantine_components as dmc
from dash import Input, Output, State, callback, ctx, html

from layouts import ids
from layouts.admin_labels import SCOPE_NAMES
from layouts.admin_tables import panel
from layouts.common import gate
from ops_center.core.domains import DOMAIN_CODES, UNCLASSIFIED
from ops_center.service.incidents import ServiceError
from ops_center.web.context import AppContext, get_context
from rules.suppress import SuppressionError, cancel_suppression, create_suppression


def suppressions_panel() -> dmc.Stack:
    """The form for a new silence and for cancelling one; the list itself is the page's refresh."""
    return panel(
        dmc.Group([
            dmc.Select(id=ids.ADMIN_SUP_SCOPE, label="范围", value="area", allowDeselect=False, w=110,
                       data=[{"value": k, "label": v} for k, v in SCOPE_NAMES.items()]),
            dmc.TextInput(id=ids.ADMIN_SUP_VALUE, label="值（设备编号/区域编码/领域代码）", w=260),
            dmc.NumberInput(id=ids.ADMIN_SUP_HOURS, label="时长（小时）", value=2, min=0.25, max=24 * 30,
                            step=0.5, w=130),
            dmc.TextInput(id=ids.ADMIN_SUP_REASON, label="原因", w=260),
            dmc.Button("新建屏蔽", id=ids.ADMIN_SUP_CREATE),
        ], align="flex-end"),
        dmc.Group([dmc.NumberInput(id=ids.ADMIN_SUP_CANCEL_ID, label="屏蔽编号", min=1, w=130),
                   dmc.Button("取消屏蔽", id=ids.ADMIN_SUP_CANCEL, color="red", variant="light")],
                  align="flex-end"),
        html.Div(id=ids.ADMIN_SUP_STATUS),
        html.Div(id=ids.ADMIN_SUPPRESSIONS),
    )


def suppression_value_problem(app: AppContext, scope: str, value: str) -> str | None:
    """A suppression for an area, domain or device that does not exist is refused, not silently useless."""
    if not value:
        return "请填写屏蔽的值"
    if scope == "area" and value not in app.cfg.area_by_code:
        return f"未知区域编码：{value}（须为配置中的区/街道/社区/网格编码）"
    if scope == "domain" and value not in (*DOMAIN_CODES, UNCLASSIFIED):
        return f"未知领域代码：{value}（可选：{'、'.join(DOMAIN_CODES)}）"
    if scope == "device" and app.registry is not None and value not in app.registry:
        return f"未登记的设备编号：{value}"
    return None


def callbacks() -> None:
    """Registered by layouts/admin.py once per app."""

    @callback(
        Output(ids.ADMIN_SUP_STATUS, "children"),
        Input(ids.ADMIN_SUP_CREATE, "n_clicks"),
        Input(ids.ADMIN_SUP_CANCEL, "n_clicks"),
        State(ids.ADMIN_SUP_SCOPE, "value"),
        State(ids.ADMIN_SUP_VALUE, "value"),
        State(ids.ADMIN_SUP_HOURS, "value"),
        State(ids.ADMIN_SUP_REASON, "value"),
        State(ids.ADMIN_SUP_CANCEL_ID, "value"),
        prevent_initial_call=True,
    )
    def suppression(_create, _cancel, scope, value, hours, reason, cancel_id):
        user = gate("admin")[0]
        if user is None or user.role != "admin":
            return dmc.Alert("仅管理员可以管理屏蔽", color="red")

        app = get_context()
        now = app.clock()
        try:
            if ctx.triggered_id == ids.ADMIN_SUP_CANCEL:
                if not cancel_id:
                    return dmc.Alert("请填写要取消的屏蔽编号", color="yellow")
                cancel_suppression(app.store, user.actor(), int(cancel_id), now=now)
                return dmc.Alert(f"已取消屏蔽 #{int(cancel_id)}", color="green")
            problem = suppression_value_problem(app, scope, (value or "").strip())
            if problem:
                return dmc.Alert(problem, color="red")
            sid = create_suppression(app.store, user.actor(), scope, (value or "").strip(), now,
                                     now + timedelta(hours=float(hours or 0)), (reason or "").strip() or None, now=now)
            return dmc.Alert(f"已新建屏蔽 #{sid}", color="green")
        except (SuppressionError, ValueError) as exc:
            return dmc.Alert(f"操作失败：{exc}", color="red")
        except ServiceError as exc:
            return dmc.Alert(exc.user_message, color="red")
