"""The shared dark shell (header, nav by role), the page gate, and small display helpers."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash
import flask
import pandas as pd
from dash import dcc, html

from layouts import ids
from ops_center.core.domains import DOMAIN_NAMES, ROLE_NAMES, SEVERITY_NAMES, STATUS_NAMES
from ops_center.web import auth, forms
from ops_center.web.context import get_context

# A blank MapLibre style served from assets/: no tile sources, no glyphs, so maps never reach outside.
# Given as a URL (not a dict) because plotly re-applies a dict style on every figure update, which
# races with the map's own layer updates ("Map error." in the browser console).
MAP_STYLE_URL = "/assets/map-style.json"

# What a map graph shows before its first figure arrives: a blank dark canvas, not a map, so the
# map is created once with real data instead of being replaced while its style still loads.
BLANK_FIGURE = {
    "data": [],
    "layout": {"paper_bgcolor": "#0a1222", "plot_bgcolor": "#0a1222", "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
               "xaxis": {"visible": False}, "yaxis": {"visible": False}},
}

SCREEN_TITLES = {
    "wall": "一屏统调",
    "console": "值班台",
    "areas": "区域钻取",
    "supervision": "督办台账",
    "reports": "统计报表",
    "admin": "系统管理",
    "tasks": "本单位任务",
    "grid": "网格上报",
}


def tapped(triggered_id: Any) -> bool:
    """Whether the pattern-matching button that triggered a callback was really clicked (n_clicks > 0), not just
    (re)rendered; read from the callback's inputs, since Dash leaves `triggered` values empty for wildcards."""
    if not isinstance(triggered_id, dict):
        return False
    for group in dash.ctx.inputs_list:
        for item in group if isinstance(group, list) else [group]:
            if item.get("id") == triggered_id and item.get("property") == "n_clicks":
                return bool(item.get("value"))
    return False


def current_user() -> auth.User | None:
    return auth.logged_in_user()


def data_version() -> int:
    """The bus-driven change counter create_app keeps on the Flask server (0 outside a request)."""
    version = flask.current_app.extensions.get("ops_center.data_version") if flask.has_app_context() else None
    return version.value if version is not None else 0


def denied(message: str, *, login: bool) -> html.Div:
    link = html.A("前往登录", href="/login", className="ops-link") if login else html.A("返回首页", href="/")
    return html.Div([html.H2(message), link], id=ids.SHELL_DENIED, className="ops-denied")


def gate(screen: str) -> tuple[auth.User | None, Any]:
    """(user, None) when the user may open `screen`, else (None, a stub page saying why)."""
    user = current_user()
    if user is None:
        return None, denied("请先登录", login=True)
    if not user.may_open(screen):
        return None, shell(screen, user, denied("当前账号无权访问此页面", login=False))
    return user, None


def nav(user: auth.User, active: str) -> html.Nav:
    links = [
        html.A(SCREEN_TITLES[s], href=auth.SCREEN_PATHS[s], className="ops-nav-link" + (" active" if s == active else ""))
        for s in user.screens
    ]
    return html.Nav(links, id=ids.SHELL_NAV, className="ops-nav")


def shell(active: str, user: auth.User, *children: Any) -> html.Div:
    """Header with site name, the screens this role may use, the user and a logout link."""
    cfg = get_context().cfg
    header = html.Header(
        [
            html.Div(cfg.site.name, className="ops-brand"),
            nav(user, active),
            html.Div(
                [
                    html.Span(f"{user.name}（{ROLE_NAMES.get(user.role, user.role)}）", id=ids.SHELL_USER),
                    logout_form(),
                ],
                className="ops-user",
            ),
        ],
        className="ops-header",
    )
    return html.Div([header, html.Main(list(children), className="ops-main")], className="ops-shell")


def logout_form() -> html.Form:
    """Logging out is a POST with the session's token (a link or another site's form cannot do it)."""
    return html.Form(
        [dcc.Input(name=forms.CSRF_FIELD, type="hidden", value=forms.csrf_token()),
         html.Button("退出登录", id=ids.SHELL_LOGOUT, type="submit", className="ops-logout",
                     style={"background": "none", "border": "none", "cursor": "pointer", "font": "inherit",
                            "padding": 0})],
        action="/logout", method="POST", style={"display": "inline", "margin": 0},
    )


# --- display helpers (pure) --------------------------------------------------------------


def local_time(value: datetime | None, tz: str, fmt: str = "%m-%d %H:%M") -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)


def epoch_ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def domain_name(code: str) -> str:
    return DOMAIN_NAMES.get(code, code)


def domain_color(code: str) -> str:
    dom = get_context().cfg.domain_by_code.get(code)
    return dom.color if dom else "#8b8d98"


def status_name(code: str) -> str:
    return STATUS_NAMES.get(code, code)


def severity_name(code: str) -> str:
    return f"{code} {SEVERITY_NAMES.get(code, '')}".strip()


def area_name(code: str | None) -> str:
    if not code:
        return "—"
    cfg = get_context().cfg
    area = cfg.area_by_code.get(code)
    return area.name if area else code


def pct(value: float | None) -> str:
    """A rate 0..1 as a percentage; None (nothing to measure) as a dash."""
    if value is None or value != value:
        return "—"
    return f"{value * 100:.1f}%"


def kpi_text(value: object, unit: str) -> str:
    """A KPI value as shown on every page: rates as 0.0 %, durations in hours with a unit, counts whole, else a dash."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return "—"
    if unit == "rate":
        return pct(float(value))
    if unit == "minutes":  # stored in minutes, read in hours like the xlsx (ops_center/read/report_sheets.py)
        return f"{float(value) / 60:.1f} 小时"
    return f"{int(value)}"


def countdown(due_ms: int | None, *, label: str = "") -> html.Span:
    """An empty span the local script fills every second (React never writes into it)."""
    if due_ms is None:
        return html.Span("—", className="ops-countdown none")
    return html.Span(className="ops-countdown", **{"data-due": str(due_ms), "data-label": label})


def server_clock(now: datetime) -> html.Span:
    """Carries the server's `now` so countdowns follow the server clock, not the browser's."""
    return html.Span(className="ops-server-now", **{"data-server-now": str(epoch_ms(now))})



# Device event codes some rule titles carry verbatim ("适老设备low_battery"): shown in Chinese on every screen.
EVENT_NAMES = {"low_battery": "电量低", "offline": "离线", "fault": "故障", "alarm": "报警", "restore": "恢复",
               "tamper": "被拆卸", "online": "上线"}
_EVENT_CODE = re.compile(r"(?<![A-Za-z_])(" + "|".join(EVENT_NAMES) + r")(?![A-Za-z_])")


def display_title(title: Any) -> str:
    """An incident title as a user reads it: device event codes in Chinese, nothing for a missing title."""
    if title is None or (isinstance(title, float) and title != title):
        return "—"
    return _EVENT_CODE.sub(lambda m: EVENT_NAMES[m.group(1)], str(title))


def text_or_empty(value: Any) -> str:
    """A nullable text column as text: NULL/NaN/NA become "" instead of "nan"."""
    try:
        if value is None or pd.isna(value):
            return ""
    except (TypeError, ValueError):  # a list or array is not a missing value
        pass
    return str(value)
