"""How a 值班台 timeline entry reads: the action's name and the status change it made."""

from __future__ import annotations

from typing import Any

from dash import html

from layouts.common import local_time, status_name, text_or_empty
from ops_center.service.incidents import ACTION_NAMES

TIMELINE_ACTIONS = {**ACTION_NAMES, "created": "创建", "escalated": "升级", "overdue": "超期", "warned": "预警",
                    "updated": "重复上报", "correlated": "关联上报"}


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
            html.Span(change_text(r), className="tl-change"),
            html.Div(note, className="tl-note") if note else None,
        ]))
    return html.Ul(items, className="timeline")


def change_text(r: Any) -> str:
    before, after = text_or_empty(r["from_status"]), text_or_empty(r["to_status"])
    return f"{status_name(before)} → {status_name(after)}" if before and after and before != after else ""
