"""How the 督办台账 reads: one row per 督办 record with its countdown and state, and the chosen record's detail (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from dash import html

from layouts import ids
from layouts.common import area_name, countdown, display_title, epoch_ms, local_time, text_or_empty
from ops_center.core.area_codes import ancestors, level_of
from ops_center.core.config import Config
from ops_center.core.units import unit_name

STATE_NAMES = {"open": "在办", "met": "按期办结", "overdue": "逾期", "closed": "已销号"}
SHOW_NAMES = {"open": "在办（未销号）", "overdue": "逾期", "all": "全部"}
MAX_ROWS = 200  # the ledger lists the most urgent this many; the count says how many more there are
HEADERS = ("督办", "事件", "区域", "责任单位", "督办人 · 下达", "督办期限", "剩余 / 超期", "状态", "督办要求", "")


def console_href(incident_id: int) -> str:
    """The console opened on this incident (layouts/console_open.py reads the query)."""
    return f"/console?incident={int(incident_id)}"


def extended_due(due: datetime, now: datetime, hours: float) -> datetime:
    """A 督办 extended by `hours`: from its deadline, or from now when the deadline has already passed."""
    return max(due, now) + timedelta(hours=float(hours))


def by_unit(df: pd.DataFrame, unit: str | None) -> pd.DataFrame:
    """The records whose case a unit leads (None: all)."""
    if not unit or df.empty:
        return df
    return df[df["lead_unit"] == unit]


def unit_options(df: pd.DataFrame, cfg: Config) -> list[dict[str, str]]:
    """The lead units that appear in the ledger, by name."""
    codes = sorted({str(c) for c in df["lead_unit"].dropna()}) if not df.empty else []
    return sorted(({"value": c, "label": unit_name(cfg, c)} for c in codes), key=lambda o: o["label"])


def area_path(code: str | None) -> str:
    """Street · community (· grid): the district is the page's own."""
    if not code:
        return "—"
    codes = [c for c in (*ancestors(code), code) if level_of(c) != "district"]
    return " · ".join(area_name(c) for c in codes) or area_name(code)


def _when(value: Any) -> datetime | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value


def deadline_cell(row: dict, tz: str) -> Any:
    """A live countdown while the record is worked; once decided, what happened and when."""
    done, closed = _when(row["done_at"]), _when(row["closed_at"])
    if row["state"] == "met":
        return html.Span(f"{local_time(done, tz)} 办结", className="sv-done")
    if done is not None:
        return html.Span(f"{local_time(done, tz)} 办结（逾期）", className="sv-late")
    if closed is not None:
        return html.Span(f"{local_time(closed, tz)} 销号", className="dim")
    return countdown(epoch_ms(_when(row["due_at"])))


def ledger_rows(df: pd.DataFrame, cfg: Config, tz: str, picked: int | None) -> list:
    """One table row per record; the incident links to the console, 办理 picks the record for the panel."""
    rows = []
    for r in df.head(MAX_ROWS).to_dict("records"):
        sid, iid = int(r["supervision_id"]), int(r["incident_id"])
        cells = [
            html.Td(f"#{sid}", className="sv-id"),
            html.Td(html.A([html.Span(f"#{iid} ", className="dim"), display_title(r["title"])],
                           href=console_href(iid), className="sv-incident")),
            html.Td(area_path(r["area_code"])),
            html.Td(unit_name(cfg, text_or_empty(r["lead_unit"]) or None) or "未派单"),
            html.Td([html.Div(text_or_empty(r["issued_by_name"])),
                     html.Div(local_time(_when(r["issued_at"]), tz), className="dim")]),
            html.Td(local_time(_when(r["due_at"]), tz, "%m-%d %H:%M"), className="sv-num"),
            html.Td(deadline_cell(r, tz), className="sv-num"),
            html.Td(html.Span(STATE_NAMES[r["state"]], className=f"sv-state sv-state-{r['state']}")),
            html.Td(text_or_empty(r["note"]), className="sv-note"),
            html.Td(html.Button("办理", id={"type": ids.SUPERVISION_PICK, "id": sid}, n_clicks=0, className="btn")),
        ]
        cls = f"sv-row sv-row-{r['state']}" + (" picked" if sid == picked else "")
        rows.append(html.Tr(cells, className=cls, **{"data-supervision": str(sid)}))
    return rows


def ledger_table(df: pd.DataFrame, cfg: Config, tz: str, picked: int | None) -> Any:
    if df.empty:
        return html.Div("没有符合条件的督办记录", className="dim sv-empty")
    head = html.Thead(html.Tr([html.Th(h) for h in HEADERS]))
    return html.Table([head, html.Tbody(ledger_rows(df, cfg, tz, picked))], className="sv-table")


def count_text(df: pd.DataFrame) -> str:
    states = df["state"].value_counts().to_dict() if not df.empty else {}
    shown = f"（显示前 {MAX_ROWS} 条）" if len(df) > MAX_ROWS else ""
    parts = " · ".join(f"{STATE_NAMES[s]} {states[s]}" for s in STATE_NAMES if states.get(s))
    return f"共 {len(df)} 条{shown}" + (f"：{parts}" if parts else "")


def record_detail(row: dict, cfg: Config, tz: str) -> list:
    """The chosen record: its case (a link into the console), unit, who issued it, its deadline and requirement."""
    sid, iid = int(row["supervision_id"]), int(row["incident_id"])
    return [
        html.Div([html.Span(f"督办 #{sid}", className="detail-id"),
                  html.Span(STATE_NAMES[row["state"]], className=f"sv-state sv-state-{row['state']}")],
                 className="detail-title-row"),
        html.A(f"#{iid} {display_title(row['title'])}", href=console_href(iid), className="sv-detail-title"),
        html.Div([html.Span(f"区域：{area_path(row['area_code'])}"),
                  html.Span(f"责任单位：{unit_name(cfg, text_or_empty(row['lead_unit']) or None) or '未派单'}"),
                  html.Span(f"督办人：{text_or_empty(row['issued_by_name'])} {local_time(_when(row['issued_at']), tz)}"),
                  html.Span(["期限：", local_time(_when(row["due_at"]), tz, "%Y-%m-%d %H:%M"), " ",
                             deadline_cell(row, tz)])],
                 className="detail-meta"),
        html.Div(["督办要求：", text_or_empty(row["note"])], className="sv-requirement"),
    ]
