"""The value types config models share: readable durations, dates, working hours, instants, a strict base."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> timedelta:
    """Accept '90s', '5m', '2h', '3d', '1w' (or a number of seconds) so the YAML stays readable."""
    if isinstance(value, timedelta):
        return value
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return timedelta(seconds=float(value))
        if isinstance(value, str) and (m := _DURATION.match(value)):
            return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    except OverflowError:  # pydantic reports ValueError as a config error; an overflow would escape
        raise ValueError(f"duration {value!r} is out of range") from None
    raise ValueError(f"expected a duration like '30s', '5m', '2h', '3d', got {value!r}")


def _parse_date(value: object) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"expected a date YYYY-MM-DD, got {value!r}") from exc


def _parse_hours(value: object) -> tuple[time, time]:
    m = re.match(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$", str(value))
    if not m:
        raise ValueError(f"expected working hours like '09:00-12:00', got {value!r}")
    start = time(int(m.group(1)), int(m.group(2)))
    end = time(int(m.group(3)), int(m.group(4)))
    if end <= start:
        raise ValueError(f"working period {value!r} ends before it starts")
    return start, end


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Day = Annotated[date, BeforeValidator(_parse_date)]
Hours = Annotated[tuple[time, time], BeforeValidator(_parse_hours)]
Severity = Literal["P1", "P2", "P3", "P4"]
Level = Literal["community", "street", "district", "city"]
Role = Literal["viewer", "officer", "shift_lead", "leader", "admin", "unit", "grid"]


def _parse_instant(value: object) -> datetime:
    """ISO date-time; without an offset it is site time (Asia/Shanghai), never naive downstream."""
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise ValueError(f"expected a date-time like '2026-12-01T08:00+08:00', got {value!r}") from exc
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=ZoneInfo("Asia/Shanghai"))


Instant = Annotated[datetime, BeforeValidator(_parse_instant)]


class Strict(BaseModel):
    """Base for every config model: frozen, and unknown keys are an error, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)
