"""值班台 派单目录 block: what the catalogue in force at the case's creation says, and the 基层减负 guard.

A block of the console (console_actions places `guard_row()` under the dispatch row; console.py calls `callbacks()`).
The pre-selected lead and co-units come from layouts/console_dispatch.suggestion, which asks the catalogue; the
dispatch itself refuses to send a functional department's case to a community until the officer confirms.
"""

from __future__ import annotations

from typing import Any

import dash_mantine_components as dmc
from dash import Input, Output, callback, html

from layouts import ids
from ops_center.core.dispatch_catalogue import known_units, unit_name
from ops_center.core.dispatch_suggest import Suggestion
from ops_center.core.domains import LEVEL_NAMES
from ops_center.core.lifecycle import ServiceError
from ops_center.service import catalogue as dispatch_catalogue
from ops_center.web.context import get_context

CONFIRM_LABEL = "已知悉，确认派往基层"


def guard_row() -> html.Div:
    return html.Div([html.Div(id=ids.CONSOLE_CATALOGUE_HINT, className="dispatch-hint"),
                     html.Div(id=ids.CONSOLE_GUARD, role="alert"),
                     dmc.Checkbox(id=ids.CONSOLE_GUARD_CONFIRM, label=CONFIRM_LABEL, checked=False,
                                  style={"display": "none"})], className="action-row dispatch-guard")


def catalogue_hint(suggestion: Suggestion, units: dict[str, str]) -> Any:
    """The catalogue's row for the case, named by version: the officer sees why the form is pre-filled so."""
    if not suggestion.lead_unit:
        return None
    co = "、".join(unit_name(units, c) for c in suggestion.co_units)
    return html.Span(f"派单目录（第 {suggestion.version} 版，事件创建时生效）：主办 {unit_name(units, suggestion.lead_unit)}"
                     + (f" · 协办 {co}" if co else "") + f" · 层级 {LEVEL_NAMES.get(suggestion.level or '', '—')}",
                     className="dim")


def guard_text(ctx: Any, incident_id: int, lead_unit: str) -> str | None:
    """The 基层减负 warning for sending this case to `lead_unit`, judged by the catalogue at its creation."""
    try:
        inc = ctx.service.get(incident_id)
    except ServiceError:
        return None
    return dispatch_catalogue.guard_for(ctx.store, ctx.cfg, inc, lead_unit)


def callbacks() -> None:
    """Registered by layouts/console.py once per app."""

    @callback(
        Output(ids.CONSOLE_CATALOGUE_HINT, "children"),
        Output(ids.CONSOLE_GUARD, "children"),
        Output(ids.CONSOLE_GUARD_CONFIRM, "style"),
        Output(ids.CONSOLE_GUARD_CONFIRM, "checked"),
        Input(ids.CONSOLE_DEPARTMENT, "value"),
        Input(ids.CONSOLE_SELECTED, "data"),
    )
    def guard(lead_unit, selected):
        """Shown as soon as a functional department's case is pointed at a community unit; confirmation resets."""
        hidden = {"display": "none"}
        if not selected:
            return None, None, hidden, False
        ctx = get_context()
        try:
            inc = ctx.service.get(int(selected["incident_id"]))
        except ServiceError:
            return None, None, hidden, False
        hint = catalogue_hint(dispatch_catalogue.suggest_for(ctx.store, ctx.cfg, inc), known_units(ctx.cfg))
        warning = dispatch_catalogue.guard_for(ctx.store, ctx.cfg, inc, lead_unit) if lead_unit else None
        if warning is None:
            return hint, None, hidden, False
        return hint, html.Div(warning, className="msg msg-warn"), {"display": "block"}, False
