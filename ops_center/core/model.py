"""The normalised event every source produces and the decision the rules engine returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """One accepted input, whatever its source; `natural_key` is unique within `source_id`."""

    source: str  # "sensor" | "grid" | "hotline" | "system"
    source_id: str  # configured source id, e.g. "mqtt_sensors", "hotline_drop"
    natural_key: str
    occurred_at: datetime  # aware
    received_at: datetime  # aware
    kind: str | None = None  # sensor kind (smoke, gas, water_level …) or system kind (feed_silent)
    device_id: str | None = None
    metric: str | None = None
    value: float | None = None
    event: str | None = None  # sensor-side event name: "alarm", "sos", "fall", "restore" …
    text: str = ""
    category: str | None = None  # category as the reporter gave it
    area_code: str | None = None  # resolved grid/community/street code
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)  # everything else, e.g. lone_elder, reporter

    def __reduce__(self) -> tuple:
        """Pickled as its constructor's arguments: a slotted dataclass's own __setstate__ looks its fields up
        for every object, which made unpickling the receivers' sensor chunks twice as slow."""
        return Event, _EVENT_VALUES(self)


_EVENT_VALUES = attrgetter(*(f.name for f in fields(Event)))


@dataclass(frozen=True, slots=True)
class Decision:
    """What the rules engine concluded for one event: which incident to open or bump."""

    rule_id: str
    domain: str
    category: str
    severity: str  # P1..P4
    level: str  # responsible level: community | street | district | city
    department: str | None
    title: str
    dedup_key: str | None = None
    dedup_window: timedelta | None = None
    notify_domains: tuple[str, ...] = ()  # amplification: further domains to tell
    amplified_by: tuple[str, ...] = ()  # ids of amplification rules that raised severity
    clears: bool = False  # the event ends a condition (e.g. feed back, reading back in range)
    auto_resolve: bool = False  # a clear resolves the incident by itself (signal restored), not just a note

    def __reduce__(self) -> tuple:
        """Pickled as its constructor's arguments, like Event: decisions made ahead travel with a file's chunks."""
        return Decision, _DECISION_VALUES(self)


_DECISION_VALUES = attrgetter(*(f.name for f in fields(Decision)))


@dataclass(frozen=True, slots=True)
class Ahead:
    """Decisions made for a run of events before they reach the writer (a file's parser process).

    They hold only for the rule set and text model they were made with, `ruleset` (`RuleSet.identity`); the
    writer uses them when its current set is that one and decides again itself when it is not.
    """

    ruleset: tuple[str, str | None]
    decisions: Sequence[list[Decision] | None]  # per event, in order; None: the writer decides that one

    def piece(self, start: int, stop: int) -> Ahead:
        return Ahead(self.ruleset, self.decisions[start:stop])

    def of(self, index: int) -> list[Decision] | None:
        """The decisions for the event at `index` of the run (None past its events: its dead letters)."""
        return self.decisions[index] if index < len(self.decisions) else None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Input we could not accept, kept with its raw bytes and the reason."""

    source_id: str
    topic: str | None
    reason: str
    raw: bytes
    detail: str = ""
    received_at: datetime | None = None
