"""The phone screens' photo picker: files are checked and stored on upload, so a bad one is refused at once."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, callback, dcc, html, no_update

from ops_center.store.photos import MAX_PHOTOS, PhotoRejected
from ops_center.web.context import get_context
from ops_center.web.photo_route import photo_store


def picker(upload_id: str, store_id: str, preview_id: str, label: str = "拍照 / 选择照片") -> html.Div:
    """A big touch target (the phone offers its camera for accept="image/*"), the kept ids and their thumbnails."""
    return html.Div([
        dcc.Upload(html.Div([html.Span("+", className="pick-icon"), html.Span(label)], className="pick-target"),
                   id=upload_id, accept="image/*", multiple=True, className="photo-pick"),
        html.Div(id=preview_id, className="photo-preview"),
        dcc.Store(id=store_id, data=[]),
    ], className="photo-picker")


def register(upload_id: str, store_id: str, preview_id: str, message_id: str) -> None:
    """Store new uploads and add them to the kept ids; a refused file leaves the kept ones and says why."""

    @callback(
        Output(store_id, "data"),
        Output(preview_id, "children"),
        Output(message_id, "children", allow_duplicate=True),
        Output(upload_id, "contents"),
        Input(upload_id, "contents"),
        State(upload_id, "filename"),
        State(store_id, "data"),
        prevent_initial_call=True,
    )
    def keep_photos(contents, names, kept):
        if not contents:
            return no_update, no_update, no_update, no_update
        kept = list(kept or [])
        if len(kept) + len(contents) > MAX_PHOTOS:
            return no_update, no_update, note(f"最多 {MAX_PHOTOS} 张照片，已有 {len(kept)} 张", "error"), None
        try:
            saved = photo_store(get_context()).save_uploads(contents, names)
        except PhotoRejected as exc:
            return no_update, no_update, note(exc.user_message, "error"), None
        kept += [p for p in saved if p not in kept]
        return kept, thumbnails(kept, contents, saved), note(f"已添加 {len(saved)} 张照片，共 {len(kept)} 张", "ok"), None


def thumbnails(kept: list[str], contents: list[str], saved: list[str]) -> list[Any]:
    """The newest uploads as small images from the browser's own data; earlier ones as numbered chips."""
    fresh = dict(zip(saved, contents, strict=False))
    return [html.Img(src=fresh[p], className="photo-thumb", alt=f"照片{i + 1}") if p in fresh
            else html.Span(f"照片{i + 1}", className="photo-chip") for i, p in enumerate(kept)]


def note(text: str, kind: str) -> html.Div:
    return html.Div(text, className=f"msg msg-{kind}", role="status")
