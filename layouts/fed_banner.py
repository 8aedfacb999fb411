"""A city center's word on silent districts, for the wall and the drill-down (no page of its own)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

FED_FEED_PREFIX = "fed_"  # source ids of the district rows a city center shows (ingest/fed_consumer.py DistrictFeed)


def silent_banner(items: list[dict[str, Any]], div: Callable[..., Any]) -> list:
    """The wall's health strip items -> a banner naming every silent district and its age (its incidents are as
    last heard, never zero); [] when none is silent. `div` is html.Div (passed in: dash is the page's business)."""
    silent = [i for i in items if i["id"].startswith(FED_FEED_PREFIX) and i["state"] == "silent"]
    if not silent:
        return []
    text = "；".join(f"{i['name']}{i['fault'] or '已静默'}" for i in silent)
    return [div(f"区县静默：{text}（其事件为最后收到时的状态）", className="wall-fed-silent", id="wall-fed-silent")]


def silent_note(health: Iterable[Any], code: str) -> str:
    """The drill-down title's note on the silent districts above or below area `code` ('' when none)."""
    silent = [h for h in health if h.source_id.startswith(FED_FEED_PREFIX) and h.state == "silent"
              and in_view(h.source_id[len(FED_FEED_PREFIX):], code)]
    if not silent:
        return ""
    return " · 区县静默：" + "；".join(f"{h.name}{getattr(h, 'fault', '') or '已静默'}" for h in silent)


def in_view(district: str, code: str) -> bool:
    """Whether district `district` is the area `code`, lies under it, or above it (a city code like 510100 covers
    the districts 5101xx)."""
    city = len(code) == 6 and code.endswith("00") and district[:4] == code[:4]
    return city or district.startswith(code) or code.startswith(district)
