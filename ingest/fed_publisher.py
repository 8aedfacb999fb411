"""The district's federation link: sends the outbox in order at QoS 1, answers replays, applies city commands.

Sending: one thread reads the outbox after the last sequence sent, `batch_changes` rows per message, and
keeps at most `inflight_messages` unacknowledged; as the broker's PUBACKs arrive in order the acked
watermark moves and is saved (`fed_published`), so a restart resumes after it. A lost connection
rewinds to the acked watermark and sends again: what the broker had not acknowledged may come twice,
and the city skips what it has (idempotent on district and sequence). A heartbeat carrying the outbox's
newest sequence every `federation.heartbeat` lets the city see a lost tail as a gap.

Receiving (persistent session, acknowledged after the work is done): replay requests, answered by
publishing the range again on the changes topic; commands from the city (督办, escalation to 市级),
applied through the incident service as actor `city:<user>` with role `city` (the district stays the
owner; the change reaches the city through the outbox like any other), once per command id
(`fed_applied_commands`), and answered on `…/commands/ack` (applied, unchanged, or refused with the
reason); the city resends a command until it has the answer, and a resent one is answered from the record.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from ingest.fed_wire import BadMessage, changes, command_ack, decode_command, decode_replay_request, heartbeat, topic
from ingest.health import Meter, SourceHealth
from ingest.mqtt_client import MqttLink, use_mqtt5
from ingest.mqtt_intake import message_topic
from ops_center.core.clock import utc_now
from ops_center.core.config import Config
from ops_center.core.lifecycle import ACTION_NAMES, Actor, Conflict, ServiceError
from ops_center.core.ports import IncidentActions, WorkOrderActions
from ops_center.service.fed_commands import AppliedCommands
from ops_center.service.outbox import Outbox

log = logging.getLogger(__name__)

TICK_S = 0.02
SAVE_EVERY_S = 0.5  # the acked watermark is written at most this often (a restart resends the rest)
PRUNE_EVERY_S = 3600
EXIT_GRACE_S = 5  # at stop, time for the outbox's last rows to reach the broker
# Outbox rows read per query, split into messages of batch_changes: a read costs ≈ 12 ms of CPU before its first row
# (the work-order query), so 20 rows a read cost 620 µs a row and 1,000 rows 29 µs (docs/bench.md, federation).
READ_ROWS = 2000


class FedPublisher:
    """A source-like part (start, stop, health) of a district center with `federation.role: district`."""

    source_id = "fed_out"
    name = "市级联网"
    stop_last = True  # stopped after the pipeline drained: its last changes are in the outbox and go out

    def __init__(self, cfg: Config, outbox: Outbox, service: IncidentActions, work_orders: WorkOrderActions, *,
                 url: str | None = None, clock: Callable[[], datetime] = utc_now):
        fed = cfg.federation
        if fed is None or fed.role != "district" or fed.district_code is None:
            raise ValueError("FedPublisher needs federation.role district with a district_code")
        self.cfg, self.fed, self.outbox, self.service, self.clock = cfg, fed, outbox, service, clock
        self.work_orders = work_orders
        self.code = fed.district_code
        prefix = fed.prefix(cfg.mqtt)
        self.changes_topic = topic(prefix, self.code, "changes")
        self._replay_topic = topic(prefix, self.code, "replay/request")
        self._commands_topic = topic(prefix, self.code, "commands")
        self._ack_topic = topic(prefix, self.code, "commands/ack")
        self.applied_commands = AppliedCommands(outbox.store, clock)
        self.meter = Meter(clock)
        self.link = MqttLink(cfg.mqtt, f"{cfg.mqtt.client_id}-fed-{self.code}", url=url,
                             subscriptions=[self._replay_topic, self._commands_topic], on_message=self._on_message,
                             persistent=True, mqtt5=use_mqtt5(cfg.mqtt, url), name=self.source_id)
        self._inbox: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.acked = self.sent = 0
        self.replayed = 0
        self._fault = ""
        self._replay_fault = ""  # a replay asked for pruned changes: shown until a replay is whole again

    # --- source interface ---

    def start(self) -> None:
        self.acked = self.sent = self.outbox.acked()
        self.outbox.see_head()
        self._stop.clear()
        self.link.start()
        self._thread = threading.Thread(target=self._run, name="fed-publisher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.link.stop()

    def health(self, now: datetime | None = None) -> SourceHealth:
        backlog = max(0, self.outbox.head() - self.acked)
        fault = self._fault or self._replay_fault or (
            f"待发送 {backlog} 条变更" if backlog > self.fed.batch_changes * 10 else "")
        return self.meter.health(self.source_id, self.name, self.link.state, now, fault)

    # --- paho's thread ---

    def _on_message(self, msg, ack: Callable[[], None]) -> None:
        self._inbox.put((message_topic(msg), bytes(msg.payload), ack))

    # --- the publishing thread ---

    def _run(self) -> None:
        inflight: deque = deque()  # (last seq of the message, MQTTMessageInfo), oldest first
        was_connected = False
        beat = saved = pruned = 0.0
        saved_seq = self.acked
        while not self._stop.wait(TICK_S):
            try:
                connected = self.link.connected.is_set()
                if connected and not was_connected:
                    inflight.clear()
                    self.sent = self.acked  # resend what the broker had not acknowledged
                was_connected = connected
                if not connected:
                    continue
                self._handle_inbox()
                while inflight and inflight[0][1].is_published():
                    self.acked = inflight.popleft()[0]
                self._send(inflight)
                now = time.monotonic()
                if self.acked != saved_seq and now - saved >= SAVE_EVERY_S:
                    self.outbox.save_acked(self.acked)
                    saved_seq, saved = self.acked, now
                if now - beat >= self.fed.heartbeat.total_seconds():
                    self._heartbeat()
                    beat = now
                if now - pruned >= PRUNE_EVERY_S:
                    self.outbox.prune(self.fed.keep, self.clock())
                    self.applied_commands.prune(self.fed.keep, self.clock())
                    pruned = now
                self._fault = ""
            except Exception as exc:  # noqa: BLE001 - the link must outlive a failed read or write
                log.exception("federation publisher: tick failed")
                self._fault = f"发送失败：{str(exc).splitlines()[0][:120]}"
                time.sleep(1)
        self._drain(inflight)

    def _drain(self, inflight: deque) -> None:
        """At stop (after the pipeline drained): what the outbox still holds goes out, then a last heartbeat."""
        deadline = time.monotonic() + EXIT_GRACE_S
        try:
            while self.link.connected.is_set() and time.monotonic() < deadline:
                while inflight and inflight[0][1].is_published():
                    self.acked = inflight.popleft()[0]
                self._send(inflight)
                if not inflight and self.sent >= self.outbox.head():
                    break
                time.sleep(TICK_S)
            if self.link.connected.is_set():
                self._heartbeat().wait_for_publish(1)
            self.outbox.save_acked(self.acked)
        except Exception:  # noqa: BLE001 - stopping must finish; the next start resends after the saved watermark
            log.exception("federation publisher: final flush failed")

    def _heartbeat(self):
        """The outbox's newest and oldest kept sequence: the city sees a lost tail, or a gap it can no longer fill."""
        return self.link.publish(self.changes_topic, heartbeat(self.code, self.outbox.head(), self.outbox.oldest()),
                                 qos=1)

    def _send(self, inflight: deque) -> None:
        """Read what the free in-flight slots can take in as few queries as READ_ROWS allows, send it in order."""
        per = self.fed.batch_changes
        while len(inflight) < self.fed.inflight_messages and self.outbox.written > self.sent:
            room = (self.fed.inflight_messages - len(inflight)) * per
            rows = self.outbox.read(self.sent, min(room, max(READ_ROWS, per)))
            if not rows:
                return  # written but not committed yet (or rolled back): the next tick looks again
            for start in range(0, len(rows), per):
                part = rows[start:start + per]
                last = part[-1][0]
                info = self.link.publish(self.changes_topic, changes(self.code, last, part), qos=1)
                if info.rc != 0:
                    return  # not connected after all: the next connect rewinds to the acked watermark
                inflight.append((last, info))
                self.sent = last
                self.meter.add(len(part), 0, self.clock())

    # --- replays and commands ---

    def _handle_inbox(self) -> None:
        while True:
            try:
                name, raw, ack = self._inbox.get_nowait()
            except queue.Empty:
                return
            try:
                if name == self._replay_topic:
                    self._replay(*decode_replay_request(raw))
                else:
                    self._command(decode_command(raw))
            except BadMessage as exc:
                log.warning("federation: refused a message on %s: %s", name, exc)
            ack()

    def _replay(self, first: int, last: int) -> None:
        """Publish first..last again (at most replay_max changes): the city asks again for any rest."""
        last = min(last, first + self.fed.replay_max - 1)
        after = first - 1
        self._replay_fault = ""
        head = self.outbox.head()
        per = self.fed.batch_changes
        while after < last:
            rows = self.outbox.read(after, max(READ_ROWS, per), upto=last)
            if not rows:
                break
            if rows[0][0] != after + 1:  # pruned (older than federation.keep): the city cannot be made whole
                log.error("federation: replay %d..%d asked for changes pruned from the outbox (oldest kept %d)",
                          first, last, rows[0][0])
                self._replay_fault = f"市级请求的变更 {after + 1}–{rows[0][0] - 1} 已超出保留期，需人工重新同步"
            for start in range(0, len(rows), per):
                self.link.publish(self.changes_topic, changes(self.code, head, rows[start:start + per], replay=True),
                                  qos=1)
            after = rows[-1][0]
            self.replayed += len(rows)
        log.info("federation: replayed %d..%d to the city", first, after)

    def _command(self, cmd: dict) -> None:
        """Apply once per command id and answer; a command seen before is answered from the record."""
        command_id, action, incident_id = cmd["command_id"], cmd["action"], cmd["incident_id"]
        known = self.applied_commands.answer_of(command_id)
        if known is not None:
            self.link.publish(self._ack_topic, command_ack(command_id, *known), qos=1)
            return
        result, reason = self._apply_command(cmd)
        self.applied_commands.record(command_id, action, incident_id, cmd["actor"], result, reason)
        self.link.publish(self._ack_topic, command_ack(command_id, result, reason), qos=1)

    def _apply_command(self, cmd: dict) -> tuple[str, str]:
        command_id, action, incident_id = cmd["command_id"], cmd["action"], cmd["incident_id"]
        if action not in self.fed.city_actions:
            log.warning("federation: command %s refused: %s is not in federation.city_actions", command_id, action)
            return "refused", f"本区未开放市级“{ACTION_NAMES.get(action, action)}”指令（federation.city_actions）"
        actor = Actor(f"city:{cmd['actor']}", "city", self.cfg.site.city.code)
        note = f"市级指令：{cmd.get('note') or ''}".rstrip("：")
        try:
            changed = apply_command(self.service, self.work_orders, actor, action, incident_id, note,
                                    self.cfg.escalation.chain[-1], self.clock() + self.fed.supervise_within)
        except ServiceError as exc:
            log.warning("federation: command %s (%s on #%s) refused: %s", command_id, action, incident_id, exc)
            return "refused", f"{exc.user_message}（区县事件 #{incident_id}）"
        return ("applied" if changed else "unchanged"), ""


def apply_command(service: IncidentActions, work_orders: WorkOrderActions, actor: Actor, action: str, incident_id: int,
                  note: str, top: str, supervise_due: datetime) -> bool:
    """督办 (a record with its deadline, as a leader's), or escalation up to the top level, idempotent by meaning: a redelivered command changes nothing.
    Returns whether anything changed; a person acting at the same moment (Conflict) is retried on the new version."""
    changed = False
    for _ in range(2 * 8):
        row = service.get(incident_id)
        try:
            if action == "supervise":
                if row["supervised"]:
                    return changed
                work_orders.supervise(actor, incident_id, supervise_due, note)
                return True
            if row["level"] == top:
                return changed
            service.escalate(actor, incident_id, row["version"], note=note)  # one level a step
            changed = True
        except Conflict:
            continue
    return changed
