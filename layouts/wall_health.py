"""The wall's source-health strip: each source's state, rate and last message, refreshed on its own tick."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dash import Input, Output, State, callback, html, no_update

from layouts import ids, wall_draw
from layouts.common import local_time
from layouts.fed_banner import attention_banner, silent_banner
from ops_center.core.ports import HealthRow
from ops_center.web.context import get_context

HEALTH_SECONDS = 5
STATE_NAMES = {"connected": "在线", "polling": "轮询中", "silent": "静默", "down": "中断", "running": "运行中",
               "stopped": "已停止", "connecting": "连接中", "disconnected": "已断开", "auth_failed": "认证失败",
               "error": "故障", "starting": "启动中",
               "calendar_expiring": "即将到期", "calendar_expired": "已过期"}


def health_items(sources: Iterable[HealthRow], now: Any, tz: str) -> list[dict[str, Any]]:
    items = []
    for s in sources:
        last = s.last_message_at
        items.append({
            "id": s.source_id,
            "name": s.name or s.source_id,
            "state": s.state,
            "last": local_time(last, tz, "%H:%M:%S") if last else "—",
            "rate": float(s.messages_per_min),
            "dead": int(s.dead_letters_total),
            "fault": getattr(s, "fault", ""),  # SourceHealth has one; HealthRow does not require it
        })
    return items


def rate_text(per_min: float) -> str:
    """Messages a minute, 万 past ten thousand so 114 k/min reads 11.4万条/分."""
    return f"{per_min / 10000:.1f}万条/分" if per_min >= 10000 else f"{per_min:.0f}条/分"


def health_view(items: list[dict[str, Any]]) -> list:
    if not items:
        return [html.Span("暂无数据源", className="health-empty")]
    return [*silent_banner(items, html.Div), *attention_banner(items, html.Div)] + [
        html.Div(
            [html.Span(className="health-dot"), html.Span(item["name"], className="health-name"),
             html.Span(STATE_NAMES.get(item["state"], item["state"]), className="health-state"),
             html.Span(rate_text(item["rate"]), className="health-rate"),
             html.Span(f"最近 {item['last']}", className="health-last")],
            className=f"health-item state-{item['state']}", id=f"wall-health-{item['id']}",
        )
        for item in items
    ]


def callbacks() -> None:
    """Registered by layouts/wall.py once per app."""

    @callback(
        Output(ids.WALL_HEALTH, "children"),
        Output(ids.WALL_HEALTH_SEEN, "data"),
        Input(ids.WALL_HEALTH_TICK, "n_intervals"),
        State(ids.WALL_HEALTH_SEEN, "data"),
    )
    def health(_n: int | None, seen: str | None):
        ctx = get_context()
        items = health_items(ctx.health(), ctx.clock(), ctx.cfg.site.timezone)
        digest = wall_draw.digest(items)
        if digest == seen:
            return no_update, no_update
        return health_view(items), digest
