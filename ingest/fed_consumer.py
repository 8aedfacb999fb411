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
City actions (督办, escalation to 市级) leave as commands (`FedCommands`), never as local changes.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime

import orjson

from ingest.fed_wire import BadMessage, command, decode_changes, district_of_topic, replay_request, topic
from ingest.health import Meter, SourceHealth
from ingest.mqtt_client import MqttLink, use_mqtt5
from ingest.mqtt_intake import message_topic
from ops_center.core.clock import utc_now
from ops_center.core.config import Config, FederatedDistrict
from ops_center.core.lifecycle import ACTION_NAMES, ROLE_ACTIONS, Actor, PermissionDenied, ServiceError
from ops_center.service.bus import EventsCommitted
from ops_center.service.fed_apply import FederatedIncidents, upstream_of
from ops_center.store.store import to_db

log = logging.getLogger(__name__)

GATHER_MAX = 500
GATHER_LINGER_S = 0.01
GAP_CHECK_S = 0.5
COMMAND_PUBLISH_S = 5.0


class FedConsumer:
    """A source-like part (start, stop, health) of a city center with `federation.role: city`."""

    source_id = "fed_in"
    name = "区县联网"

    def __init__(self, cfg: Config, incidents: FederatedIncidents, pipeline, bus, *, url: str | None = None,
                 clock: Callable[[], datetime] = utc_now):
        fed = cfg.federation
        if fed is None or fed.role != "city":
            raise ValueError("FedConsumer needs federation.role city")
        self.cfg, self.fed, self.incidents, self.pipeline, self.bus, self.clock = cfg, fed, incidents, pipeline, bus, clock
        self.prefix = fed.prefix(cfg.mqtt)
        self.meter = Meter(clock)
        self.link = MqttLink(cfg.mqtt, f"{cfg.mqtt.client_id}-fed", url=url,
                             subscriptions=[topic(self.prefix, "+", "changes")], on_message=self._on_message,
                             persistent=True, mqtt5=use_mqtt5(cfg.mqtt, url), name=self.source_id)
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gap_since: dict[str, tuple[int, float]] = {}  # district -> (watermark when the gap was seen, when)
        self._asked: dict[str, float] = {}
        self.replays_requested = 0
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
            item: object = decode_changes(raw, district)
        except BadMessage as exc:
            self.meter.dead_letter()
            self.pipeline.dead_letter(self.source_id, name, "invalid_federation_message", raw, str(exc)[:500],
                                      on_committed=ack)
            return
        self._queue.put((item, ack))

    # --- the applying thread ---

    def _run(self) -> None:
        last_check = 0.0
        while not self._stop.is_set():
            batch = self._gather()
            try:
                if batch:
                    self._apply(batch)
                if time.monotonic() - last_check >= GAP_CHECK_S or batch:
                    self.check_gaps(time.monotonic())
                    last_check = time.monotonic()
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
        result = self.incidents.apply([item for item, _ in batch])
        for _, ack in batch:
            ack()
        self.meter.add(len(batch), 0, self.clock())
        if result.unknown:
            log.warning("federation: %d message(s) from districts not in federation.districts ignored", result.unknown)
        if result.changed:
            self.bus.publish([EventsCommitted(self.clock(), result.applied, tuple(sorted(result.changed)))])

    def check_gaps(self, now: float) -> list[tuple[str, int, int]]:
        """Ask for a replay where a gap stayed open for gap_wait; returns the ranges asked for."""
        wait = self.fed.gap_wait.total_seconds()
        asked = []
        for code, mark in self.incidents.watermarks.items():
            if mark.head <= mark.seq:
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
    """One district as a health row: silent (with its age) when not heard within federation.silent_after."""

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
    """The city's actions on a district's incident: checked here, sent to the district, applied there.

    Used by the city's IncidentService (`forward`, with the store: the incident must exist, the command is
    audited) and by `run.py federation` (store None: the running city holds the file; the district audits).
    """

    def __init__(self, cfg: Config, link: MqttLink, store=None, clock: Callable[[], datetime] = utc_now):
        if cfg.federation is None or cfg.federation.role != "city":
            raise ValueError("FedCommands needs federation.role city")
        self.cfg, self.fed, self.link, self.store, self.clock = cfg, cfg.federation, link, store, clock

    def __call__(self, actor: Actor, action: str, incident_id: int, note: str = "") -> str:
        """Send `action` for the city incident `incident_id`; returns the command id, raises ServiceError."""
        if action not in self.fed.city_actions:
            raise PermissionDenied("区县事件由区县中心办理，市级只能督办或上报（发送指令）",
                                   detail=f"{action} on a federated incident")
        if action not in ROLE_ACTIONS.get(actor.role, frozenset()):
            raise PermissionDenied(f"当前角色无权执行“{ACTION_NAMES[action]}”操作",
                                   detail=f"{actor.username} ({actor.role}) may not {action}")
        district, upstream = upstream_of(incident_id)
        if district not in {d.code for d in self.fed.districts}:
            raise ServiceError("该事件不属于已配置的区县", detail=f"incident {incident_id}: district {district}")
        if self.store is not None:
            rows = self.store.query("SELECT area_code FROM incidents WHERE incident_id = ?", [incident_id])
            if not rows:
                raise ServiceError("事件不存在", detail=f"incident {incident_id} not found")
            area = rows[0][0]
        else:
            area = district
        if actor.role != "admin" and actor.scope != self.cfg.site.city.code and not area.startswith(actor.scope):
            raise PermissionDenied("该事件不在您的管辖范围内", detail=f"{actor.username} scope {actor.scope}")
        command_id = uuid.uuid4().hex
        info = self.link.publish(topic(self.fed.prefix(self.cfg.mqtt), district, "commands"),
                                 command(command_id, action, upstream, actor.username, note), qos=1)
        if info.rc != 0:
            raise ServiceError("与区县的联网中断，指令未发出，请稍后重试", detail=f"publish rc={info.rc}")
        info.wait_for_publish(COMMAND_PUBLISH_S)
        if not info.is_published():
            raise ServiceError("指令未得到确认，请稍后查看区县是否已执行", detail="no PUBACK")
        if self.store is not None:
            now, store = self.clock(), self.store
            store.write(lambda conn: conn.execute(
                "INSERT INTO audit_log (audit_id, ts, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
                [store.allocate_ids(conn, "audit_log"), to_db(now), actor.username, f"command:{action}",
                 f"incident:{incident_id}", orjson.dumps({"district": district, "command_id": command_id}).decode()],
            ).fetchall())
        log.info("federation: %s sent %s for #%s to district %s (%s)", actor.username, action, upstream, district,
                 command_id)
        return command_id
