"""What the center publishes: a bus event as an outbound MQTT message, and the compact form it crosses a pipe in.

With receivers the publisher is a child process (ingest/outbound_process.py) that yields the CPU to the writer.
The writer's bus thread hands it (class name, field values) per event; serialising there instead (a dict, JSON,
then the bytes pickled) cost 4.6 µs of the writer's GIL an event against 0.7 µs, and that GIL is the one every
commit needs. The child, or the in-process publisher, turns events into messages with `messages`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from operator import attrgetter

import orjson

from ops_center.core.config import MqttConfig
from ops_center.service.bus import (
    IncidentCreated,
    IncidentEscalated,
    IncidentMerged,
    IncidentOverdue,
    IncidentTransitioned,
    ReportWritten,
    UnitReminded,
)

PUBLISHED = (IncidentCreated, IncidentEscalated, IncidentTransitioned, IncidentOverdue, IncidentMerged, UnitReminded)
_KINDS = {cls.__name__: cls for cls in (*PUBLISHED, ReportWritten)}
_VALUES = {cls: attrgetter(*(f.name for f in fields(cls))) for cls in _KINDS.values()}


def incident_topic(mqtt: MqttConfig, name: str) -> str:
    return f"{mqtt.topic_prefix.strip('/')}/out/incident/{name}"


def report_topic(mqtt: MqttConfig, subscription: str) -> str:
    return f"{mqtt.topic_prefix.strip('/')}/out/report/{subscription}"


def published(events: Iterable) -> list:
    """The events that go out on MQTT, in order: decisions about incidents, and written weekly reports."""
    return [event for event in events if type(event) in _VALUES]


def pack(events: list) -> list[tuple[str, tuple]]:
    """Published events → (class name, field values): cheap to pickle, rebuilt by `unpack`."""
    return [(type(event).__name__, _VALUES[type(event)](event)) for event in events]


def unpack(packed: list[tuple[str, tuple]]) -> list:
    return [_KINDS[name](*values) for name, values in packed]


def messages(mqtt: MqttConfig, events: list) -> list[tuple[str, bytes]]:
    """(topic, JSON payload) per published event, in order."""
    return [(report_topic(mqtt, event.subscription) if type(event) is ReportWritten else incident_topic(mqtt, event.name),
             orjson.dumps(event.to_dict(), default=str)) for event in events]
