"""Photos served only to a logged-in user who may read the incident they belong to."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import flask

from ops_center.read.queries import read_scope
from ops_center.read.queries_photos import may_view_photo
from ops_center.store.photos import PhotoStore, is_photo_id
from ops_center.web.auth import logged_in_user

log = logging.getLogger(__name__)
PHOTO_PATH = "/photos"


def photo_store(ctx: Any) -> PhotoStore:
    """The photo folder beside the context's store, with the configured size limit."""
    return PhotoStore.beside(ctx.store.path, int(ctx.cfg.web.photo_max_mb * 1024 * 1024))


def photo_url(incident_id: int, photo_id: str) -> str:
    return f"{PHOTO_PATH}/{int(incident_id)}/{photo_id}"


def mount(server: flask.Flask, ctx_of: Callable[[], Any]) -> None:
    """GET /photos/<incident>/<photo id>: 404 for anything the viewer may not see (ids reveal nothing)."""

    @server.get(f"{PHOTO_PATH}/<int:incident_id>/<photo_id>")
    def serve_photo(incident_id: int, photo_id: str) -> Any:
        user = logged_in_user()
        if user is None or user.kiosk:
            return flask.Response(status=401)
        if not is_photo_id(photo_id):
            return flask.Response(status=404)
        ctx = ctx_of()
        if not may_view_photo(ctx.store, read_scope(ctx.cfg, user), incident_id, photo_id):
            log.info("photo %s of #%s refused to %s", photo_id[:12], incident_id, user.username)
            return flask.Response(status=404)
        found = photo_store(ctx).read(photo_id)
        if found is None:
            return flask.Response(status=404)
        data, mimetype = found
        return flask.Response(data, mimetype=mimetype, headers={
            "X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=86400",
            "Content-Disposition": "inline",
            # the browser's own image viewer styles the page inline; nothing else may load or run
            "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"})
