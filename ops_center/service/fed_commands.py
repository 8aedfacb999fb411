"""Federation commands in the store: the city resends each until the district answers; the district applies each once.

City (`CityCommands`, table `fed_commands`): a 督办 or escalation the city sends is written in the same
transaction as the action's audit, `pending`, and resent with a bounded backoff (RESEND_FIRST_S doubling to
RESEND_MAX_S) until the district's answer on `…/commands/ack` settles it: `applied`, `unchanged` (the incident
already was so) or `refused` with the district's reason, which the city shows (a refused 督办 never vanishes).

District (`AppliedCommands`, table `fed_applied_commands`): what each command id did, so a resent or redelivered
command is answered again from here and never applied twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import orjson

from ops_center.core.lifecycle import ACTION_NAMES, ServiceError
from ops_center.service.fed_apply import upstream_of
from ops_center.store.store import Store, from_db, to_db

log = logging.getLogger(__name__)

RESEND_FIRST_S = 5
RESEND_MAX_S = 60
ANSWERS = ("applied", "unchanged", "refused")


def resend_delay(attempts: int) -> timedelta:
    """How long to wait for an answer after the `attempts`-th send: 5 s, 10 s, 20 s, 40 s, then every 60 s."""
    return timedelta(seconds=min(RESEND_MAX_S, RESEND_FIRST_S * 2 ** max(0, min(attempts, 16) - 1)))


@dataclass(frozen=True, slots=True)
class Command:
    """One city command as the city's book holds it."""

    command_id: str
    district_code: str
    incident_id: int  # the city's id
    upstream_id: int  # the district's own id
    action: str
    actor: str
    note: str
    issued_at: datetime
    state: str  # pending | applied | unchanged | refused
    attempts: int = 0
    reason: str = ""


_COLUMNS = ("command_id, district_code, incident_id, action, actor, note, issued_at, state, attempts, "
            "coalesce(reason, '')")


class CityCommands:
    """The city's book of commands: recorded with the audit, resent while pending, settled by the district."""

    def __init__(self, store: Store, clock: Callable[[], datetime]):
        self.store, self.clock = store, clock

    def record(self, conn: duckdb.DuckDBPyConnection, command_id: str, district: str, incident_id: int, action: str,
               actor: str, note: str, now: datetime) -> None:
        """In the caller's transaction (with the audit): pending, due to be sent at once.

        Refused while the same action on the incident still waits for the district's answer: a second click (or
        a second leader) would otherwise send the district a second 督办 for one the city cannot see answered yet.
        """
        waiting = conn.execute("SELECT command_id FROM fed_commands WHERE incident_id = ? AND action = ? "
                               "AND state = 'pending' LIMIT 1", [incident_id, action]).fetchall()
        if waiting:
            raise ServiceError(f"该事件已有待区县确认的“{ACTION_NAMES.get(action, action)}”指令，请等待区县答复",
                               detail=f"incident {incident_id}: command {waiting[0][0]} still pending")
        conn.execute("INSERT INTO fed_commands (command_id, district_code, incident_id, action, actor, note, issued_at, "
                     "state, attempts, next_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?)",
                     [command_id, district, incident_id, action, actor, note, to_db(now), to_db(now)]).fetchall()
        conn.execute("INSERT INTO audit_log (audit_id, ts, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
                     [self.store.allocate_ids(conn, "audit_log"), to_db(now), actor, f"command:{action}",
                      f"incident:{incident_id}", orjson.dumps({"district": district, "command_id": command_id}).decode(),
                      ]).fetchall()

    def due(self, now: datetime) -> list[Command]:
        """Pending commands whose answer is overdue (or never sent), oldest first."""
        return self._select("WHERE state = 'pending' AND next_at <= ? ORDER BY issued_at, command_id", [to_db(now)])

    def sent(self, command_ids: list[str], now: datetime) -> None:
        """They went out (again): wait the next backoff step for an answer."""
        if not command_ids:
            return
        rows = self.store.query("SELECT command_id, attempts FROM fed_commands WHERE list_contains(?, command_id)",
                                [command_ids])

        def write(conn) -> None:
            for command_id, attempts in rows:
                conn.execute("UPDATE fed_commands SET attempts = ?, last_sent_at = ?, next_at = ? "
                             "WHERE command_id = ? AND state = 'pending'",
                             [attempts + 1, to_db(now), to_db(now + resend_delay(attempts + 1)), command_id]).fetchall()

        self.store.write(write)

    def settle(self, answers: list[dict], now: datetime) -> int:
        """The district's answers (command_id, result, reason); a command settles once, unknown ids are not ours
        (`run.py federation` waits for its own). Returns how many settled."""
        def write(conn) -> int:
            settled = 0
            for answer in answers:
                settled += len(conn.execute(
                    "UPDATE fed_commands SET state = ?, reason = ?, answered_at = ? WHERE command_id = ? "
                    "AND state = 'pending' RETURNING command_id",
                    [answer["result"], answer.get("reason") or None, to_db(now), answer["command_id"]]).fetchall())
            return settled

        return self.store.write(write)

    def prune(self, keep: timedelta, now: datetime) -> int:
        """Drop commands the district applied (or found already so) more than `keep` ago; the audit log keeps
        each one. Pending ones are still being sent and refused ones stay shown: neither is dropped."""
        cutoff = to_db(now - keep)
        return self.store.write(lambda conn: len(conn.execute(
            "DELETE FROM fed_commands WHERE state IN ('applied', 'unchanged') AND answered_at < ? "
            "RETURNING command_id", [cutoff]).fetchall()))

    def unsettled(self, incident_id: int | None = None) -> list[Command]:
        """Pending and refused commands (of one incident), newest first: what the city user must see."""
        where = "WHERE state IN ('pending', 'refused')" + (" AND incident_id = ?" if incident_id is not None else "")
        return self._select(where + " ORDER BY issued_at DESC, command_id",
                            [incident_id] if incident_id is not None else [])

    def _select(self, tail: str, params: list) -> list[Command]:
        rows = self.store.query(f"SELECT {_COLUMNS} FROM fed_commands {tail}", params)  # noqa: S608 - constants
        return [Command(cid, district, int(iid), upstream_of(int(iid))[1], action, actor, note, from_db(at), state,
                        int(attempts), reason)
                for cid, district, iid, action, actor, note, at, state, attempts, reason in rows]


class AppliedCommands:
    """The district's record of what each city command did: answered again, never applied twice."""

    def __init__(self, store: Store, clock: Callable[[], datetime]):
        self.store, self.clock = store, clock

    def answer_of(self, command_id: str) -> tuple[str, str] | None:
        rows = self.store.query("SELECT result, coalesce(reason, '') FROM fed_applied_commands WHERE command_id = ?",
                                [command_id])
        return (rows[0][0], rows[0][1]) if rows else None

    def prune(self, keep: timedelta, now: datetime) -> int:
        """Forget what commands did more than `keep` ago: the city resends a command only until it has our
        answer, so an older one comes again only as a broker's stale redelivery."""
        cutoff = to_db(now - keep)
        return self.store.write(lambda conn: len(conn.execute(
            "DELETE FROM fed_applied_commands WHERE applied_at < ? RETURNING command_id", [cutoff]).fetchall()))

    def record(self, command_id: str, action: str, incident_id: int, actor: str, result: str, reason: str) -> None:
        if result not in ANSWERS:
            raise ValueError(f"result must be one of {ANSWERS}, got {result!r}")
        at = to_db(self.clock())
        self.store.write(lambda conn: conn.execute(
            "INSERT INTO fed_applied_commands VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (command_id) DO NOTHING",
            [command_id, action, incident_id, actor, result, reason or None, at]).fetchall())
