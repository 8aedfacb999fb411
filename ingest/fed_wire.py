"""Federation topics and payloads, defined once for the district's publisher and the city's consumer.

Topics, under `federation.topic_prefix` (default `mqtt.topic_prefix`), all QoS 1:
- `<prefix>/fed/<district>/changes` (district → city): `{"v":1, "type":"changes", "district", "head",
  "changes":[{"seq", "incident_id", "row":{…whole incident row…}, "timeline":[{…entry…}, …]?,
  "related":{"assignments":[…], "supervisions":[…], …}?}, …]}` in sequence order (`timeline`: the entries that
  change wrote, absent when none; `related`: the incident's work-order rows after it), or
  `{"v":1, "type":"heartbeat", "district", "head", "oldest"?}` (`head`: the newest sequence in the district's
  outbox, `oldest`: the oldest it still keeps);
- `<prefix>/fed/<district>/replay/request` (city → district): `{"v":1, "from", "to"}`; the district
  answers by publishing that range again on `…/changes` (`"replay": true`), at most `replay_max` changes;
- `<prefix>/fed/<district>/commands` (city → district): `{"v":1, "command_id", "action", "incident_id",
  "actor", "note"}` with the district's own incident id; applied there through its incident service;
- `<prefix>/fed/<district>/commands/ack` (district → city): `{"v":1, "type":"command_ack", "command_id",
  "result": "applied"|"unchanged"|"refused", "reason"}`; the city resends a command until it is answered.
"""

from __future__ import annotations

import orjson

VERSION = 1
ENTRY_KEYS = ("ts", "actor", "action")  # what a timeline entry cannot be without
RELATED_TABLES = ("assignments", "supervisions", "verifications", "callbacks", "extensions")
COMMAND_RESULTS = ("applied", "unchanged", "refused")


class BadMessage(ValueError):
    """A federation payload that is not what this module writes; it becomes a dead letter."""


def topic(prefix: str, district: str, kind: str) -> str:
    """`kind`: changes | replay/request | commands."""
    return f"{prefix}/fed/{district}/{kind}"


def district_of_topic(prefix: str, name: str) -> str | None:
    parts = name.split("/")
    base = prefix.split("/")
    if len(parts) < len(base) + 3 or parts[: len(base)] != base or parts[len(base)] != "fed":
        return None
    return parts[len(base) + 1]


def changes(district: str, head: int, rows: list[tuple[int, int, str, str | None, str | None]],
            replay: bool = False) -> bytes:
    """Outbox rows (seq, incident_id, snapshot JSON, timeline JSON or None, related JSON or None) as one message;
    the JSON is embedded as it is."""
    return orjson.dumps({"v": VERSION, "type": "changes", "district": district, "head": head, "replay": replay,
                         "changes": [{"seq": s, "incident_id": i, "row": orjson.Fragment(r)}
                                     | ({"timeline": orjson.Fragment(t)} if t else {})
                                     | ({"related": orjson.Fragment(rel)} if rel else {}) for s, i, r, t, rel in rows]})


def heartbeat(district: str, head: int, oldest: int | None = None) -> bytes:
    return orjson.dumps({"v": VERSION, "type": "heartbeat", "district": district, "head": head}
                        | ({"oldest": oldest} if oldest is not None else {}))


def replay_request(first: int, last: int) -> bytes:
    return orjson.dumps({"v": VERSION, "from": first, "to": last})


def command(command_id: str, action: str, incident_id: int, actor: str, note: str) -> bytes:
    return orjson.dumps({"v": VERSION, "command_id": command_id, "action": action, "incident_id": incident_id,
                         "actor": actor, "note": note})


def command_ack(command_id: str, result: str, reason: str = "") -> bytes:
    if result not in COMMAND_RESULTS:
        raise ValueError(f"result must be one of {COMMAND_RESULTS}, got {result!r}")
    return orjson.dumps({"v": VERSION, "type": "command_ack", "command_id": command_id, "result": result,
                         "reason": reason})


def _load(raw: bytes) -> dict:
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadMessage(f"not JSON: {exc}") from None
    if not isinstance(msg, dict) or msg.get("v") != VERSION:
        raise BadMessage("not a federation message of version 1")
    return msg


def _int(msg: dict, key: str) -> int:
    value = msg.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadMessage(f"{key} must be a non-negative integer, got {value!r}")
    return value


def decode_changes(raw: bytes, district: str) -> dict:
    """A changes or heartbeat message from `district` (its topic's), checked; rows back to JSON text for the store."""
    msg = _load(raw)
    if msg.get("district") != district:
        raise BadMessage(f"message names district {msg.get('district')!r} on the topic of {district}")
    _int(msg, "head")
    if msg.get("type") == "heartbeat":
        oldest = _int(msg, "oldest") if "oldest" in msg else None
        return {"district": district, "head": msg["head"], "oldest": oldest, "changes": []}
    if msg.get("type") != "changes" or not isinstance(msg.get("changes"), list):
        raise BadMessage("type must be changes or heartbeat")
    out = []
    last = -1
    for change in msg["changes"]:
        if not isinstance(change, dict) or not isinstance(change.get("row"), dict):
            raise BadMessage("a change needs seq, incident_id and row")
        timeline = change.get("timeline")
        if timeline is not None and not (isinstance(timeline, list) and all(
                isinstance(e, dict) and all(isinstance(e.get(k), str) and e[k] for k in ENTRY_KEYS) for e in timeline)):
            raise BadMessage(f"a change's timeline must be a list of entries, each with {', '.join(ENTRY_KEYS)}")
        related = change.get("related")
        if related is not None and not (isinstance(related, dict) and set(related) <= set(RELATED_TABLES) and all(
                isinstance(rows, list) and all(isinstance(r, dict) for r in rows) for rows in related.values())):
            raise BadMessage(f"a change's related must map {', '.join(RELATED_TABLES)} to lists of rows")
        seq, incident_id = _int(change, "seq"), _int(change, "incident_id")
        if seq <= last:
            raise BadMessage("changes out of sequence order")
        last = seq
        out.append({"seq": seq, "incident_id": incident_id, "row": orjson.dumps(change["row"]).decode(),
                    "timeline": orjson.dumps(timeline).decode() if timeline else None,
                    "related": orjson.dumps(related).decode() if related is not None else None})
    return {"district": district, "head": msg["head"], "changes": out}


def decode_replay_request(raw: bytes) -> tuple[int, int]:
    msg = _load(raw)
    first, last = _int(msg, "from"), _int(msg, "to")
    if first < 1 or last < first:
        raise BadMessage(f"bad range {first}..{last}")
    return first, last


def decode_command(raw: bytes) -> dict:
    msg = _load(raw)
    _int(msg, "incident_id")
    for key in ("command_id", "action", "actor"):
        if not isinstance(msg.get(key), str) or not msg[key]:
            raise BadMessage(f"{key} must be a non-empty string")
    if not isinstance(msg.get("note", ""), str):
        raise BadMessage("note must be a string")
    return msg


def decode_command_ack(raw: bytes) -> dict:
    msg = _load(raw)
    if msg.get("type") != "command_ack":
        raise BadMessage("type must be command_ack")
    if not isinstance(msg.get("command_id"), str) or not msg["command_id"]:
        raise BadMessage("command_id must be a non-empty string")
    if msg.get("result") not in COMMAND_RESULTS:
        raise BadMessage(f"result must be one of {', '.join(COMMAND_RESULTS)}")
    if not isinstance(msg.get("reason", ""), str):
        raise BadMessage("reason must be a string")
    return {"command_id": msg["command_id"], "result": msg["result"], "reason": msg.get("reason") or ""}
