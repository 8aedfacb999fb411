"""Plausible event time: one window, applied by the MQTT parsers and by the pipeline to every other source."""

from __future__ import annotations

from datetime import datetime, timedelta

from ops_center.core.config import Config

IMPLAUSIBLE_TIME = "implausible_time"


def plausible_window(cfg: Config) -> tuple[timedelta, timedelta]:
    """(max_future, max_age) from config; max_age defaults to the dedup horizon beyond which repeats pass."""
    return cfg.ingest.max_future, cfg.ingest.max_age or cfg.store.dedup_horizon


def implausible(occurred_at: datetime, received_at: datetime, max_future: timedelta, max_age: timedelta,
                name: str = "ts") -> str:
    """Why `occurred_at` cannot be a real event time, or '' when it can (a sender's clock bug is not an event)."""
    if occurred_at > received_at + max_future:
        return (f"{name} {occurred_at.isoformat()} is more than {max_future} after its arrival "
                f"{received_at.isoformat()}")
    if occurred_at < received_at - max_age:
        return (f"{name} {occurred_at.isoformat()} is more than {max_age} before its arrival "
                f"{received_at.isoformat()}")
    return ""
