"""`run.py federation supervise|escalate`: a city user's 督办 or escalation to 市级, sent to the owning district.

The running city center holds its DuckDB file, so this command does not open it: it checks the user,
role and action against the city's config (as the city's console does through IncidentService.forward)
and publishes the command on the city's broker; the district applies it through its incident service and
audits it as `city:<user>`, and the change comes back to the city through the district's outbox.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO

from ingest.fed_consumer import FedCommands
from ingest.mqtt_client import MqttLink, use_mqtt5
from ops_center.core.config import Config
from ops_center.core.lifecycle import Actor, ServiceError

CONNECT_TIMEOUT_S = 10


def add_parsers(sub: argparse._SubParsersAction) -> None:
    fed = sub.add_parser("federation", help="city center: send 督办 or escalation to 市级 to a district's incident")
    fed.add_argument("action", choices=("supervise", "escalate"), help="supervise (督办) or escalate (上报至市级)")
    fed.add_argument("--incident", type=int, required=True, help="the incident id as the city shows it")
    fed.add_argument("--user", required=True, help="a configured user of the city center (role and scope checked)")
    fed.add_argument("--note", default="", help="note the district's timeline shows")


def run(args: argparse.Namespace, cfg: Config, out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    """0 once the city's broker acknowledged the command; 1 with the reason otherwise."""
    if cfg.federation is None or cfg.federation.role != "city":
        print("federation commands are sent from a city center (federation.role: city)", file=err)
        return 1
    user = next((u for u in cfg.users if u.username == args.user), None)
    if user is None:
        print(f"unknown user {args.user!r}", file=err)
        return 1
    link = MqttLink(cfg.mqtt, f"{cfg.mqtt.client_id}-fed-cli", url=args.mqtt_url, persistent=False,
                    mqtt5=use_mqtt5(cfg.mqtt, args.mqtt_url), name="fed-cli")
    link.start()
    try:
        if not link.connected.wait(CONNECT_TIMEOUT_S):
            print(f"no connection to the broker {args.mqtt_url or cfg.mqtt.url}", file=err)
            return 1
        command_id = FedCommands(cfg, link)(Actor.of(user), args.action, args.incident, args.note)
    except ServiceError as exc:
        print(f"refused: {exc.user_message} ({exc})", file=err)
        return 1
    finally:
        link.stop()
    print(f"sent {args.action} for incident {args.incident}: command {command_id}", file=out)
    return 0
