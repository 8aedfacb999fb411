"""The wall's 7-day trend and today against 昨日同期, the comparison its tiles repeat per domain."""

from __future__ import annotations

from typing import NamedTuple

from dash import html

from ops_center.read import kpis

TREND_DAYS = 7
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


class Trend(NamedTuple):
    """受理数 per local day (today live from the hot set, earlier days from the cached KPI query) and 昨日同期."""

    days: tuple  # local dates, oldest first, today last
    created: tuple[int, ...]
    same_time_yesterday: int
    today_by_domain: dict[str, int]
    same_time_by_domain: dict[str, int]
    as_of: str  # local HH:MM the figures run to


def day_trend(daily: kpis.DailyCreated, today: dict[str, int], as_of: str) -> Trend:
    """The cached series with today's figure replaced by the live one, so the wall's 今日 moves within 2 s."""
    return Trend(daily.days, (*daily.created[:-1], sum(today.values())), daily.same_time_yesterday, today,
                 {code: same for code, (_, same) in daily.by_domain.items()}, as_of)


def change(today: int, before: int) -> tuple[str, str]:
    """Today against 昨日同期 as an arrow and the difference, and its colour class (more incidents is the warning)."""
    diff = today - before
    if diff == 0:
        return "持平", "flat"
    return (f"↑{diff}", "up") if diff > 0 else (f"↓{-diff}", "down")


def trend_view(trend: Trend) -> list:
    """近7日每日新增: one bar per local day with its count and date, today's bar with yesterday's same-time mark."""
    peak = max(max(trend.created), trend.same_time_yesterday, 1)
    last = len(trend.days) - 1
    columns = []
    for i, (day, n) in enumerate(zip(trend.days, trend.created, strict=True)):
        name = "今日" if i == last else "昨日" if i == last - 1 else WEEKDAYS[day.weekday()]
        bar = [html.Div(className="trend-fill", style={"height": f"{n / peak * 100:.1f}%"})]
        if i == last:  # where yesterday stood at this time of day: today's bar above it is more than yesterday
            bar.append(html.Div(className="trend-mark", title=f"昨日同期 {trend.same_time_yesterday}",
                                style={"bottom": f"{trend.same_time_yesterday / peak * 100:.1f}%"}))
        columns.append(html.Div(
            [html.Div(str(n), className="trend-num"), html.Div(bar, className="trend-bar"),
             html.Div(f"{day.month}/{day.day}", className="trend-date"), html.Div(name, className="trend-day")],
            className="trend-col" + (" today" if i == last else ""), id=f"wall-trend-day-{i}",
        ))
    arrow, moved = change(trend.created[-1], trend.same_time_yesterday)
    head = html.Div(
        [html.H3(f"近{len(trend.days)}日每日新增", className="panel-title"),
         html.Div([f"今日截至{trend.as_of} ", html.Span(arrow, className=f"total-change {moved}"),
                   html.Span(className="trend-key"), f"昨日同期 {trend.same_time_yesterday}"],
                  className="trend-note")],
        className="trend-head",
    )
    return [head, html.Div(columns, className="trend-cols")]
