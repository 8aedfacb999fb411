"""A city center's word on silent districts and on its commands, for the wall, the drill-down and the incident detail
(no page of its own)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

FED_FEED_PREFIX = "fed_"  # source ids of the district rows a city center shows (ingest/fed_consumer.py DistrictFeed)
COMMANDS_SOURCE = "fedcmd"  # the city's commands as a health row (ingest/fed_consumer.py CommandsFeed)
COMMAND_ACTIONS = {"supervise": "督办", "escalate": "上报市级"}


def silent_banner(items: list[dict[str, Any]], div: Callable[..., Any]) -> list:
    """The wall's health strip items -> a banner naming every silent district and its age (its incidents are as
    last heard, never zero); [] when none is silent. `div` is html.Div (passed in: dash is the page's business)."""
    silent = [i for i in items if i["id"].startswith(FED_FEED_PREFIX) and i["state"] == "silent"]
    if not silent:
        return []
    text = "；".join(f"{i['name']}{i['fault'] or '已静默'}" for i in silent)
    return [div(f"区县静默：{text}（其事件为最后收到时的状态）", className="wall-fed-silent", id="wall-fed-silent")]


def attention_banner(items: list[dict[str, Any]], div: Callable[..., Any]) -> list:
    """Districts that need a manual resync, and commands waiting for or refused by a district: [] when none."""
    out = []
    resync = [i for i in items if i["id"].startswith(FED_FEED_PREFIX) and i["state"] == "error" and i["fault"]]
    if resync:
        out.append(div("区县需重新同步：" + "；".join(f"{i['name']}{i['fault']}" for i in resync),
                       className="wall-fed-resync", id="wall-fed-resync"))
    commands = next((i for i in items if i["id"] == COMMANDS_SOURCE and i["fault"]), None)
    if commands is not None:
        out.append(div(f"市级指令：{commands['fault']}", className="wall-fed-commands", id="wall-fed-commands"))
    return out


def command_notes(commands: Any, tz: str, local_time: Callable[[Any, str, str], str]) -> list[tuple[str, str]]:
    """The incident detail's lines on the city's commands the district has not applied (a DataFrame of
    queries.IncidentDetail.commands), as (state, text): pending with its sends, or refused with the district's reason."""
    lines = []
    for c in commands.to_dict("records"):
        what = f"{local_time(c['ts'], tz, '%m-%d %H:%M')} {c['actor']} {COMMAND_ACTIONS.get(c['action'], c['action'])}"
        if c["state"] == "refused":
            lines.append(("refused", f"市级指令被区县拒绝：{what} — {c['reason'] or '未说明原因'}"))
        else:
            sends = int(c["attempts"])
            lines.append(("pending", f"市级指令待区县确认：{what}（" + (f"已发送 {sends} 次，自动重发）" if sends
                                                                    else "尚未发出，联网后自动发送）")))
    return lines


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
