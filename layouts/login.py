"""登录: a plain HTML form posted to /auth/login (no callback), so it works before any session exists."""

from __future__ import annotations

import dash
from dash import dcc, html

from layouts import ids
from layouts.common import current_user
from ops_center.web import forms
from ops_center.web.context import get_context

dash.register_page(__name__, path="/login", title="登录", name="登录")


def error_text(error: str, wait: str | None) -> str:
    """What the login page says after a refused POST (the query string comes from anyone: text only)."""
    if error == "throttled":
        seconds = int(wait) if wait and wait.isdigit() and len(wait) < 7 else None
        return f"登录尝试过于频繁，请 {seconds} 秒后再试" if seconds else "登录尝试过于频繁，请稍后再试"
    if error == "expired":
        return "登录页面已过期，请重新输入后登录"
    return "用户名或密码错误，请重试"


def layout(error: str | None = None, next: str | None = None, wait: str | None = None,  # noqa: A002
           **_: object) -> html.Div:
    cfg = get_context().cfg
    user = current_user()
    notice = None
    if error:
        notice = html.Div(error_text(error, wait), id=ids.LOGIN_ERROR, className="login-error")
    elif user is not None:
        notice = html.Div(f"当前已登录：{user.name}", className="login-info")
    form = html.Form(
        [
            html.Label("用户名", htmlFor=ids.LOGIN_USERNAME),
            dcc.Input(id=ids.LOGIN_USERNAME, name="username", type="text", autoComplete="username",
                      className="login-input", autoFocus=True),
            html.Label("密码", htmlFor=ids.LOGIN_PASSWORD),
            dcc.Input(id=ids.LOGIN_PASSWORD, name="password", type="password", autoComplete="current-password",
                      className="login-input"),
            dcc.Input(id=ids.LOGIN_NEXT, name="next", type="hidden", value=next or "/"),
            dcc.Input(name=forms.CSRF_FIELD, type="hidden", value=forms.csrf_token()),
            html.Button("登录", id=ids.LOGIN_SUBMIT, type="submit", className="login-submit"),
        ],
        id=ids.LOGIN_FORM,
        action="/auth/login",
        method="POST",
        className="login-form",
    )
    return html.Div(
        html.Div(
            [html.H1(cfg.site.name, className="login-title"), html.H2("城运平台 · 登录", className="login-sub"),
             notice, form],
            className="login-card",
        ),
        className="login-page",
    )
