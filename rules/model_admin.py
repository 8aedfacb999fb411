"""Adopt and roll back text-model versions as an admin action: role checked here, audited, applied live."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ops_center.core.config import Config
from ops_center.core.lifecycle import Actor, PermissionDenied
from ops_center.store.store import to_db
from rules import model_store


def _admin(actor: Actor) -> str:
    """Changing how citizen texts are routed is an admin decision, checked on the server."""
    if actor.role != "admin":
        raise PermissionDenied("仅管理员可以采用或回滚文本模型", detail=f"{actor.username} may not change the text model")
    return actor.username


def _audit(store: Any, at: datetime, actor: str, action: str, detail: dict) -> None:
    def write(conn: Any) -> None:
        audit_id = store.allocate_ids(conn, "audit_log", 1)
        conn.execute("INSERT INTO audit_log (audit_id, ts, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
                     [audit_id, to_db(at), actor, action, f"text_model:{detail['version']}",
                      json.dumps(detail, ensure_ascii=False)])

    store.write(write)


def adopt(store: Any, holder: Any, cfg: Config, actor: Any, version: str, now: datetime) -> dict[str, Any]:
    """Put `version` in use for every new text from now on; the previous version stays for rollback."""
    who = _admin(actor)
    done = model_store.adopt(cfg, version, who, now)
    _audit(store, now, who, "text_model.adopt", done)
    if holder is not None:
        holder.reload_model()
    return done


def rollback(store: Any, holder: Any, cfg: Config, actor: Any, now: datetime) -> dict[str, Any]:
    """Return to the version that ran before the current one was adopted."""
    who = _admin(actor)
    done = model_store.rollback(cfg, who, now)
    _audit(store, now, who, "text_model.rollback", done)
    if holder is not None:
        holder.reload_model()
    return done
