"""`run.py federation supervise|escalate`: a city user's 督办 or escalation to 市级, sent to the owning district.

The running city center holds its DuckDB file, so this command does not open it: it checks the user,
role and action against the city's config (as the city's console does through IncidentService.forward),
publishes the command on the city's broker and resends it (the city's backoff) until the district answers
on `…/commands/ack` or `--wait` runs out; the district applies it once per command id through its incident
service, audits it as `city:<user>`, and the change comes back to the city through the district's outbox.
"""

from __future__ import annotations

import argparse
import queue
import sys
import time
import uuid
from typing import IO

from ingest.fed_consumer import FedCommands
from ingest.fed_wire import BadMessage, command, decode_command_ack, topic
from ingest.mqtt_client import MqttLink, use_mqtt5
from ops_center.core.config import Config
from ops_center.core.lifecycle import Actor, ServiceError
from ops_center.service.fed_commands import resend_delay

CONNECT_TIMEOUT_S = 10
ANSWER_TEXT = {"applied": "applied by the district", "unchanged": "already so at the district (nothing to change)"}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    fed = sub.add_parser("federation", help="city center: send 督办 or escalation to 市级 to a district's incident")
    fed.add_argument("action", choices=("supervise", "escalate"), help="supervise (督办) or escalate (上报至市级)")
    fed.add_argument("--incident", type=int, required=True, help="the incident id as the city shows it")
    fed.add_argument("--user", required=True, help="a configured user of the city center (role and scope checked)")
    fed.add_argument("--note", default="", help="note the district's timeline shows")
    fed.add_argument("--wait", type=float, default=120.0,
                     help="seconds to keep resending until the district answers (default 120)")


def run(args: argparse.Namespace, cfg: Config, out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    """0 once the district applied the command (or had nothing to change); 1 with the reason otherwise."""
    if cfg.federation is None or cfg.federation.role != "city":
        print("federation commands are sent from a city center (federation.role: city)", file=err)
        return 1
    user = next((u for u in cfg.users if u.username == args.user), None)
    if user is None:
        print(f"unknown user {args.user!r}", file=err)
        return 1
    actor = Actor.of(user)
    try:
        district, upstream = FedCommands(cfg).check(actor, args.action, args.incident)
    except ServiceError as exc:
        print(f"refused: {exc.user_message} ({exc})", file=err)
        return 1
    prefix = cfg.federation.prefix(cfg.mqtt)
    answers: queue.Queue = queue.Queue()

    def on_message(msg, ack) -> None:
        answers.put(bytes(msg.payload))
        ack()

    link = MqttLink(cfg.mqtt, f"{cfg.mqtt.client_id}-fed-cli-{uuid.uuid4().hex[:8]}", url=args.mqtt_url,
                    subscriptions=[topic(prefix, district, "commands/ack")], on_message=on_message, persistent=False,
                    mqtt5=use_mqtt5(cfg.mqtt, args.mqtt_url), name="fed-cli")
    link.start()
    try:
        if not link.subscribed.wait(CONNECT_TIMEOUT_S):
            print(f"no connection to the broker {args.mqtt_url or cfg.mqtt.url}", file=err)
            return 1
        command_id = uuid.uuid4().hex
        payload = command(command_id, args.action, upstream, actor.username, args.note)
        answer = send_until_answered(link, topic(prefix, district, "commands"), payload, command_id, answers,
                                     args.wait)
    finally:
        link.stop()
    if answer is None:
        print(f"command {command_id}: no answer from district {district} within {args.wait:g}s; it may still "
              "arrive (the district applies a command once)", file=err)
        return 1
    if answer["result"] == "refused":
        print(f"refused by district {district}: {answer['reason']} (command {command_id})", file=err)
        return 1
    print(f"{args.action} for incident {args.incident}: {ANSWER_TEXT[answer['result']]} (command {command_id})",
          file=out)
    return 0


def send_until_answered(link: MqttLink, name: str, payload: bytes, command_id: str, answers: queue.Queue,
                        wait_s: float) -> dict | None:
    """Publish, and again after each backoff step with no answer, until this command's answer or `wait_s`."""
    deadline = time.monotonic() + wait_s
    attempts = 0
    while time.monotonic() < deadline:
        link.publish(name, payload, qos=1)
        attempts += 1
        step_end = min(deadline, time.monotonic() + resend_delay(attempts).total_seconds())
        while (left := step_end - time.monotonic()) > 0:
            try:
                answer = decode_command_ack(answers.get(timeout=left))
            except queue.Empty:
                break
            except BadMessage:
                continue
            if answer["command_id"] == command_id:
                return answer
    return None
