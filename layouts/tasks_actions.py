"""The unit's actions on /tasks: 签收, 退单, 处置反馈, 申请延期, 挂账 — each one WorkOrderService call, checked there."""

from __future__ import annotations

from typing import Any

import dash
import pandas as pd
from dash import Input, Output, State, callback, no_update

from layouts import ids
from layouts.common import current_user
from layouts.photo_upload import note as message
from ops_center.core.lifecycle import Conflict, ServiceError
from ops_center.read.queries import read_scope
from ops_center.read.queries_workorder import assignment_item
from ops_center.web.context import get_context

ACTIONS = tuple(ids.TASKS_ACTIONS)
DONE = {"accept": "已签收", "return_order": "已退单，等待中心裁定", "feedback": "处置反馈已提交",
        "request_extension": "延期申请已提交，等待审批", "hang": "已转挂账"}


def split_hung(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(open assignments, 挂账 ones): a hung case is listed apart and never counted late."""
    if df.empty:
        return df, df
    hung = df["hung_kind"].notna()
    return df[~hung], df[hung]


def allowed(item: dict) -> set[str]:
    """What the unit may do with an assignment in its state (the service checks again)."""
    status, lead = item["assignment_status"], item["role"] == "lead"
    open_case = item["status"] == "dispatched"
    out: set[str] = set()
    if status == "pending":
        out.add("accept")
        if open_case and item.get("decision") != "force":
            out.add("return_order")
    if status == "accepted":
        out.add("feedback")
        if open_case and item.get("decision") != "force":
            out.add("return_order")
        if lead and open_case and not item.get("pending_extension"):
            out.add("request_extension")
        if lead and open_case and not item.get("hung_kind"):
            out.add("hang")
    if not open_case and not (status == "accepted" and not lead):
        out.discard("feedback")
    return out


def run(service: Any, actor: Any, action: str, item: dict, *, note: str, hours: float | None, hang_kind: str | None,
        photos: list[str]) -> Any:
    """Call the one service method for `action` on the assignment the unit opened."""
    aid = int(item["assignment_id"])
    if action == "accept":
        return service.accept(actor, aid)
    if action == "return_order":
        return service.return_order(actor, aid, note)
    if action == "feedback":
        return service.feedback(actor, aid, note, photos=tuple(photos))
    if action == "request_extension":
        return service.request_extension(actor, aid, float(hours or 0) * 3600, note)
    if action == "hang":
        return service.hang(actor, int(item["incident_id"]), int(item["version"]), hang_kind or "", note)
    raise ServiceError(f"未知操作：{action}")


def callbacks() -> None:
    """Registered by layouts/tasks.py (Dash runs a page once per app, so its callbacks come with it)."""

    @callback(
        Output(ids.TASKS_MESSAGE, "children"),
        Output(ids.TASKS_REFRESH, "data"),
        Output(ids.TASKS_NOTE, "value"),
        Output(ids.TASKS_PHOTO_IDS, "data", allow_duplicate=True),
        Output(ids.TASKS_PHOTO_PREVIEW, "children", allow_duplicate=True),
        inputs={"clicks": [Input(ids.TASKS_ACTIONS[a], "n_clicks") for a in ACTIONS]},
        state={"selected": State(ids.TASKS_SELECTED, "data"), "note": State(ids.TASKS_NOTE, "value"),
               "hours": State(ids.TASKS_EXT_HOURS, "value"), "hang_kind": State(ids.TASKS_HANG_KIND, "value"),
               "photos": State(ids.TASKS_PHOTO_IDS, "data"), "refresh": State(ids.TASKS_REFRESH, "data")},
        prevent_initial_call=True,
    )
    def act(clicks, selected, note, hours, hang_kind, photos, refresh):
        trigger = dash.ctx.triggered_id
        if not trigger or not any(clicks):
            return (no_update,) * 5
        action = next(a for a, cid in ids.TASKS_ACTIONS.items() if cid == trigger)
        if not selected:
            return message("请先点选一项任务", "warn"), *(no_update,) * 4
        ctx = get_context()
        user = current_user()
        item = work_item(ctx, user, int(selected["assignment_id"]))
        if item is None:
            return message("该任务不存在或已不属于本单位", "error"), (refresh or 0) + 1, no_update, no_update, no_update
        try:
            run(ctx.work_orders, user.actor(), action, item, note=(note or "").strip(), hours=hours,
                hang_kind=hang_kind, photos=list(photos or []))
        except Conflict:
            return (message(f"#{item['incident_id']} 刚有变化，已刷新，请核对后再操作", "warn"), (refresh or 0) + 1,
                    no_update, no_update, no_update)
        except ServiceError as exc:
            return message(exc.user_message, "error"), no_update, no_update, no_update, no_update
        text = f"#{item['incident_id']} {DONE[action]}"
        keep_photos = action != "feedback"
        return (message(text, "ok"), (refresh or 0) + 1, "", no_update if keep_photos else [],
                no_update if keep_photos else [])


def work_item(ctx: Any, user: Any, assignment_id: int) -> dict | None:
    """The assignment as this user may see it: its own unit's (an admin any), inside its read scope."""
    unit = None if user.role == "admin" else user.unit
    return assignment_item(ctx.store, assignment_id, unit, read_scope(ctx.cfg, user))
