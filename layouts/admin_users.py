"""系统管理 → 用户与角色: the user form (with the responsible unit a `unit` user works for) and its actions.

A block of the admin page (layouts/admin.py adds `panel()` as a tab and lists the users); every change goes
through ops_center.service.users, which checks the admin role, the unit and its area itself and audits.
"""

from __future__ import annotations

from typing import Any

import dash_mantine_components as dmc
from dash import Input, Output, State, callback, ctx, html, no_update

from layouts import ids
from layouts.common import gate
from ops_center.core import area_codes
from ops_center.core.domains import ROLE_NAMES, ROLES
from ops_center.core.units import UNIT_KIND_NAMES, units
from ops_center.service import users as user_admin
from ops_center.service.incidents import Actor, ServiceError
from ops_center.web.context import get_context

HIDDEN = {"display": "none"}
SHOWN = {"display": "block"}


def unit_options(cfg: Any) -> list[dict]:
    """Departments first, then one group per street: its 办事处 followed by its communities' 居委会."""
    departments, by_street = [], {}
    for unit in units(cfg).values():
        item = {"value": unit.code, "label": unit.name}
        if unit.area is None:
            departments.append(item)
        else:
            street = area_codes.street_of(unit.area) or unit.area
            by_street.setdefault(street, []).append(item)
    groups = [{"group": UNIT_KIND_NAMES["department"], "items": departments}] if departments else []
    groups += [{"group": cfg.area_by_code[street].name, "items": items} for street, items in by_street.items()]
    return groups


def panel(cfg: Any) -> dmc.Stack:
    return dmc.Stack([
        dmc.Group([
            dmc.TextInput(id=ids.ADMIN_USER_NAME, label="用户名", w=150),
            dmc.TextInput(id=ids.ADMIN_USER_DISPLAY, label="姓名", w=150),
            dmc.Select(id=ids.ADMIN_USER_ROLE, label="角色", value="viewer", allowDeselect=False, w=150,
                       data=[{"value": r, "label": f"{ROLE_NAMES[r]}（{r}）"} for r in ROLES]),
            html.Div(dmc.Select(id=ids.ADMIN_USER_UNIT, label="所属单位（责任单位用户）", w=220, searchable=True,
                                disabled=True, data=unit_options(cfg), nothingFoundMessage="没有该单位"),
                     id=ids.ADMIN_USER_UNIT_BOX, style=HIDDEN),
            dmc.TextInput(id=ids.ADMIN_USER_SCOPE, label="辖区编码", value=cfg.site.default_area, w=160),
            dmc.PasswordInput(id=ids.ADMIN_USER_PASSWORD, label="密码（新建/重置）", w=180),
        ], align="flex-end"),
        dmc.Group([dmc.Button("新建用户", id=ids.ADMIN_USER_CREATE, size="xs"),
                   dmc.Button("修改角色/单位/辖区/姓名", id=ids.ADMIN_USER_UPDATE, size="xs", variant="light"),
                   dmc.Button("重置密码", id=ids.ADMIN_USER_RESET, size="xs", variant="light"),
                   dmc.Button("停用", id=ids.ADMIN_USER_DEACTIVATE, size="xs", color="red", variant="light"),
                   dmc.Button("启用", id=ids.ADMIN_USER_ACTIVATE, size="xs", variant="light")]),
        html.Div(id=ids.ADMIN_USER_STATUS),
        html.Div(id=ids.ADMIN_USERS),
    ], gap="sm", p="sm")


def callbacks() -> None:
    """Register this block's callbacks; admin.py calls it as it executes, so every app gets them."""

    @callback(
        Output(ids.ADMIN_USER_UNIT_BOX, "style"),
        Output(ids.ADMIN_USER_UNIT, "disabled"),
        Input(ids.ADMIN_USER_ROLE, "value"),
    )
    def unit_for_role(role):
        """Only a responsible unit's user has a unit; the other roles never see the field."""
        return (SHOWN, False) if role == "unit" else (HIDDEN, True)

    @callback(
        Output(ids.ADMIN_USER_SCOPE, "value"),
        Input(ids.ADMIN_USER_UNIT, "value"),
        State(ids.ADMIN_USER_SCOPE, "value"),
        prevent_initial_call=True,
    )
    def scope_for_unit(unit, scope):
        """A street's or community's unit works inside its own area: move the scope there when it lies outside."""
        if gate("admin")[0] is None or not unit:
            return no_update
        found = units(get_context().cfg).get(unit)
        if found is None or found.area is None or (scope or "").strip().startswith(found.area):
            return no_update
        return found.area

    @callback(
        Output(ids.ADMIN_USER_STATUS, "children"),
        Input(ids.ADMIN_USER_CREATE, "n_clicks"),
        Input(ids.ADMIN_USER_UPDATE, "n_clicks"),
        Input(ids.ADMIN_USER_RESET, "n_clicks"),
        Input(ids.ADMIN_USER_DEACTIVATE, "n_clicks"),
        Input(ids.ADMIN_USER_ACTIVATE, "n_clicks"),
        State(ids.ADMIN_USER_NAME, "value"),
        State(ids.ADMIN_USER_DISPLAY, "value"),
        State(ids.ADMIN_USER_ROLE, "value"),
        State(ids.ADMIN_USER_SCOPE, "value"),
        State(ids.ADMIN_USER_PASSWORD, "value"),
        State(ids.ADMIN_USER_UNIT, "value"),
        prevent_initial_call=True,
    )
    def manage_user(_c, _u, _r, _d, _a, username, name, role, scope, password, unit):
        """Thin: the service (ops_center.service.users) checks the admin role, validates and audits."""
        user = gate("admin")[0]
        if user is None:
            return no_update
        app = get_context()
        actor, now, username = Actor.of(user), app.clock(), (username or "").strip()
        unit = (unit or None) if role == "unit" else None  # a unit left selected for another role is not sent
        trig = ctx.triggered_id
        try:
            if trig == ids.ADMIN_USER_CREATE:
                user_admin.create_user(app.store, app.cfg, actor, username=username, name=name or "", role=role,
                                       scope=(scope or "").strip(), password=password or "", now=now, unit=unit)
                done = f"已新建用户 {username}"
            elif trig == ids.ADMIN_USER_UPDATE:
                user_admin.update_user(app.store, app.cfg, actor, username, role=role,
                                       scope=(scope or "").strip() or None, name=(name or "").strip() or None,
                                       now=now, unit=unit)
                done = f"已更新用户 {username}"
            elif trig == ids.ADMIN_USER_RESET:
                user_admin.reset_password(app.store, actor, username, password or "", now=now)
                done = f"已重置 {username} 的密码"
            else:
                active = trig == ids.ADMIN_USER_ACTIVATE
                user_admin.set_active(app.store, actor, username, active, now=now)
                done = f"已{'启用' if active else '停用'}用户 {username}"
        except ServiceError as exc:
            return dmc.Alert(exc.user_message, color="red")
        return dmc.Alert(done, color="green")
