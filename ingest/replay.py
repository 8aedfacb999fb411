"""Dead-letter replay and discard: after a mapping is fixed, the stored raw bytes go through their source's own
parser and the one pipeline again; a discard is recorded, never a silent delete. Both are audited."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ingest.georeport import load_csv_document, load_json_document, parse_records
from ingest.payloads import Invalid, decode_json, parse_grid, parse_sensor
from ops_center.store.store import to_db

log = logging.getLogger(__name__)

REPLAYED, DISCARDED, REPLAY_FAILED = "dead_letter_replayed", "dead_letter_discarded", "dead_letter_replay_failed"
MQTT_PARSERS = {"mqtt_sensor": parse_sensor, "mqtt_grid": parse_grid}
RECORD_KINDS = ("drop_folder", "open311")


@dataclass(frozen=True)
class Outcome:
    """What a replay did: events handed to the pipeline, or why not (in Chinese, for the admin)."""

    ok: bool
    message: str
    events: int = 0


def target(dead_letter_id: int) -> str:
    """The audit-log target naming one dead letter (its state is derived from these entries)."""
    return f"dead_letter:{int(dead_letter_id)}"


def _load(store: Any, dead_letter_id: int) -> tuple | None:
    rows = store.query("SELECT source_id, topic, reason, raw FROM dead_letters WHERE dead_letter_id = ?",
                       [int(dead_letter_id)])
    return rows[0] if rows else None


def _events(ctx: Any, kind: str, source_id: str, topic: str | None, raw: bytes, now: datetime) -> list:
    """The source's own parser over the stored bytes; Invalid when they are still bad."""
    if kind in MQTT_PARSERS:
        return [MQTT_PARSERS[kind](ctx.cfg, ctx.registry, source_id, topic or "", raw, now)]
    if kind in RECORD_KINDS:
        name = (topic or "").lower()
        if name.endswith(".csv"):
            records = load_csv_document(raw)
        else:  # a whole document, or one rejected record kept as its JSON object
            doc = decode_json(raw, encoding="utf-8-sig")
            records = [doc] if isinstance(doc, dict) and "service_request_id" in doc else load_json_document(raw)
        parsed = parse_records(ctx.cfg, ctx.registry, source_id, records, now, f"replay of {topic or source_id}")
        if parsed.rejects:
            reject = parsed.rejects[0][0]
            raise Invalid(reject.reason, reject.detail)
        return parsed.events
    raise Invalid("unknown_source", f"source {source_id!r} ({kind or 'not configured'}) cannot be replayed")


def replay(ctx: Any, dead_letter_id: int, actor: str, now: datetime) -> Outcome:
    """Parse the stored bytes again with the current mapping; submit what parses, audit either way."""
    row = _load(ctx.store, dead_letter_id)
    if row is None:
        return Outcome(False, f"死信 #{dead_letter_id} 不存在")
    source_id, topic, reason, raw = row[0], row[1], row[2], bytes(row[3] or b"")
    src = ctx.cfg.source(source_id)
    try:
        events = _events(ctx, src.kind if src else "", source_id, topic, raw, now)
    except Invalid as exc:
        _audit(ctx.store, now, actor, REPLAY_FAILED, dead_letter_id, {"reason": exc.reason, "detail": exc.detail})
        return Outcome(False, f"重放失败：仍无法解析（{exc.reason}：{exc.detail}），死信保留")
    for event in events:
        ctx.pipeline.submit(event)
    ctx.pipeline.flush(10)
    _audit(ctx.store, now, actor, REPLAYED, dead_letter_id,
           {"source_id": source_id, "was": reason, "events": len(events)})
    log.info("dead letter %s replayed by %s: %d event(s)", dead_letter_id, actor, len(events))
    return Outcome(True, f"已重放死信 #{dead_letter_id}：{len(events)} 条事件进入处理流程", len(events))


def discard(store: Any, dead_letter_id: int, actor: str, note: str, now: datetime) -> Outcome:
    """Mark a dead letter as dealt with (kept, with who and why), e.g. test traffic or a known bad device."""
    if _load(store, dead_letter_id) is None:
        return Outcome(False, f"死信 #{dead_letter_id} 不存在")
    if not note.strip():
        return Outcome(False, "请填写丢弃原因")
    _audit(store, now, actor, DISCARDED, dead_letter_id, {"note": note.strip()})
    return Outcome(True, f"已丢弃死信 #{dead_letter_id}（原始字节保留，可在审计日志查到）")


def _audit(store: Any, now: datetime, actor: str, action: str, dead_letter_id: int, detail: dict) -> None:
    def insert(conn) -> None:
        audit_id = store.allocate_ids(conn, "audit_log")
        conn.execute("INSERT INTO audit_log (audit_id, ts, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
                     [audit_id, to_db(now), actor, action, target(dead_letter_id),
                      json.dumps(detail, ensure_ascii=False)])

    store.write(insert)


def states(store: Any, dead_letter_ids: list[int]) -> dict[int, str]:
    """Each dead letter's last replay/discard action (none: still waiting)."""
    if not dead_letter_ids:
        return {}
    rows = store.query(
        "SELECT target, arg_max(action, audit_id) FROM audit_log WHERE action IN (?, ?, ?) "
        "AND list_contains(?::VARCHAR[], target) GROUP BY target",
        [REPLAYED, DISCARDED, REPLAY_FAILED, [target(i) for i in dead_letter_ids]],
    )
    return {int(t.split(":", 1)[1]): action for t, action in rows}
