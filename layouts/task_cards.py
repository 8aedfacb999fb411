"""How a unit's task reads on a phone: one card per assignment, flags for 催办/督办, the case's history (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from dash import html

from layouts import ids
from layouts.common import (
    area_name,
    countdown,
    display_title,
    epoch_ms,
    local_time,
    severity_name,
    status_name,
    text_or_empty,
)
from ops_center.core.lifecycle import ACTION_NAMES
from ops_center.core.units import HANG_KINDS
from ops_center.web.photo_route import photo_url

ROLE_NAMES = {"lead": "主办", "co": "协办"}
ASSIGNMENT_NAMES = {"pending": "待签收", "accepted": "办理中", "returned": "已退单", "done": "已反馈", "cancelled": "已改派"}


def _when(value: Any) -> datetime | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value


def deadline(row: dict) -> tuple[datetime | None, str]:
    """The deadline the unit works to now (work_queue.unit_queue's `deadline`): 签收 while pending, else 办结."""
    return _when(row["deadline"]), ("签收" if row["assignment_status"] == "pending" else "办结")


def flags(row: dict) -> list[html.Span]:
    """催办 and 督办 on the item, a passed deadline, a 退单 waiting for the center, a 延期 waiting for approval."""
    out = []
    if bool(row.get("overdue")) or bool(row.get("accept_late")):
        out.append(html.Span("已超时", className="task-flag danger"))
    if row["assignment_status"] == "returned":
        out.append(html.Span("已退单，待中心裁定", className="task-flag"))
    if int(row.get("reminders") or 0):
        out.append(html.Span(f"催办 {int(row['reminders'])} 次", className="task-flag"))
    if bool(row.get("supervised")):
        out.append(html.Span("督办", className="task-flag danger"))
    if int(row.get("round") or 1) > 1:
        out.append(html.Span(f"重办 第{int(row['round'])}轮", className="task-flag danger"))
    if bool(row.get("extension_pending")):
        out.append(html.Span("延期审批中", className="task-flag"))
    return out


def card(row: dict, picked: int | None) -> html.Li:
    aid = int(row["assignment_id"])
    due, label = deadline(row)
    late = bool(row.get("overdue")) or bool(row.get("accept_late"))
    return html.Li([
        html.Div([html.Span(f"#{int(row['incident_id'])}", className="dim"), " ",
                  html.Span(display_title(row["title"]))], className="task-title"),
        html.Div([html.Span(severity_name(row["severity"])), html.Span(ROLE_NAMES.get(row["role"], row["role"])),
                  html.Span(ASSIGNMENT_NAMES.get(row["assignment_status"], row["assignment_status"])),
                  html.Span(area_name(row["area_code"]))], className="task-meta"),
        html.Div([html.Span([f"{label}时限：", countdown(epoch_ms(due), label=label)]) if due else None,
                  *flags(row)], className="task-meta"),
        html.Button("办理" if aid != picked else "办理中 ▸", id={"type": ids.TASKS_OPEN, "id": aid},
                    className="btn btn-big task-open", n_clicks=0, type="button"),
    ], className="task-item" + (" selected" if aid == picked else "") + (" late" if late else ""),
        id=f"task-{aid}")


def task_list(df: pd.DataFrame, picked: int | None) -> list:
    if df.empty:
        return [html.Li("暂无待办", className="dim")]
    return [card(r, picked) for r in df.to_dict("records")]


def hung_list(df: pd.DataFrame, tz: str, picked: int | None) -> list:
    if df.empty:
        return [html.Li("无", className="dim")]
    return [html.Li([
        html.Div([html.Span(f"#{int(r['incident_id'])} "), display_title(r["title"])], className="task-title"),
        html.Div([html.Span(HANG_KINDS.get(r["hung_kind"], r["hung_kind"])),
                  html.Span(f"挂账于 {local_time(_when(r['hung_at']), tz)}") if _when(r.get("hung_at")) else None,
                  html.Span(area_name(r["area_code"]))], className="task-meta"),
        html.Button("查看", id={"type": ids.TASKS_OPEN, "id": int(r["assignment_id"])},
                    className="btn btn-big task-open", n_clicks=0, type="button"),
    ], className="task-item" + (" selected" if int(r["assignment_id"]) == picked else ""))
        for r in df.to_dict("records")]


def task_detail(item: dict, tz: str) -> list:
    """The case as the unit sees it: what was reported, where, its history and photos."""
    iid = int(item["incident_id"])
    history = item.get("timeline")
    entries = []
    if history is not None and not history.empty:
        for r in history.to_dict("records")[-12:]:
            note = text_or_empty(r["note"])
            entries.append(html.Li([
                html.Span(local_time(_when(r["ts"]), tz), className="tl-time"),
                html.Span(text_or_empty(r["actor"]) or "系统", className="tl-actor"),
                html.Span(ACTION_NAMES.get(r["action"], text_or_empty(r["action"]))),
                html.Div(note, className="tl-note") if note else None]))
    photos = [html.Img(src=photo_url(iid, p), alt="照片") for p in item.get("photos") or ()]
    return [
        html.Div([html.Span(f"#{iid} ", className="dim"), display_title(item["title"])], className="task-title"),
        html.Div([html.Span(status_name(item["status"])), html.Span(ROLE_NAMES.get(item["role"], item["role"])),
                  html.Span(ASSIGNMENT_NAMES.get(item["assignment_status"], item["assignment_status"])),
                  html.Span(area_name(item["area_code"]))], className="task-meta"),
        html.Div(text_or_empty(item.get("text")), className="task-text") if text_or_empty(item.get("text")) else None,
        html.Div(photos, className="task-photos") if photos else None,
        html.Ul(entries, className="timeline") if entries else None,
    ]
