"""Read queries behind the admin screen: dead letters, sources, rules, suppressions, users, audit log."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from ops_center.core.config import Config
from ops_center.core.ports import HealthRow, StoreReads
from ops_center.store.store import from_db, to_db

DEAD_LETTER_LIMIT = 200
AUDIT_LIMIT = 300


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter with its raw bytes, for the inspector."""

    dead_letter_id: int
    received_at: datetime
    source_id: str
    topic: str | None
    reason: str
    detail: str | None
    raw: bytes


def dead_letters(store: Any, *, source_id: str | None = None, limit: int = DEAD_LETTER_LIMIT) -> pd.DataFrame:
    """Newest dead letters (without the raw bytes, which the inspector loads one at a time)."""
    sql = (
        "SELECT dead_letter_id, received_at, source_id, topic, reason, detail, octet_length(raw) AS size "
        "FROM dead_letters WHERE (? IS NULL OR source_id = ?) ORDER BY received_at DESC, dead_letter_id DESC LIMIT ?"
    )
    return store.query_df(sql, [source_id, source_id, int(limit)])


def dead_letter(store: Any, dead_letter_id: int) -> DeadLetter | None:
    rows = store.query(
        "SELECT dead_letter_id, received_at, source_id, topic, reason, detail, raw FROM dead_letters "
        "WHERE dead_letter_id = ?",
        [int(dead_letter_id)],
    )
    if not rows:
        return None
    r = rows[0]
    return DeadLetter(int(r[0]), from_db(r[1]), r[2], r[3], r[4], r[5], bytes(r[6] or b""))


def escaped_text(raw: bytes, limit: int = 8192) -> str:
    """Raw bytes as printable text: valid UTF-8 kept, everything else as \\xNN (never interpreted)."""
    text = raw[:limit].decode("utf-8", errors="backslashreplace")
    out = "".join(ch if ch.isprintable() or ch in "\n\t" else f"\\x{ord(ch):02x}" for ch in text)
    return out + (f"\n… (共 {len(raw)} 字节，仅显示前 {limit} 字节)" if len(raw) > limit else "")


def hex_dump(raw: bytes, limit: int = 1024) -> str:
    """Classic 16-bytes-per-line hex dump with an ASCII column."""
    lines = []
    for offset in range(0, min(len(raw), limit), 16):
        chunk = raw[offset : offset + 16]
        hexpart = " ".join(f"{b:02x}" for b in chunk)
        ascii_part = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexpart:<47}  {ascii_part}")
    if len(raw) > limit:
        lines.append(f"… (共 {len(raw)} 字节)")
    return "\n".join(lines)


def dead_letter_counts(store: Any) -> dict[str, int]:
    """Dead letters per source, for the health table."""
    return {r[0]: int(r[1]) for r in store.query("SELECT source_id, count(*) FROM dead_letters GROUP BY source_id")}


def sources(cfg: Config, store: StoreReads, health_rows: Iterable[HealthRow]) -> pd.DataFrame:
    """Configured sources joined with their live health (state, last message, rates)."""
    health = {h.source_id: h for h in health_rows}
    counts = dead_letter_counts(store)
    rows = []
    ids = [s.id for s in cfg.sources] + [sid for sid in health if cfg.source(sid) is None]
    for sid in ids:
        src = cfg.source(sid)
        h = health.get(sid)
        last = h.last_message_at if h else None
        rows.append(
            {
                "source_id": sid,
                "name": (h.name if h else None) or (src.name if src else sid),
                "kind": src.kind if src else "",
                "state": h.state if h else "unknown",
                "last_message_at": last.astimezone(UTC) if isinstance(last, datetime) else None,
                "messages_per_min": float(h.messages_per_min) if h else 0.0,
                "dead_letters_per_min": float(h.dead_letters_per_min) if h else 0.0,
                "dead_letters_total": int(h.dead_letters_total) if h else 0,
                "dead_letters_stored": counts.get(sid, 0),
                "heartbeat_s": src.heartbeat.total_seconds() if src else None,
            }
        )
    return pd.DataFrame(rows)


def rules_table(ruleset: Any) -> pd.DataFrame:
    """One row per compiled rule (the rule set's own description), empty when no rules are loaded."""
    rows = ruleset.describe() if ruleset is not None else []
    columns = ["rule_id", "file", "line", "domain", "category", "severity", "level", "department", "description"]
    return pd.DataFrame(rows, columns=columns + [c for c in (rows[0] if rows else {}) if c not in columns])[columns]


def suppressions(store: Any, *, now: datetime, include_past: bool = False) -> pd.DataFrame:
    """Suppressions, active and scheduled first; `state` is 生效中 / 未开始 / 已结束 / 已取消."""
    df = store.query_df(
        "SELECT suppression_id, scope, value, starts_at, ends_at, reason, created_by, created_at, cancelled_at "
        "FROM suppressions WHERE ? OR (cancelled_at IS NULL AND ends_at > ?) "
        "ORDER BY cancelled_at IS NOT NULL, starts_at DESC, suppression_id DESC",
        [bool(include_past), to_db(now)],
    )
    naive_now = to_db(now)

    def state(row: pd.Series) -> str:
        if pd.notna(row["cancelled_at"]):
            return "已取消"
        if row["ends_at"] <= naive_now:
            return "已结束"
        if row["starts_at"] > naive_now:
            return "未开始"
        return "生效中"

    df["state"] = df.apply(state, axis=1) if len(df) else pd.Series(dtype=str)
    return df


def users(store: Any) -> pd.DataFrame:
    """Users without their password hashes."""
    return store.query_df(
        "SELECT username, name, role, scope, unit, active, updated_at FROM users ORDER BY active DESC, username"
    )


def audit_log(
    store: Any, *, actor: str | None = None, action: str | None = None, limit: int = AUDIT_LIMIT
) -> pd.DataFrame:
    """Newest audit entries, optionally filtered by actor or action prefix."""
    df = store.query_df(
        "SELECT audit_id, ts, actor, action, target, CAST(detail AS VARCHAR) AS detail FROM audit_log "
        "WHERE (? IS NULL OR actor = ?) AND (? IS NULL OR starts_with(action, ?)) "
        "ORDER BY ts DESC, audit_id DESC LIMIT ?",
        [actor, actor, action, action, int(limit)],
    )
    df["detail"] = df["detail"].map(_compact_json)
    return df


def _compact_json(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    try:
        return json.dumps(json.loads(str(value)), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        return str(value)


BACKTEST_MAX_EVENTS = 500_000


def backtest_inputs(store: Any, start: datetime, end: datetime) -> tuple[pd.DataFrame, dict[str, int]]:
    """Stored events of a period (capped) and the incidents actually created then, per domain; archived ones too."""
    events = store.query_df(
        "SELECT * FROM events_all WHERE occurred_at >= ? AND occurred_at < ? ORDER BY occurred_at, event_id LIMIT ?",
        [to_db(start), to_db(end), BACKTEST_MAX_EVENTS],
    )
    actual = dict(store.query(
        "SELECT domain, count(*) FROM incidents_all WHERE created_at >= ? AND created_at < ? GROUP BY domain",
        [to_db(start), to_db(end)],
    ))
    return events, {k: int(v) for k, v in actual.items()}
