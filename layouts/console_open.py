"""Opening one incident in the console from a link, /console?incident=<id>: the 督办台账 and other lists point here."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, callback, dcc, html, no_update

from layouts import ids


def initial(incident: Any) -> dict | None:
    """The incident a link asks for as the console's first selection (the queue pins it even when filtered out)."""
    try:
        incident_id = int(str(incident))
    except ValueError:
        return None
    return {"incident_id": incident_id} if incident_id > 0 else None


def store(incident: Any) -> dcc.Store:
    return dcc.Store(id=ids.CONSOLE_OPEN, data=initial(incident))


def selected_rows(value: Any) -> list[dict]:
    """The grid's selection as rows: a selection a callback set by id ({"ids": [...]}) becomes rows of those ids."""
    if isinstance(value, dict):
        return [{"incident_id": int(i)} for i in value.get("ids") or []]
    return list(value or [])


def callbacks() -> None:
    @callback(
        Output(ids.CONSOLE_GRID, "selectedRows", allow_duplicate=True),
        Output(ids.CONSOLE_OPEN, "data"),
        Output(ids.CONSOLE_MESSAGE, "children", allow_duplicate=True),
        Input(ids.CONSOLE_GRID, "rowData"),
        State(ids.CONSOLE_OPEN, "data"),
        prevent_initial_call=True,
    )
    def open_linked(rows, wanted):
        """Once the queue holds the linked incident, select it (the detail follows); say so when it is not readable."""
        if not wanted:
            return no_update, no_update, no_update
        incident_id = int(wanted["incident_id"])
        if any(r.get("incident_id") == incident_id for r in rows or []):
            return {"ids": [str(incident_id)]}, None, no_update
        return no_update, None, html.Div(f"事件 #{incident_id} 不存在或不在您的管辖范围内", className="msg msg-warn")
