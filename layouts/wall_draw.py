"""One hot-set snapshot's wall drawn once as plain JSON, with digests so a refresh sends only what changed."""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

import numpy as np
from dash.development.base_component import Component

from layouts.common import local_time
from layouts.wall_lists import LIST_ROWS, list_view, p1_view
from layouts.wall_map import map_figure
from layouts.wall_tiles import ranked_load, ranking_tile, tiles_view
from layouts.wall_trend import TREND_DAYS, day_trend, trend_view
from ops_center.read import kpis, queries


class Drawn(NamedTuple):  # a NamedTuple from when it lived in the page (Dash runs pages outside sys.modules)
    """One hot-set snapshot's wall, drawn once (mostly by the hot set's catch-up thread) for every refresh."""

    version: int
    totals: dict[str, int]
    p1_open: tuple[int, ...]
    hashes: dict[str, str]
    map: dict
    tiles: list
    list: Any
    p1: Any
    trend: Any


def draw(cfg: Any, tz: str, scope: str | None, focus: str | None, daily: Any, cols: Any, now: Any) -> Drawn:
    summary = queries.summarize_wall(queries.wall_frames(cols, now, tz, scope, focus), LIST_ROWS)
    trend = day_trend(daily.get(now, tz, focus or scope, TREND_DAYS),
                      kpis.created_since(cols, queries.local_midnight(now, tz), focus or scope), local_time(now, tz, "%H:%M"))
    # 今日新增 is the KPI module's 受理数 (false alarms and merged duplicates excluded), like the trend beside it.
    totals = {**summary.totals, **queries.wall_attention(cols, now, focus or scope),
              "new_today": trend.created[-1], "same_time_yesterday": trend.same_time_yesterday}
    hashes = {"map": digest((summary.street_load, frame_digest(summary.markers), focus)),
              "tiles": digest((summary.domains, summary.street_load, trend.today_by_domain, trend.same_time_by_domain)),
              "list": frame_digest(summary.urgent), "p1": frame_digest(summary.p1), "trend": digest(trend)}
    return Drawn(cols.version, totals, summary.p1_open, hashes,
                 map_figure(cfg, summary.street_load, summary.markers, focus or scope),
                 plain(tiles_view(summary.domains, trend) + [ranking_tile(*ranked_load(cfg, summary.street_load))]),
                 plain(list_view(summary.urgent, tz)), plain(p1_view(summary.p1)), plain(trend_view(trend)))


def plain(value: Any) -> Any:
    """Components as the very JSON Dash sends: a response of plain data takes orjson's C path, not a Python walk."""
    if isinstance(value, Component):
        data = value.to_plotly_json()
        return {**data, "props": {name: plain(v) for name, v in data["props"].items()}}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def digest(value: Any) -> str:
    """A short stable hash of the JSON: the browser keeps it in a Store and sends it back with the next tick."""
    return hashlib.blake2b(json.dumps(value, default=str, sort_keys=True).encode(), digest_size=12).hexdigest()


def frame_digest(frame: Any) -> str:
    """Change detection for up to 2,000 rows within this process: Python's own hash, no lists or JSON first."""
    parts = tuple(frame[name].to_numpy().tobytes() if isinstance(frame[name].dtype, np.dtype)
                  and frame[name].dtype.kind in "biuf" else tuple(map(str, frame[name].tolist()))
                  for name in frame.columns)
    return f"{hash(parts) & 0xFFFFFFFFFFFFFFFF:016x}"
