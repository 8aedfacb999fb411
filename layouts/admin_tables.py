"""The admin page's building blocks: text-only tables, site-time stamps and tab panels."""

from __future__ import annotations

import dash_mantine_components as dmc
import pandas as pd
from dash import html

from layouts.common import local_time


def text_table(columns: list[str], rows: list[list], empty: str = "暂无数据") -> dmc.Table:
    """A dark table whose cells are plain text (or components we build), never HTML strings."""
    body = [dmc.TableTr([dmc.TableTd(c if not isinstance(c, float) or not pd.isna(c) else "—") for c in row])
            for row in rows] or [dmc.TableTr(html.Td(empty, colSpan=len(columns)))]
    return dmc.Table([dmc.TableThead(dmc.TableTr([dmc.TableTh(c) for c in columns])), dmc.TableTbody(body)],
                     striped=True, highlightOnHover=True, withTableBorder=True, fz="sm")


def stamp_text(value, tz: str, fmt: str = "%m-%d %H:%M:%S") -> str:
    """A stored UTC stamp (naive or aware, maybe missing) as site time; a dash when there is none."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "—"
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return local_time(stamp.to_pydatetime(), tz, fmt)


def panel(*children) -> dmc.Stack:
    return dmc.Stack(list(children), gap="sm", p="sm")


PRE = {"whiteSpace": "pre-wrap", "wordBreak": "break-all", "background": "#0b1220", "border": "1px solid #24314f",
       "padding": 8, "minHeight": 60, "maxHeight": 320, "overflow": "auto", "fontSize": 12, "margin": 0}
