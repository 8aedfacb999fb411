"""The outbound wire form of every domain event: each field once, the event's name, `at` as ISO 8601."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from ops_center.service import bus

EVENT_CLASSES = [cls for cls in vars(bus).values()
                 if isinstance(cls, type) and issubclass(cls, bus.DomainEvent) and cls is not bus.DomainEvent]


def sample(cls: type, n: int, at: datetime) -> bus.DomainEvent:
    values = {}
    for f in dataclasses.fields(cls):
        values[f.name] = {"incident_id": n, "at": at}.get(f.name, f"{f.name}-{n}")
    return cls(**values)


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__name__)
def test_to_dict_is_every_field_the_name_and_the_time(cls):
    assert cls in bus._NAMES  # noqa: SLF001 - every event class has a wire name
    t0 = datetime(2026, 11, 24, 2, 0, 0, 123456, tzinfo=UTC)
    shared = [sample(cls, n, t0) for n in range(3)]  # a batch's events share one `at`
    later = sample(cls, 9, t0 + timedelta(seconds=1))
    for event in [*shared, later, shared[0]]:
        expected = {f.name: getattr(event, f.name) for f in dataclasses.fields(cls)}
        expected["event"] = event.name
        expected["at"] = event.at.isoformat()
        assert event.to_dict() == expected
        assert list(event.to_dict()) == [*(f.name for f in dataclasses.fields(cls)), "event"]
