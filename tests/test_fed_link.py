"""Federation over a real Mosquitto, in one process: outbox → publisher → consumer, replays, commands, bad input."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.fed_consumer import FedCommands, FedConsumer, silent_text
from ingest.fed_publisher import FedPublisher
from ingest.fed_wire import changes, topic
from ingest.health import SourceHealth
from layouts.fed_banner import attention_banner, silent_banner, silent_note
from ops_center.core.config import FederatedDistrict, FederationConfig
from ops_center.core.lifecycle import Actor, PermissionDenied
from ops_center.core.sla import SlaPolicy
from ops_center.read.queries import incident_detail
from ops_center.service.bus import Bus
from ops_center.service.fed_apply import FederatedIncidents, city_incident_id, upstream_of
from ops_center.service.fed_commands import CityCommands
from ops_center.service.incidents import IncidentService
from ops_center.service.outbox import Outbox
from ops_center.service.pipeline import Pipeline
from ops_center.service.work_orders import WorkOrderService
from ops_center.store.store import Store
from tests.factories import FixedClock, make_incident
from tests.fixtures_mqtt import private_mosquitto  # noqa: F401 - fixture
from tests.test_pipeline import StubRules

CODE = "510108"
OFFICER = Actor("officer", "officer", CODE)
CITY_LEADER = Actor("city_leader", "leader", "510100")
FAST = {"heartbeat": "0.2s", "gap_wait": "0.3s", "silent_after": "2s", "batch_changes": 3}


def wait_for(check: Callable[[], object], timeout: float = 20, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}")


@pytest.fixture
def link(cfg, tmp_path, fixed_now, private_mosquitto):  # noqa: F811 - the fixture
    clock = FixedClock(fixed_now)
    dcfg = cfg.model_copy(update={"federation": FederationConfig.model_validate(
        {"role": "district", "district_code": CODE, **FAST})})
    ccfg = cfg.model_copy(update={"federation": FederationConfig.model_validate(
        {"role": "city", "districts": [{"code": CODE, "name": "成华区"}], **FAST})})
    dstore, cstore = Store(tmp_path / "district.duckdb"), Store(tmp_path / "city.duckdb")
    dbus, cbus = Bus(), Bus()
    service = IncidentService(dstore, dbus, dcfg, clock)
    outbox = Outbox(dstore, CODE, clock).install()
    publisher = FedPublisher(dcfg, outbox, service, WorkOrderService(dstore, dbus, dcfg, clock, incidents=service),
                             url=private_mosquitto.url, clock=clock)
    pipeline = Pipeline(cstore, cbus, ccfg, StubRules(), SlaPolicy(ccfg), clock).start()
    incidents = FederatedIncidents(cstore, (CODE,), clock)
    book = CityCommands(cstore, clock)
    consumer = FedConsumer(ccfg, incidents, pipeline, cbus, book, url=private_mosquitto.url, clock=clock)
    commands = FedCommands(ccfg, book, clock)
    consumer.start()
    assert consumer.link.subscribed.wait(10)
    parts = {"dstore": dstore, "cstore": cstore, "service": service, "outbox": outbox, "publisher": publisher,
             "consumer": consumer, "incidents": incidents, "commands": commands, "clock": clock, "cfg": dcfg,
             "broker": private_mosquitto, "book": book, "pipeline": pipeline, "ccfg": ccfg, "cbus": cbus}
    yield parts
    for stop in (publisher.stop, consumer.stop, pipeline.stop, dbus.close, cbus.close, dstore.close, cstore.close):
        stop()


def city_rows(cstore) -> dict[int, tuple]:
    return {r[0]: r[1:] for r in cstore.query(
        "SELECT incident_id, status, version, supervised, level, district_code FROM incidents")}


def district_rows(dstore) -> dict[int, tuple]:
    return {city_incident_id(CODE, r[0]): r[1:] for r in dstore.query(
        "SELECT incident_id, status, version, supervised, level, district_code FROM incidents")}


def timelines(store, city: bool) -> list[tuple]:
    """Every timeline entry in the order written, under the city's ids."""
    return [((r[0] if city else city_incident_id(CODE, r[0])), *r[1:]) for r in store.query(
        "SELECT incident_id, ts, actor, action, from_status, to_status, note FROM incident_timeline "
        "ORDER BY incident_id, entry_id")]


def converged(p) -> bool:
    return city_rows(p["cstore"]) == district_rows(p["dstore"]) and bool(district_rows(p["dstore"]))


def test_changes_reach_the_city_once_in_order_and_commands_come_back(link, cfg, fixed_now):
    p = link
    ids = [make_incident(p["dstore"], cfg, now=fixed_now) for _ in range(7)]
    p["dstore"].write(lambda conn: p["dstore"].incidents_changed(conn, ids))  # as a pipeline batch would
    p["service"].acknowledge(OFFICER, ids[0], 1)
    p["publisher"].start()
    wait_for(lambda: converged(p), what="city mirrors the district")
    head = p["outbox"].head()
    assert p["incidents"].watermarks[CODE].seq == head == 8
    wait_for(lambda: p["outbox"].acked() == head, what="acked watermark saved")
    # ids: district code + the district's own id, exact in a browser
    assert all(upstream_of(i) == (CODE, i % 10**10) and i < 2**53 for i in city_rows(p["cstore"]))

    # 督办 at the city travels as a command and comes back through the outbox
    city_id = city_incident_id(CODE, ids[1])
    p["commands"](CITY_LEADER, "supervise", city_id, "请限期办结")
    wait_for(lambda: city_rows(p["cstore"])[city_id][2], what="supervised at the city")
    assert p["dstore"].query("SELECT supervised FROM incidents WHERE incident_id = ?", [ids[1]]) == [(True,)]
    assert p["dstore"].query("SELECT actor FROM audit_log WHERE action = 'supervise'") == [("city:city_leader",)]
    with pytest.raises(PermissionDenied):  # leaders supervise, they do not escalate
        p["commands"](CITY_LEADER, "escalate", city_id, "")
    with pytest.raises(PermissionDenied):  # the district works its queue, not the city
        p["commands"](CITY_LEADER, "acknowledge", city_id, "")
    admin = Actor("city_admin", "admin", "510100")
    p["commands"](admin, "escalate", city_id, "升级至市级")
    wait_for(lambda: city_rows(p["cstore"])[city_id][3] == "city", what="escalated to 市级 at the city")
    assert converged(p)

    # a redelivered old message changes nothing
    rows = p["outbox"].read(0, 3)
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="dup")
    client.connect("127.0.0.1", p["broker"].port)
    client.loop_start()
    client.publish(topic("ops", CODE, "changes"), changes(CODE, rows[-1][0], rows), qos=1).wait_for_publish(5)
    client.publish(topic("ops", CODE, "changes"), b"{not json", qos=1).wait_for_publish(5)
    wait_for(lambda: p["cstore"].query("SELECT count(*) FROM dead_letters WHERE source_id = 'fed_in'")[0][0] == 1)
    client.loop_stop()
    client.disconnect()
    assert converged(p)
    assert p["cstore"].query("SELECT count(*), count(DISTINCT incident_id) FROM incidents") == [(7, 7)]

    # The district's timelines, exactly once (the redelivery above added nothing): created, acknowledged,
    # 督办, escalated, and a note that changes no column; the city's incident detail shows them.
    p["service"].add_note(OFFICER, ids[1], note="已联系物业")
    wait_for(lambda: timelines(p["cstore"], True) == timelines(p["dstore"], False), what="timelines at the city")
    detail = incident_detail(p["cstore"], city_id)
    assert detail is not None
    own = incident_detail(p["dstore"], ids[1])
    assert own is not None and detail.timeline.equals(own.timeline)
    assert {"created", "supervise", "escalate", "add_note"} == set(detail.timeline["action"])
    assert detail.timeline["note"].iloc[-1] == "已联系物业"
    assert len(timelines(p["cstore"], True)) == 7 + 1 + len(own.timeline) - 1


def test_a_gap_is_replayed_from_the_outbox(link, cfg, fixed_now):
    p = link
    ids = [make_incident(p["dstore"], cfg, now=fixed_now) for _ in range(10)]
    p["dstore"].write(lambda conn: p["dstore"].incidents_changed(conn, ids))
    # The city hears changes 8..10 only (as if the bridge lost 1..7): a gap, then a replay fills it.
    tail = [r for r in p["outbox"].read(0, 100) if r[0] >= 8]
    p["outbox"].save_acked(10)  # the publisher believes the broker has them all
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="lossy-bridge")
    client.connect("127.0.0.1", p["broker"].port)
    client.loop_start()
    client.publish(topic("ops", CODE, "changes"), changes(CODE, 10, tail), qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()
    wait_for(lambda: p["incidents"].watermarks[CODE].head == 10, what="the city sees head 10")
    assert p["incidents"].watermarks[CODE].seq == 0
    p["publisher"].start()  # from acked 10: nothing to send; only the replay can fill 1..10
    wait_for(lambda: converged(p), what="replay fills the gap")
    assert p["consumer"].replays_requested >= 1 and p["publisher"].replayed >= 10
    assert p["cstore"].query("SELECT count(*) FROM incidents") == [(10,)]
    assert timelines(p["cstore"], True) == timelines(p["dstore"], False)  # the replayed 8..10 applied once


def test_a_silent_district_says_so_with_its_age(link, fixed_now):
    feed = link["consumer"].feeds[0]
    health = feed.health(fixed_now)
    assert health.state == "silent" and health.fault == "从未收到数据"
    assert silent_text(fixed_now - timedelta(seconds=75), fixed_now) == "已静默 1分15秒，数据截至最后一次收到时"


def test_configs_refuse_half_a_federation():
    with pytest.raises(ValueError, match="district_code"):
        FederationConfig.model_validate({"role": "district"})
    with pytest.raises(ValueError, match="districts"):
        FederationConfig.model_validate({"role": "city"})
    with pytest.raises(ValueError, match="twice"):
        FederationConfig(role="city", districts=(FederatedDistrict(code=CODE, name="a"),
                                                 FederatedDistrict(code=CODE, name="b")))
    assert orjson.loads(changes(CODE, 1, [(1, 5, '{"a":1}', None, None)]))["changes"][0]["row"] == {"a": 1}


def test_the_example_bridge_forwards_exactly_the_federation_topics():
    conf = (Path(__file__).resolve().parent.parent / "docs" / "federation" / "mosquitto-bridge.conf").read_text()
    lines = {line.split("#")[0].strip() for line in conf.splitlines()}
    assert {f"topic {topic('city', CODE, 'changes')} out 1", f"topic {topic('city', CODE, 'replay/request')} in 1",
            f"topic {topic('city', CODE, 'commands')} in 1", f"topic {topic('city', CODE, 'commands/ack')} out 1",
            "cleansession false"} <= lines


def test_the_wall_and_the_drill_down_name_a_silent_district_with_its_age(fixed_now):
    rows = [SourceHealth("fed_510104", "锦江区（区县中心）", "silent", fixed_now - timedelta(minutes=3), 0, 0, 0,
                         silent_text(fixed_now - timedelta(minutes=3), fixed_now)),
            SourceHealth("fed_510108", "成华区（区县中心）", "connected", fixed_now, 0, 0, 0, "")]
    items = [{"id": r.source_id, "name": r.name, "state": r.state, "fault": r.fault} for r in rows]
    def div(children, **kw):
        return {"children": children, **kw}

    (banner,) = silent_banner(items, div)
    assert banner == {"children": "区县静默：锦江区（区县中心）已静默 3分0秒，数据截至最后一次收到时（其事件为最后收到时的状态）",
                      "className": "wall-fed-silent", "id": "wall-fed-silent"}
    assert silent_banner(items[1:], div) == []
    assert "锦江区（区县中心）已静默 3分0秒" in silent_note(rows, "510100")
    assert "锦江区" in silent_note(rows, "510104001")
    assert silent_note(rows, "510108") == ""


def test_a_replay_of_pruned_changes_is_reported_not_papered_over(link, cfg, fixed_now):
    p = link
    ids = [make_incident(p["dstore"], cfg, now=fixed_now) for _ in range(5)]
    p["dstore"].write(lambda conn: p["dstore"].incidents_changed(conn, ids))
    p["outbox"].save_acked(5)
    assert p["outbox"].prune(timedelta(days=7), fixed_now + timedelta(days=30)) == 4  # the newest stays
    p["publisher"]._replay(1, 5)
    assert "1–4 已超出保留期" in p["publisher"].health(fixed_now).fault
    p["publisher"]._replay(5, 5)  # a whole replay clears it
    assert "保留期" not in p["publisher"].health(fixed_now).fault


def test_a_gap_the_outbox_no_longer_holds_needs_a_resync(link, cfg, fixed_now):
    """An outage longer than federation.keep: the heartbeat's oldest kept sequence tells the city to stop asking."""
    p = link
    ids = [make_incident(p["dstore"], cfg, now=fixed_now) for _ in range(5)]
    p["dstore"].write(lambda conn: p["dstore"].incidents_changed(conn, ids))
    p["outbox"].save_acked(5)  # the broker took them all, the bridge lost them, and a month went by
    assert p["outbox"].prune(timedelta(days=7), fixed_now + timedelta(days=30)) == 4
    p["publisher"].start()  # nothing to send after 5; its heartbeat says head 5, oldest 5
    wait_for(lambda: p["incidents"].watermarks[CODE].needs_resync, what="the city sees the unreachable gap")
    mark = p["incidents"].watermarks[CODE]
    assert (mark.seq, mark.head, mark.oldest) == (0, 5, 5)
    assert p["consumer"].check_gaps(time.monotonic() + 3600) == []  # no replay can fill it: not asked for
    health = p["consumer"].feeds[0].health(fixed_now)
    assert health.state == "error"
    assert health.fault == "缺变更 1–4，已超出区县保留期（federation.keep），需人工重新同步"
    items = [{"id": health.source_id, "name": health.name, "state": health.state, "fault": health.fault}]
    (banner,) = attention_banner(items, lambda children, **kw: {"children": children, **kw})
    assert banner["children"] == f"区县需重新同步：成华区（区县中心）{health.fault}"
    # kept across a restart of the city
    assert FederatedIncidents(p["cstore"], (CODE,), p["clock"]).watermarks[CODE].needs_resync
