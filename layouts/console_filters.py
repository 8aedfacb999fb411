"""值班台 filter bar: which cases the queue lists and in what order, plus the bulk and 回访 buttons beside it."""

from __future__ import annotations

from typing import Any

import dash_mantine_components as dmc
from dash import Input, Output, callback, dcc, html

from layouts import console_revisit, ids
from layouts.common import domain_name, severity_name
from ops_center.core.area_codes import street_of
from ops_center.core.domains import DOMAIN_CODES, SEVERITIES, SOURCE_NAMES, STATUS_NAMES, UNCLASSIFIED
from ops_center.read import queries

SORT_NAMES = {"due": "按时限（最紧先）", "severity": "按级别", "created": "按创建时间（新→旧）", "area": "按区域"}


def options(pairs: Any) -> list[dict[str, str]]:
    """Mantine selects take value/label pairs as strings."""
    return [{"value": str(v), "label": str(label)} for v, label in pairs]


def filters_row(cfg: Any, user: Any) -> html.Div:
    """The filter selects, limited to the streets inside the officer's scope."""
    scope = queries.scope_prefix(cfg, user.scope)
    streets = [a for a in cfg.areas.items if a.level == "street" and (scope is None or a.code.startswith(street_of(scope) or scope))]
    filters = html.Div(
        [
            dmc.MultiSelect(id=ids.CONSOLE_F_DOMAIN, placeholder="全部领域", clearable=True, w=220,
                            data=options([(c, domain_name(c)) for c in (*DOMAIN_CODES, UNCLASSIFIED)])),
            dmc.Select(id=ids.CONSOLE_F_AREA, placeholder="全部街道", clearable=True, w=170,
                       data=options([(a.code, a.name) for a in streets])),
            dmc.MultiSelect(id=ids.CONSOLE_F_STATUS, placeholder="待办状态", clearable=True, w=260,
                            value=list(queries.QUEUE_STATUSES), data=options(STATUS_NAMES.items())),
            dmc.Select(id=ids.CONSOLE_F_SOURCE, placeholder="全部来源", clearable=True, w=140,
                       data=options(SOURCE_NAMES.items())),
            dmc.MultiSelect(id=ids.CONSOLE_F_SEVERITY, placeholder="全部级别", clearable=True, w=180,
                            data=options((s, severity_name(s)) for s in SEVERITIES)),
            dmc.Select(id=ids.CONSOLE_SORT, value="due", w=170, allowDeselect=False,
                       data=options(SORT_NAMES.items())),
            html.Button("批量受理", id=ids.CONSOLE_BULK_ACK, className="btn", n_clicks=0),
            dcc.ConfirmDialog(id=ids.CONSOLE_BULK_CONFIRM),
            console_revisit.open_button(),
            html.Span(id=ids.CONSOLE_COUNT, className="console-count"),
        ],
        className="console-filters",
    )
    return filters


def callbacks() -> None:
    """Registered by layouts/console.py once per app."""

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
