"""What makes a posted form ours: the session's anti-forgery token, a same-site Origin, and a `next` that stays on site.

The login and logout forms are plain HTML POSTs (not Dash callbacks), so they carry a token bound to
the session cookie (HttpOnly, SameSite=Lax: another site's form cannot send it or read it).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

import flask


def safe_next(target: str | None) -> str:
    """Only same-site relative paths, so the login form cannot be used as an open redirect: browsers drop
    tabs and newlines from URLs (`/\t/evil` is `//evil`) and read `\\` as `/`, and CR/LF would split the header."""
    if not target or not target.startswith("/") or len(target) > 2000:
        return "/"
    if any(ch < " " or ch == "\x7f" or ch == "\\" for ch in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return "/"
    return target


CSRF_KEY = "_csrf"
CSRF_FIELD = "csrf_token"


def csrf_token() -> str:
    """The session's anti-forgery token for the login and logout forms (made on first use)."""
    token = flask.session.get(CSRF_KEY)
    if not token:
        token = flask.session[CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def csrf_ok(req: flask.Request) -> bool:
    """A form POST is ours when it carries the session's token and, if the browser names an origin, ours."""
    origin = req.headers.get("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc != req.host:
        return False
    expected = flask.session.get(CSRF_KEY)
    sent = req.form.get(CSRF_FIELD, "")
    return bool(expected) and hmac.compare_digest(str(expected).encode(), sent.encode())
