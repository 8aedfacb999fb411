"""The one real clock, at the bottom so every layer can read it; everything else takes `now` as a parameter."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now, timezone-aware in UTC (the store keeps naive UTC; screens show Asia/Shanghai)."""
    return datetime.now(UTC)
