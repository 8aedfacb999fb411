"""City commands that cannot be lost (issue 17): booked with the audit, resent until the district answers, applied once.

Real Mosquitto (tests/test_fed_link.py's `link` world: one district, one city, one broker): a 督办 booked while
the broker is down and one sent while the district has no subscription (the loss seen in a real run) both arrive
once; a resent or redelivered command is answered from the district's record; a command on an incident the
district does not have is refused, and the city shows the refusal with the district's reason.
"""

from __future__ import annotations

import argparse
import io
import time
from datetime import timedelta

import paho.mqtt.client as mqtt
import pandas as pd
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.fed_consumer import CommandsFeed, commands_text
from ingest.fed_wire import BadMessage, changes, command, command_ack, decode_changes, decode_command_ack, topic
from layouts.common import local_time
from layouts.fed_banner import attention_banner, command_notes
from ops_center.core.lifecycle import ServiceError
from ops_center.read.queries import incident_detail
from ops_center.service.fed_apply import city_incident_id
from ops_center.service.fed_commands import AppliedCommands, CityCommands, Command, resend_delay
from ops_center.wiring import fed_cli
from tests.factories import make_incident
from tests.test_fed_link import CITY_LEADER, CODE, converged, link, wait_for  # noqa: F401 - the fixture

TZ = "Asia/Shanghai"


def state_of(p, command_id: str) -> tuple:
    return p["cstore"].query("SELECT state, attempts, coalesce(reason, '') FROM fed_commands WHERE command_id = ?",
                             [command_id])[0]


def supervisions(p, upstream: int) -> int:
    return p["dstore"].query("SELECT count(*) FROM supervisions WHERE incident_id = ?", [upstream])[0][0]


def started(p, cfg, fixed_now, n: int = 3) -> list[int]:
    ids = [make_incident(p["dstore"], cfg, now=fixed_now) for _ in range(n)]
    p["dstore"].write(lambda conn: p["dstore"].incidents_changed(conn, ids))
    return ids


def test_a_supervision_booked_while_the_broker_is_down_arrives_once(link, cfg, fixed_now):  # noqa: F811
    p = link
    ids = started(p, cfg, fixed_now)
    p["publisher"].start()
    wait_for(lambda: converged(p), what="city mirrors the district")
    assert p["publisher"].link.subscribed.wait(10)

    p["broker"].stop()  # the district's broker (here the only one) is down
    wait_for(lambda: not p["consumer"].link.connected.is_set(), what="the city's link sees the broker gone")
    city_id = city_incident_id(CODE, ids[0])
    command_id = p["commands"](CITY_LEADER, "supervise", city_id, "请限期办结")  # booked, not lost, not an error
    time.sleep(1)  # the resend tick runs (every 0.5 s) and finds no link: nothing is counted as sent
    assert state_of(p, command_id) == ("pending", 0, "")
    with pytest.raises(ServiceError) as refused:  # a second click, or a second leader
        p["commands"](CITY_LEADER, "supervise", city_id, "再次督办")
    assert refused.value.user_message == "该事件已有待区县确认的“督办”指令，请等待区县答复"
    assert p["cstore"].query("SELECT count(*) FROM fed_commands")[0][0] == 1
    assert p["cstore"].query("SELECT action, detail FROM audit_log WHERE action = 'command:supervise'") == [
        ("command:supervise", f'{{"district":"{CODE}","command_id":"{command_id}"}}')]
    detail = incident_detail(p["cstore"], city_id)
    assert detail is not None
    assert command_notes(detail.commands, TZ, local_time) == [
        ("pending", f"市级指令待区县确认：{local_time(fixed_now, TZ, '%m-%d %H:%M')} city_leader 督办（尚未发出，联网后自动发送）")]

    p["broker"].start()  # persistence kept the district's session: the command reaches it once
    wait_for(lambda: state_of(p, command_id)[0] == "applied", what="the district's answer settles the command")
    wait_for(lambda: p["cstore"].query("SELECT supervised FROM incidents WHERE incident_id = ?", [city_id]) == [(True,)],
             what="the 督办 comes back through the outbox")
    assert supervisions(p, ids[0]) == 1
    assert p["dstore"].query("SELECT command_id, result FROM fed_applied_commands") == [(command_id, "applied")]
    detail = incident_detail(p["cstore"], city_id)
    assert detail is not None and detail.commands.empty  # nothing left for the city user to watch

    # The same command again (a resend whose answer was lost): answered from the record, applied once.
    answers: list[bytes] = []
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="resender")
    client.on_message = lambda _c, _u, msg: answers.append(bytes(msg.payload))
    client.connect("127.0.0.1", p["broker"].port)
    client.subscribe(topic("ops", CODE, "commands/ack"), qos=1)
    client.loop_start()
    time.sleep(0.3)
    client.publish(topic("ops", CODE, "commands"), command(command_id, "supervise", ids[0], "city_leader", "请限期办结"),
                   qos=1).wait_for_publish(5)
    wait_for(lambda: answers, what="the district answers the resent command")
    client.loop_stop()
    client.disconnect()
    assert decode_command_ack(answers[0]) == {"command_id": command_id, "result": "applied", "reason": ""}
    assert supervisions(p, ids[0]) == 1
    assert p["dstore"].query("SELECT count(*) FROM incident_timeline WHERE incident_id = ? AND action = 'supervise'",
                             [ids[0]]) == [(1,)]


def test_a_command_the_district_did_not_hear_is_resent_until_it_answers(link, cfg, fixed_now):  # noqa: F811
    """The loss of a real run: the city's broker took the command while the district had no subscription."""
    p = link
    ids = started(p, cfg, fixed_now)
    city_id = city_incident_id(CODE, ids[1])
    # The city has the incident (mirrored earlier); the district's center has never connected: no subscription.
    p["incidents"].apply([decode_changes(changes(CODE, p["outbox"].head(), p["outbox"].read(0, 100)), CODE)])
    command_id = p["commands"](CITY_LEADER, "supervise", city_id, "")
    wait_for(lambda: state_of(p, command_id)[1] == 1, what="first send")
    p["clock"].advance(seconds=resend_delay(1).total_seconds())
    wait_for(lambda: state_of(p, command_id)[1] == 2, what="resent after 5 s without an answer")
    assert state_of(p, command_id)[0] == "pending" and supervisions(p, ids[1]) == 0  # nobody heard either
    assert resend_delay(2) == timedelta(seconds=10) and resend_delay(9) == timedelta(seconds=60)

    p["publisher"].start()  # the district comes back and subscribes
    assert p["publisher"].link.subscribed.wait(10)
    time.sleep(0.5)  # nothing is resent before the backoff step is over
    assert state_of(p, command_id)[:2] == ("pending", 2)
    p["clock"].advance(seconds=resend_delay(2).total_seconds())
    wait_for(lambda: state_of(p, command_id)[0] == "applied", what="the third send is applied and answered")
    assert state_of(p, command_id)[1] == 3 and supervisions(p, ids[1]) == 1
    p["clock"].advance(seconds=120)
    time.sleep(1)
    assert state_of(p, command_id)[1] == 3  # an answered command is never sent again


def test_a_command_on_an_incident_the_district_lacks_is_refused_and_shown(link, cfg, fixed_now):  # noqa: F811
    p = link
    ids = started(p, cfg, fixed_now)
    p["publisher"].start()
    wait_for(lambda: converged(p), what="city mirrors the district")
    # The city holds a row the district no longer has (a district restored from an older backup, say).
    ghost = city_incident_id(CODE, max(ids) + 50)
    p["cstore"].write(lambda conn: conn.execute(
        "INSERT INTO incidents SELECT * REPLACE (? AS incident_id) FROM incidents WHERE incident_id = ?",
        [ghost, city_incident_id(CODE, ids[0])]).fetchall())
    command_id = p["commands"](CITY_LEADER, "supervise", ghost, "")
    wait_for(lambda: state_of(p, command_id)[0] == "refused", what="the district refuses")
    reason = f"事件不存在（区县事件 #{max(ids) + 50}）"
    assert state_of(p, command_id) == ("refused", 1, reason)
    assert p["dstore"].query("SELECT result, reason FROM fed_applied_commands") == [("refused", reason)]

    # shown at the city: the incident detail, the health row and the wall's banner
    detail = incident_detail(p["cstore"], ghost)
    assert detail is not None
    ((state, line),) = command_notes(detail.commands, TZ, local_time)
    assert state == "refused" and line.startswith("市级指令被区县拒绝：") and line.endswith(f"city_leader 督办 — {reason}")
    health = CommandsFeed(p["book"], p["clock"]).health()
    assert health.state == "error" and health.fault == f"#{ghost} 督办被区县拒绝：{reason}"
    items = [{"id": health.source_id, "name": health.name, "state": health.state, "fault": health.fault}]

    def div(children, **kw):
        return {"children": children, **kw}

    assert attention_banner(items, div) == [{"children": f"市级指令：#{ghost} 督办被区县拒绝：{reason}",
                                             "className": "wall-fed-commands", "id": "wall-fed-commands"}]
    p["clock"].advance(days=2)  # the banner lets go after a day; the incident detail keeps it
    assert CommandsFeed(p["book"], p["clock"]).health().fault == ""
    assert len(incident_detail(p["cstore"], ghost).commands) == 1  # type: ignore[union-attr]


def test_the_words_for_pending_and_refused_commands(fixed_now):
    def cmd(state: str, minutes: int, reason: str = "") -> Command:
        return Command("c", CODE, city_incident_id(CODE, 7), 7, "escalate", "admin", "",
                       fixed_now - timedelta(minutes=minutes), state, 2, reason)

    assert commands_text([], [], fixed_now) == ""
    assert commands_text([cmd("pending", 3), cmd("pending", 12)], [], fixed_now) == (
        "2 条指令待区县确认（最早 12 分钟前发出，自动重发中）")
    refused = [cmd("refused", 1, "事件不存在")] * 5
    assert commands_text([], refused, fixed_now).endswith("；另 2 条被拒")
    assert command_notes(pd.DataFrame(), TZ, local_time) == []
    assert decode_command_ack(command_ack("c", "refused", "x")) == {"command_id": "c", "result": "refused", "reason": "x"}
    with pytest.raises(BadMessage, match="result must be one of"):
        decode_command_ack(b'{"v":1,"type":"command_ack","command_id":"c","result":"done"}')


def test_run_py_federation_resends_until_the_district_answers(link, cfg, fixed_now):  # noqa: F811
    p = link
    ids = started(p, cfg, fixed_now)
    p["publisher"].start()
    wait_for(lambda: converged(p), what="city mirrors the district")

    def cli(incident: int) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        args = argparse.Namespace(action="supervise", incident=incident, user="leader", note="限期办结", wait=20.0,
                                  mqtt_url=p["broker"].url)
        return fed_cli.run(args, p["ccfg"], out, err), out.getvalue(), err.getvalue()

    code, out, _ = cli(city_incident_id(CODE, ids[2]))
    assert code == 0 and out.startswith("supervise for incident") and "applied by the district" in out
    assert supervisions(p, ids[2]) == 1
    code, _, err = cli(city_incident_id(CODE, 999))
    assert code == 1 and err.startswith(f"refused by district {CODE}: 事件不存在（区县事件 #999）")
    assert p["dstore"].query("SELECT result FROM fed_applied_commands ORDER BY applied_at, result") == [
        ("applied",), ("refused",)]


def test_settled_commands_and_the_districts_record_are_pruned_after_keep(store, fixed_now):
    """Both tables grew by one row per 督办 forever; past federation.keep only what the city must still see stays."""
    book = CityCommands(store, lambda: fixed_now)
    old, recent = fixed_now - timedelta(days=8), fixed_now - timedelta(days=1)
    for incident_id, (command_id, state, at) in enumerate((
            ("applied-old", "applied", old), ("unchanged-old", "unchanged", old), ("applied-recent", "applied", recent),
            ("refused-old", "refused", old), ("pending-old", "pending", old)), start=1000):
        store.write(lambda conn, command_id=command_id, incident_id=incident_id, at=at: book.record(
            conn, command_id, CODE, incident_id, "supervise", "city_leader", "", at))
        if state != "pending":
            book.settle([{"command_id": command_id, "result": state, "reason": ""}], at)
    assert book.prune(timedelta(days=7), fixed_now) == 2
    assert sorted(r[0] for r in store.query("SELECT command_id FROM fed_commands")) == [
        "applied-recent", "pending-old", "refused-old"]

    for command_id, at in (("c-old", old), ("c-recent", recent)):
        AppliedCommands(store, lambda at=at: at).record(command_id, "supervise", 7, "city_leader", "applied", "")
    assert AppliedCommands(store, lambda: fixed_now).prune(timedelta(days=7), fixed_now) == 1
    assert store.query("SELECT command_id FROM fed_applied_commands") == [("c-recent",)]
