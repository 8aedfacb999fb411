"""The city's federation link: every district's changes applied exactly once, gaps replayed, silence shown.

One persistent MQTT session (`<client_id>-fed`) subscribes `<prefix>/fed/+/changes` at QoS 1 with manual
acks, like every intake of ours: paho's thread only decodes and queues; the applying thread gathers
what arrived (≤ GATHER_MAX messages or GATHER_LINGER_S), applies it in one transaction
(ops_center/service/fed_apply.py) and only then PUBACKs, so a crash loses nothing and a redelivery is
skipped by sequence. A payload that is not ours is a dead letter (source `fed_in`), acknowledged after
it is stored, like any bad input.

After each batch, and at least every GAP_CHECK_S: a district whose highest heard sequence (`head`, from
its changes or heartbeats) stays above the applied watermark for `federation.gap_wait` is asked to
replay the missing range (`…/replay/request`), again after another `gap_wait` if nothing moved.

Each district is a health row of its own (`DistrictFeed`): connected while heard within
`federation.silent_after`, else `silent` with its age; the wall shows silent districts in a banner.
City actions (督办, escalation to 市级) leave as commands (`FedCommands`), never as local changes: written
to the city's command book with the action's audit and resent (every GAP_CHECK_S, due ones, bounded backoff)
until the district's answer on `…/commands/ack` settles them (ops_center/service/fed_commands.py).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from ingest.fed_wire import (
    BadMessage,
    command,
    decode_changes,
    decode_command_ack,
    district_of_topic,
    replay_request,
    topic,
)
from ingest.health import Meter, SourceHealth
from ingest.mqtt_client import MqttLink, use_mqtt5
from ingest.mqtt_intake import message_topic
from ops_center.core.clock import utc_now
from ops_center.core.config import Config, FederatedDistrict
from ops_center.core.lifecycle import ACTION_NAMES, ROLE_ACTIONS, Actor, PermissionDenied, ServiceError
from ops_center.service.bus import EventsCommitted
from ops_center.service.fed_apply import FederatedIncidents, upstream_of
from ops_center.service.fed_commands import CityCommands

log = logging.getLogger(__name__)

GATHER_MAX = 500
GATHER_LINGER_S = 0.01
GAP_CHECK_S = 0.5
PRUNE_EVERY_S = 3600  # settled commands older than federation.keep are dropped this often
ACK_SUFFIX = "/commands/ack"
REFUSED_SHOWN = timedelta(days=1)  # the health row names refused commands this long; the incident detail always


class FedConsumer:
    """A source-like part (start, stop, health) of a city center with `federation.role: city`."""

    source_id = "fed_in"
    name = "区县联网"

    def __init__(self, cfg: Config, incidents: FederatedIncidents, pipeline, bus, commands: CityCommands, *,
                 url: str | None = None, clock: Callable[[], datetime] = utc_now):
        fed = cfg.federation
        if fed is None or fed.role != "city":
            raise ValueError("FedConsumer needs federation.role city")
        self.cfg, self.fed, self.incidents, self.pipeline, self.bus, self.clock = cfg, fed, incidents, pipeline, bus, clock
        self.commands = commands
        self.prefix = fed.prefix(cfg.mqtt)
        self.meter = Meter(clock)
        self.link = MqttLink(cfg.mqtt, f"{cfg.mqtt.client_id}-fed", url=url,
                             subscriptions=[topic(self.prefix, "+", "changes"), topic(self.prefix, "+", "commands/ack")],
                             on_message=self._on_message,
                             persistent=True, mqtt5=use_mqtt5(cfg.mqtt, url), name=self.source_id)
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gap_since: dict[str, tuple[int, float]] = {}  # district -> (watermark when the gap was seen, when)
        self._asked: dict[str, float] = {}
        self.replays_requested = 0
        self.commands_sent = 0
        self.feeds = [DistrictFeed(self, d) for d in fed.districts]

    # --- source interface ---

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="fed-consumer", daemon=True)
        self._thread.start()
        self.link.start()

    def stop(self) -> None:
        self.link.stop()  # nothing new arrives; what is queued is applied (its acks no longer reach the broker)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def health(self, now: datetime | None = None) -> SourceHealth:
        return self.meter.health(self.source_id, self.name, self.link.state, now)

    # --- paho's thread ---

    def _on_message(self, msg, ack: Callable[[], None]) -> None:
        name, raw = message_topic(msg), bytes(msg.payload)
        district = district_of_topic(self.prefix, name)
        try:
            if district is None:
                raise BadMessage(f"topic {name} names no district")
            item: object = decode_command_ack(raw) if name.endswith(ACK_SUFFIX) else decode_changes(raw, district)
        except BadMessage as exc:
            self.meter.dead_letter()
            self.pipeline.dead_letter(self.source_id, name, "invalid_federation_message", raw, str(exc)[:500],
                                      on_committed=ack)
            return
        self._queue.put((item, ack))

    # --- the applying thread ---

    def _run(self) -> None:
        last_check = 0.0
        pruned = time.monotonic()
        while not self._stop.is_set():
            batch = self._gather()
            try:
                if batch:
                    self._apply(batch)
                if time.monotonic() - last_check >= GAP_CHECK_S or batch:
                    self.check_gaps(time.monotonic())
                    self.resend_due()
                    last_check = time.monotonic()
                if time.monotonic() - pruned >= PRUNE_EVERY_S:
                    self.commands.prune(self.fed.keep, self.clock())
                    pruned = time.monotonic()
            except Exception:  # noqa: BLE001 - unacked messages come again; the link must keep going
                log.exception("federation: applying %d message(s) failed; they will be redelivered", len(batch))
                time.sleep(1)

    def _gather(self) -> list:
        try:
            first = self._queue.get(timeout=GAP_CHECK_S)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + GATHER_LINGER_S
        while len(batch) < GATHER_MAX:
            try:
                batch.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _apply(self, batch: list) -> None:
        answers = [item for item, _ in batch if "command_id" in item]
        if answers:
            self.commands.settle(answers, self.clock())
        result = self.incidents.apply([item for item, _ in batch if "command_id" not in item])
        for _, ack in batch:
            ack()
        self.meter.add(len(batch), 0, self.clock())
        if result.unknown:
            log.warning("federation: %d message(s) from districts not in federation.districts ignored", result.unknown)
        if result.changed:
            self.bus.publish([EventsCommitted(self.clock(), result.applied, tuple(sorted(result.changed)))])

    def resend_due(self) -> int:
        """Send the commands whose answer is due (new ones at once); returns how many went out."""
        if not self.link.connected.is_set():
            return 0
        now = self.clock()
        out = []
        for cmd in self.commands.due(now):
            info = self.link.publish(topic(self.prefix, cmd.district_code, "commands"),
                                     command(cmd.command_id, cmd.action, cmd.upstream_id, cmd.actor, cmd.note), qos=1)
            if info.rc != 0:
                break  # the link dropped: the next connect sends them
            out.append(cmd.command_id)
            log.info("federation: command %s (%s on #%s) to district %s, send %d", cmd.command_id, cmd.action,
                     cmd.upstream_id, cmd.district_code, cmd.attempts + 1)
        self.commands.sent(out, now)
        self.commands_sent += len(out)
        return len(out)

    def check_gaps(self, now: float) -> list[tuple[str, int, int]]:
        """Ask for a replay where a gap stayed open for gap_wait; returns the ranges asked for."""
        wait = self.fed.gap_wait.total_seconds()
        asked = []
        for code, mark in self.incidents.watermarks.items():
            if mark.head <= mark.seq or mark.needs_resync:  # nothing missing, or nothing a replay could bring
                self._gap_since.pop(code, None)
                continue
            seen = self._gap_since.get(code)
            if seen is None or seen[0] != mark.seq:  # new gap, or the watermark moved: wait again
                self._gap_since[code] = (mark.seq, now)
                continue
            if now - seen[1] < wait or now - self._asked.get(code, -1e9) < wait:
                continue
            first, last = mark.seq + 1, min(mark.head, mark.seq + self.fed.replay_max)
            self.link.publish(topic(self.prefix, code, "replay/request"), replay_request(first, last), qos=1)
            self._asked[code] = now
            self.replays_requested += 1
            asked.append((code, first, last))
            log.info("federation: district %s gap %d..%d; replay requested", code, first, last)
        return asked


class DistrictFeed:
    """One district as a health row: silent (with its age) when not heard within federation.silent_after; in error
    when it misses changes its outbox no longer keeps (needs a manual resync)."""

    def __init__(self, consumer: FedConsumer, district: FederatedDistrict):
        self.consumer, self.district = consumer, district
        self.source_id = f"fed_{district.code}"
        self.name = f"{district.name}（区县中心）"

    def start(self) -> None:
        """Nothing of its own to start: the consumer hears for it."""

    def stop(self) -> None:
        """Nothing of its own to stop."""

    def health(self, now: datetime | None = None) -> SourceHealth:
        now = now or self.consumer.clock()
        mark = self.consumer.incidents.watermarks[self.district.code]
        state, fault = "connected", ""
        if mark.last_heard is None or now - mark.last_heard > self.consumer.fed.silent_after:
            state = "silent"
            fault = silent_text(mark.last_heard, now)
        elif mark.needs_resync:
            state = "error"
            fault = (f"缺变更 {mark.seq + 1}–{mark.oldest - 1}，已超出区县保留期（federation.keep），"
                     "需人工重新同步")
        elif mark.head > mark.seq:
            fault = f"缺 {mark.head - mark.seq} 条变更，正在补发"
        return SourceHealth(self.source_id, self.name, state, mark.last_heard, 0.0, 0.0, 0, fault)


def silent_text(last_heard: datetime | None, now: datetime) -> str:
    """静默 and for how long, in words the wall shows (never a count of zero incidents)."""
    if last_heard is None:
        return "从未收到数据"
    seconds = int((now - last_heard).total_seconds())
    age = f"{seconds // 3600}小时{seconds % 3600 // 60}分" if seconds >= 3600 else (
        f"{seconds // 60}分{seconds % 60}秒" if seconds >= 60 else f"{seconds}秒")
    return f"已静默 {age}，数据截至最后一次收到时"


class FedCommands:
    """The city's actions on a district's incident: checked here, booked with the audit, sent until answered.

    The city's IncidentService calls it (`forward`); `run.py federation` uses `check` alone (the running city
    holds the store) and waits for the district's answer itself.
    """

    def __init__(self, cfg: Config, book: CityCommands | None = None, clock: Callable[[], datetime] = utc_now):
        if cfg.federation is None or cfg.federation.role != "city":
            raise ValueError("FedCommands needs federation.role city")
        self.cfg, self.fed, self.book, self.clock = cfg, cfg.federation, book, clock

    def check(self, actor: Actor, action: str, incident_id: int, area: str | None = None) -> tuple[str, int]:
        """(district, the district's id) of a command the actor may send; raises ServiceError. `area`: the
        incident's, when the caller has the store (else the district's code stands for it)."""
        if action not in self.fed.city_actions:
            raise PermissionDenied("区县事件由区县中心办理，市级只能督办或上报（发送指令）",
                                   detail=f"{action} on a federated incident")
        if action not in ROLE_ACTIONS.get(actor.role, frozenset()):
            raise PermissionDenied(f"当前角色无权执行“{ACTION_NAMES[action]}”操作",
                                   detail=f"{actor.username} ({actor.role}) may not {action}")
        district, upstream = upstream_of(incident_id)
        if district not in {d.code for d in self.fed.districts}:
            raise ServiceError("该事件不属于已配置的区县", detail=f"incident {incident_id}: district {district}")
        area = area or district
        if actor.role != "admin" and actor.scope != self.cfg.site.city.code and not area.startswith(actor.scope):
            raise PermissionDenied("该事件不在您的管辖范围内", detail=f"{actor.username} scope {actor.scope}")
        return district, upstream

    def __call__(self, actor: Actor, action: str, incident_id: int, note: str = "") -> str:
        """Book `action` for the city incident `incident_id` (sent at once, resent until the district answers);
        returns the command id, raises ServiceError."""
        book = self.book
        if book is None:
            raise ValueError("FedCommands without a command book only checks")
        store = book.store
        rows = store.query("SELECT area_code FROM incidents WHERE incident_id = ?", [incident_id])
        if not rows:
            raise ServiceError("事件不存在", detail=f"incident {incident_id} not found")
        district, _ = self.check(actor, action, incident_id, rows[0][0])
        command_id, now = uuid.uuid4().hex, self.clock()
        store.write(lambda conn: book.record(conn, command_id, district, incident_id, action, actor.username, note,
                                             now))
        log.info("federation: %s booked %s for #%s to district %s (%s)", actor.username, action, incident_id,
                 district, command_id)
        return command_id


class CommandsFeed:
    """The city's commands as a health row: how many wait for a district's answer, and the refused ones."""

    source_id = "fedcmd"
    name = "市级指令"

    def __init__(self, commands: CityCommands, clock: Callable[[], datetime] = utc_now):
        self.commands, self.clock = commands, clock

    def start(self) -> None:
        """Nothing of its own to start: the consumer sends and settles."""

    def stop(self) -> None:
        """Nothing of its own to stop."""

    def health(self, now: datetime | None = None) -> SourceHealth:
        now = now or self.clock()
        open_ = self.commands.unsettled()
        pending = [c for c in open_ if c.state == "pending"]
        refused = [c for c in open_ if c.state == "refused" and now - c.issued_at <= REFUSED_SHOWN]
        last = max((c.issued_at for c in open_), default=None)
        return SourceHealth(self.source_id, self.name, "error" if refused else "connected", last, 0.0, 0.0, 0,
                            commands_text(pending, refused, now))


def commands_text(pending: list, refused: list, now: datetime) -> str:
    """What the city user reads about commands not yet done: '' when every one was answered and none refused."""
    parts = []
    if pending:
        oldest = min(c.issued_at for c in pending)
        parts.append(f"{len(pending)} 条指令待区县确认（最早 {int((now - oldest).total_seconds() // 60)} 分钟前发出，"
                     "自动重发中）")
    for c in refused[:3]:
        parts.append(f"#{c.incident_id} {ACTION_NAMES.get(c.action, c.action)}被区县拒绝：{c.reason or '未说明原因'}")
    if len(refused) > 3:
        parts.append(f"另 {len(refused) - 3} 条被拒")
    return "；".join(parts)
