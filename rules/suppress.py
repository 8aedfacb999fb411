"""Maintenance windows and silences: the pure check the pipeline calls, and audited store helpers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ops_center.core.clock import utc_now
from ops_center.core.lifecycle import Actor, PermissionDenied
from ops_center.core.model import Decision, Event
from ops_center.store.store import to_db

SCOPES = ("device", "area", "domain")


class SuppressionError(ValueError):
    """A suppression request is invalid or names no active suppression."""


def _get(row: Any, key: str) -> Any:
    return row.get(key) if isinstance(row, Mapping) else getattr(row, key, None)


def _aware(dt: Any) -> datetime | None:
    if dt is None:
        return None
    if hasattr(dt, "to_pydatetime"):  # pandas Timestamp / NaT from query_df
        if dt != dt:  # NaT
            return None
        dt = dt.to_pydatetime()
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def covers(row: Any, event: Event, decision: Decision | None) -> bool:
    """Whether one suppression's scope takes in this event (ignoring time)."""
    scope, value = _get(row, "scope"), str(_get(row, "value"))
    if scope == "device":
        return event.device_id == value
    if scope == "area":
        return (event.area_code or "").startswith(value)  # a street covers its communities and grids
    if scope == "domain":
        return decision is not None and decision.domain == value
    return False


def is_active(row: Any, now: datetime) -> bool:
    starts, ends, cancelled = (_aware(_get(row, k)) for k in ("starts_at", "ends_at", "cancelled_at"))
    if starts is None or ends is None or not (starts <= now < ends):
        return False
    return cancelled is None or cancelled > now


def active_suppression(event: Event, decision: Decision | None, suppressions: Iterable[Any],
                       now: datetime) -> int | None:
    """Id of the suppression that silences this event at `now` (lowest id wins), else None."""
    found = [int(_get(r, "suppression_id")) for r in suppressions if is_active(r, now) and covers(r, event, decision)]
    return min(found) if found else None


def _check(scope: str, value: str, starts_at: datetime, ends_at: datetime) -> None:
    if scope not in SCOPES:
        raise SuppressionError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    if not value:
        raise SuppressionError("a suppression needs a value (device id, area code or domain)")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise SuppressionError("starts_at and ends_at must be timezone-aware")
    if ends_at <= starts_at:
        raise SuppressionError("ends_at must be after starts_at")


def _authorised(actor: Actor | str) -> str:
    """Suppressions silence alarms, so only an admin may set them; a bare name is the system or config."""
    if isinstance(actor, str):
        return actor
    if actor.role != "admin":
        raise PermissionDenied("仅管理员可以管理屏蔽", detail=f"{actor.username} may not manage suppressions")
    return actor.username


def create_suppression(store: Any, actor: Any, scope: str, value: str, starts_at: datetime,
                       ends_at: datetime, reason: str | None, *, now: datetime | None = None) -> int:
    """Insert a suppression and its audit row in one write; returns the new suppression_id.

    `actor` is an Actor (role checked: admin only) or a plain name for trusted callers (config sync).
    """
    actor_username = _authorised(actor)
    _check(scope, value, starts_at, ends_at)
    at = now or utc_now()

    def write(conn: Any) -> int:
        sid = store.allocate_ids(conn, "suppressions", 1)
        conn.execute(
            "INSERT INTO suppressions (suppression_id, scope, value, starts_at, ends_at, reason, created_by, "
            "created_at, cancelled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            [sid, scope, value, to_db(starts_at), to_db(ends_at), reason, actor_username, to_db(at)],
        )
        detail = {"scope": scope, "value": value, "starts_at": starts_at.isoformat(),
                  "ends_at": ends_at.isoformat(), "reason": reason}
        _audit(store, conn, at, actor_username, "suppression.create", f"suppression:{sid}", detail)
        return sid

    return store.write(write)


def cancel_suppression(store: Any, actor: Any, suppression_id: int, *, now: datetime | None = None) -> None:
    """End a suppression now (kept for the record, never deleted) and audit who did it."""
    actor_username = _authorised(actor)
    at = now or utc_now()

    def write(conn: Any) -> None:
        row = conn.execute(
            "SELECT cancelled_at FROM suppressions WHERE suppression_id = ?", [suppression_id]
        ).fetchone()
        if row is None:
            raise SuppressionError(f"no suppression {suppression_id}")
        if row[0] is not None:
            raise SuppressionError(f"suppression {suppression_id} was already cancelled")
        conn.execute("UPDATE suppressions SET cancelled_at = ? WHERE suppression_id = ?", [to_db(at), suppression_id])
        _audit(store, conn, at, actor_username, "suppression.cancel", f"suppression:{suppression_id}", {})

    store.write(write)


def _audit(store: Any, conn: Any, at: datetime, actor: str, action: str, target: str, detail: dict) -> None:
    audit_id = store.allocate_ids(conn, "audit_log", 1)
    conn.execute(
        "INSERT INTO audit_log (audit_id, ts, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
        [audit_id, to_db(at), actor, action, target, json.dumps(detail, ensure_ascii=False)],
    )


def load_suppressions(store: Any, now: datetime) -> list[dict[str, Any]]:
    """Suppressions not yet ended at `now`, as dicts for active_suppression (the pipeline caches these)."""
    df = store.query_df(
        "SELECT suppression_id, scope, value, starts_at, ends_at, cancelled_at FROM suppressions "
        "WHERE ends_at > ? AND cancelled_at IS NULL ORDER BY suppression_id", [to_db(now)]
    )
    return df.to_dict("records")


def sync_configured(store: Any, cfg: Any, now: datetime) -> int:
    """Create the maintenance windows config.yaml declares, once each (matched on scope, value and times)."""
    created = 0
    for item in cfg.suppressions:
        exists = store.query(
            "SELECT count(*) FROM suppressions WHERE created_by = 'config' AND scope = ? AND value = ? "
            "AND starts_at = ? AND ends_at = ?", [item.scope, item.value, to_db(item.starts), to_db(item.ends)])[0][0]
        if not exists:
            create_suppression(store, "config", item.scope, item.value, item.starts, item.ends, item.reason, now=now)
            created += 1
    return created
