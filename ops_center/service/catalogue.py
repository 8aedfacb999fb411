"""Publishing 派单目录 versions: admin-only, checked here (not in the page), effective from a date, audited.

A version is published whole (the editor's table) or as changed rows on top of the latest version; it is
never edited afterwards, so every case can be judged by the version in force when it was created.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ops_center.core.config import Config
from ops_center.core.dispatch_catalogue import (
    Catalogue,
    CatalogueError,
    Change,
    Version,
    apply_changes,
    diff,
    entry_label,
    known_units,
    parse_rows,
)
from ops_center.core.dispatch_suggest import Suggestion, guard_warning, suggest_dispatch
from ops_center.core.lifecycle import Actor, PermissionDenied, ServiceError
from ops_center.store.store import from_db, to_db

log = logging.getLogger(__name__)

PUBLISH = "catalogue.publish"


class CatalogueRefused(ServiceError):
    """A version that cannot be published; `user_message` says why, in Chinese."""


class NotAdmin(PermissionDenied):
    user_message = "仅管理员可以发布派单目录"


def load_catalogue(store: Any, cfg: Config) -> Catalogue:
    """The shipped version 0 plus every published version (two small queries)."""
    return _load(store.query, cfg)


def _load(query: Callable[[str], list], cfg: Config) -> Catalogue:
    seed = cfg.dispatch_seed
    heads = query("SELECT version, effective_from, published_by, published_at, note "
                        "FROM dispatch_catalogue_versions ORDER BY version")
    if not heads:
        return seed
    rows: dict[int, list] = {}
    for r in query("SELECT version, domain, category, area_level, lead_unit, co_units, level "
                         "FROM dispatch_catalogue_entries ORDER BY version, rowid"):
        rows.setdefault(r[0], []).append(r)
    versions = list(seed.versions)
    for version, effective_from, by, at, note in heads:
        entries = parse_rows([{"domain": r[1], "category": r[2], "area_level": r[3], "lead": r[4],
                               "co_units": list(r[5] or ()), "level": r[6]} for r in rows.get(version, [])],
                             units=_lenient_units(rows.get(version, [])))
        versions.append(Version(version, from_db(effective_from), entries, by, from_db(at), note or ""))
    return Catalogue(tuple(versions), seed.grassroots)


def _lenient_units(rows: list) -> dict[str, str]:
    """Stored rows were checked when published; a unit removed from config since must not hide a version."""
    return {code: code for r in rows for code in (r[4], *(r[5] or ()))}


def publish(store: Any, cfg: Config, actor: Actor | None, rows: Sequence[Mapping[str, Any]],
            effective_from: datetime | None, note: str, *, now: datetime) -> Version:
    """Publish a whole table as the next version, in force from `effective_from` (default: now)."""
    _require_admin(store, actor, now)
    entries = _checked(rows, cfg)
    return _write(store, cfg, actor, entries, effective_from, note, now)


def publish_changes(store: Any, cfg: Config, actor: Actor | None, upserts: Sequence[Mapping[str, Any]],
                    removals: Iterable[tuple[str, str | None, str]], effective_from: datetime | None, note: str, *,
                    now: datetime) -> Version:
    """Publish the latest version with some rows added, replaced (same domain, category, level) or removed."""
    _require_admin(store, actor, now)
    changed = _checked(upserts, cfg) if upserts else ()
    base = load_catalogue(store, cfg).latest().entries
    removals = [(domain, category, level) for domain, category, level in removals]
    missing = [k for k in removals if k not in {e.key for e in base}]
    if missing:
        raise CatalogueRefused(f"要删除的行不在当前最新版本中：{entry_label(missing[0])}")
    entries = apply_changes(base, changed, removals)
    if not entries:
        raise CatalogueRefused("派单目录不能为空：至少需要一行")
    return _write(store, cfg, actor, entries, effective_from, note, now)


def _checked(rows: Sequence[Mapping[str, Any]], cfg: Config) -> tuple:
    try:
        return parse_rows(rows, known_units(cfg))
    except CatalogueError as exc:
        raise CatalogueRefused(str(exc), detail=str(exc)) from None


def _write(store: Any, cfg: Config, actor: Any, entries: tuple, effective_from: datetime | None, note: str,
           now: datetime) -> Version:
    effective = effective_from or now
    if effective.tzinfo is None:
        raise CatalogueRefused("生效时间缺少时区", detail="naive effective_from")
    if effective < now.replace(second=0, microsecond=0):
        raise CatalogueRefused("生效时间不能早于现在：已受理的事件按创建时生效的目录派遣，目录不能倒签")
    note = (note or "").strip()
    if not note:
        raise CatalogueRefused("请填写发布说明（为何修改派单目录）")

    def write(conn: Any) -> Version:
        # Read inside the writer's transaction: two publishes at once get distinct numbers and true diffs.
        number = conn.execute("SELECT coalesce(max(version), 0) + 1 FROM dispatch_catalogue_versions").fetchall()[0][0]
        latest = _load(lambda sql: conn.execute(sql).fetchall(), cfg).latest()
        changes = diff(latest.entries, entries)
        if not changes:
            raise CatalogueRefused(f"与当前最新版本（第 {latest.version} 版）相同，无需发布")
        conn.execute("INSERT INTO dispatch_catalogue_versions (version, effective_from, published_by, published_at, "
                     "note) VALUES (?, ?, ?, ?, ?)", [number, to_db(effective), actor.username, to_db(now), note])
        conn.executemany(
            "INSERT INTO dispatch_catalogue_entries (version, domain, category, area_level, lead_unit, co_units, "
            "level) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [[number, e.domain, e.category, e.area_level, e.lead, list(e.co_units), e.level] for e in entries])
        detail = {"version": number, "effective_from": effective.isoformat(), "note": note,
                  "against": latest.version, "changes": [_change_json(c) for c in changes]}
        _audit(store, conn, actor.username, PUBLISH, f"dispatch_catalogue:v{number}", detail, now)
        return Version(number, effective, entries, actor.username, now, note)

    return store.write(write)


def _change_json(change: Change) -> dict:
    return {"kind": change.kind, "row": entry_label(change.key),
            "before": change.before.as_row() if change.before else None,
            "after": change.after.as_row() if change.after else None}


def _require_admin(store: Any, actor: Actor | None, now: datetime) -> None:
    """Refuse non-admins, and audit the refused attempt in its own transaction."""
    if actor is not None and actor.role == "admin":
        return
    username = actor.username if actor is not None else "anonymous"
    try:
        store.write(lambda conn: _audit(store, conn, username, f"denied:{PUBLISH}", "dispatch_catalogue", {}, now))
    except Exception:  # noqa: BLE001 - failing to audit a refusal must not hide the refusal
        log.exception("could not audit a refused catalogue publish by %s", username)
    raise NotAdmin()


def _audit(store: Any, conn: Any, actor: str, action: str, target: str, detail: dict, now: datetime) -> None:
    audit_id = store.allocate_ids(conn, "audit_log")
    conn.execute("INSERT INTO audit_log (audit_id, ts, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
                 [audit_id, to_db(now), actor, action, target, json.dumps(detail, ensure_ascii=False)])


def suggest_for(store: Any, cfg: Config, incident: Mapping[str, Any]) -> Suggestion:
    """The dispatch pre-fill for one incident (a row with domain, category, area_code, created_at)."""
    return suggest_dispatch(load_catalogue(store, cfg), incident)


def guard_for(store: Any, cfg: Config, incident: Mapping[str, Any], lead_unit: str | None) -> str | None:
    """The 基层减负 warning for dispatching `incident` to `lead_unit`, or None: what a dispatch form shows and confirms."""
    return guard_warning(load_catalogue(store, cfg), incident, lead_unit, known_units(cfg))
