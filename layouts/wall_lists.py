"""The wall's incident lists: the P1 alarm strip and the urgent and latest incidents beside the map."""

from __future__ import annotations

from typing import Any

import pandas as pd
from dash import html

from layouts.common import area_name, countdown, domain_color, domain_name, epoch_ms, local_time, status_name
from ops_center.core.domains import SEVERITY_NAMES

P1_CHIPS = 6  # P1 chips that fit the alarm strip at 16:9; the rest are counted ("另 N 起")
LIST_ROWS = 7  # urgent rows that fit the list panel above the 7-day trend (assets/wall.css: .wall-side)


def p1_view(p1: Any) -> list:
    """The alarm strip: every open P1 counted, the first few named with their area and deadline."""
    if p1 is None or len(p1) == 0:
        return [html.Span("P1 紧急", className="p1-label calm"), html.Span("当前无在办P1事件", className="p1-none")]
    chips = []
    for r in p1.head(P1_CHIPS).to_dict("records"):
        is_new = r["status"] == "new"
        due = r["ack_due_at"] if is_new else r["resolve_due_at"]
        chips.append(html.Div(
            [html.Span(className="dot", style={"background": domain_color(r["domain"])}),
             html.Span(str(r["title"]), className="p1-title"),
             html.Span(area_name(r["street_code"] or r["area_code"]), className="p1-area"),
             countdown(epoch_ms(due.to_pydatetime()) if due is not None and due == due else None,
                       label="受理" if is_new else "办结")],
            className="p1-chip", id=f"wall-p1-{int(r['incident_id'])}",
        ))
    more = len(p1) - len(chips)
    return [html.Span(f"P1 紧急 {len(p1)} 起", className="p1-label"), *chips,
            *([html.Span(f"另 {more} 起", className="p1-more")] if more > 0 else [])]


def list_view(urgent: Any, tz: str) -> Any:
    if urgent is None or len(urgent) == 0:
        return html.Div("暂无在办事件", className="wall-empty")
    rows = []
    for r in urgent.to_dict("records"):
        is_new = r["status"] == "new"
        due = r["ack_due_at"] if is_new else r["resolve_due_at"]
        rows.append(html.Div(
            [
                html.Span(r["severity"], className=f"sev sev-{r['severity']}", title=SEVERITY_NAMES.get(r["severity"], "")),
                html.Span(className="dot", style={"background": domain_color(r["domain"])}),
                html.Div(
                    [html.Div(str(r["title"]), className="item-title"),
                     html.Div(f"{domain_name(r['domain'])} · {area_name(r['area_code'])} · "
                              f"{local_time(r['created_at'].to_pydatetime(), tz, '%H:%M')}", className="item-sub")],
                    className="item-main",
                ),
                html.Span(status_name(r["status"]), className=f"status status-{r['status']}"),
                countdown(epoch_ms(due.to_pydatetime()) if due is not None and due == due else None,
                          label="受理" if is_new else "办结"),
            ],
            # overdue_now is NULL (pd.NA, not true) when a deadline it needs is missing
            className="wall-item" + (" p1" if r["severity"] == "P1" else "")
            + (" late" if pd.notna(r.get("overdue_now")) and r.get("overdue_now") else ""),
            id=f"wall-item-{int(r['incident_id'])}",
        ))
    return rows
