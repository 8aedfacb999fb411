"""The wall's figures: the totals row, one tile per domain and the ranking of areas by open load."""

from __future__ import annotations

from typing import Any

from dash import html

from layouts.common import area_name, domain_color, domain_name, pct
from layouts.wall_trend import Trend, change
from ops_center.core import area_tree
from ops_center.core.domains import DOMAIN_CODES, LEVEL_NAMES


def totals_view(totals: dict[str, int], rates: dict[str, float | None]) -> list:
    new_today, before = totals["new_today"], totals.get("same_time_yesterday", 0)
    arrow, trend = change(new_today, before)
    today_card = html.Div(
        [html.Div([html.Span(str(new_today), id="wall-today-value"),
                   html.Span(arrow, id="wall-today-change", className=f"total-change {trend}")],
                  className="total-value"),
         html.Div("今日新增", className="total-label"),
         html.Div(f"昨日同期 {before}", id="wall-today-before", className="total-before")],
        className="wall-total wall-total-today", id="wall-total-today",
    )
    items = [
        ("在办", str(totals["open"]), ""),
        ("即将超时", str(totals.get("soon", 0)), "warn" if totals.get("soon") else ""),
        ("超期", str(totals["overdue"]), "danger" if totals["overdue"] else ""),
        ("督办/升级", f"{totals.get('supervised', 0)}/{totals.get('escalated', 0)}", ""),
        ("及时响应率", pct(rates.get("ack_on_time_rate")), ""),
        ("按期办结率", pct(rates.get("resolve_on_time_rate")), ""),
    ]
    return [today_card] + [
        html.Div([html.Div(value, className="total-value " + cls), html.Div(label, className="total-label")],
                 className="wall-total")
        for label, value, cls in items
    ]


def ranked_load(cfg: Any, street_load: dict[str, int]) -> tuple[dict[str, int], str]:
    """The ranking tile's rows and title: streets at a district center, districts at a city center."""
    level = area_tree.CHILD_LEVEL[area_tree.level(cfg, area_tree.root(cfg))]
    return area_tree.roll_up(street_load, level), f"{LEVEL_NAMES[level]}在办排名"


RANKED_STREETS = 5


def ranking_tile(street_load: dict[str, int], title: str = "街道在办排名") -> html.Div:
    """街道在办排名: the streets (a city's districts) carrying the most open incidents, as bars (the map's fill)."""
    top = sorted(street_load.items(), key=lambda kv: (-kv[1], kv[0]))[:RANKED_STREETS]
    peak = max((n for _, n in top), default=0) or 1
    rows = [html.Div([html.Span(area_name(code).removesuffix("街道"), className="rank-name"),
                      html.Span(html.Span(className="rank-fill", style={"width": f"{n / peak * 100:.0f}%"}),
                                className="rank-bar"),
                      html.Span(str(n), className="rank-num")], className="rank-row")
            for code, n in top]
    return html.Div([html.Div(title, className="tile-name rank-title"),
                     html.Div(rows or [html.Span("暂无在办事件", className="tile-lbl")], className="rank-rows")],
                    className="wall-tile wall-rank", id="wall-tile-ranking")


def tiles_view(domains: dict[str, dict[str, Any]], trend: Trend) -> list:
    tiles = []
    for code in DOMAIN_CODES:
        d = domains[code]
        today = trend.today_by_domain.get(code, 0)
        arrow, moved = change(today, trend.same_time_by_domain.get(code, 0))
        peak = max(max(d["spark"]), 1)
        bars = [html.Span(className="spark-bar", style={"height": f"{max(v / peak * 100, 4):.0f}%"}) for v in d["spark"]]
        tiles.append(html.Div(
            [
                html.Div(domain_name(code), className="tile-name", style={"borderColor": domain_color(code)}),
                html.Div(
                    [
                        html.Div([html.Div(str(d["open"]), className="tile-num"), html.Div("在办", className="tile-lbl")]),
                        html.Div([html.Div(str(d["overdue"]), className="tile-num" + (" danger" if d["overdue"] else "")),
                                  html.Div("超期", className="tile-lbl")]),
                        html.Div([html.Div([str(today), html.Span(arrow, className=f"tile-change {moved}")],
                                           className="tile-num"),
                                  html.Div("今日", className="tile-lbl")],
                                 title=f"今日 {today}，昨日同期 {trend.same_time_by_domain.get(code, 0)}"),
                    ],
                    className="tile-nums",
                ),
                html.Div(bars, className="tile-spark", title="近24小时每小时新增", style={"color": domain_color(code)}),
                html.Div([html.Span("24时前"), html.Span(f"每小时新增 峰值{max(d['spark'])}"), html.Span("现在")],
                         className="tile-axis"),
            ],
            className="wall-tile", id=f"wall-tile-{code}",
        ))
    return tiles
