"""系统管理 → 派单目录: the versions, a version's diff against the one before, and publishing an edited table.

A block of the admin page (layouts/admin.py adds `panel()` as a tab); publishing goes through
ops_center.service.catalogue, which checks the admin role, validates the table and writes the audit log.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dash_ag_grid as dag
import dash_mantine_components as dmc
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from layouts import ids
from layouts.common import gate, local_time
from ops_center.core.dispatch_catalogue import (
    ANY_LEVEL,
    AREA_LEVELS,
    Catalogue,
    Version,
    diff,
    entry_label,
    known_units,
    unit_name,
)
from ops_center.core.domains import DOMAIN_CODES, LEVEL_NAMES, LEVELS
from ops_center.service import catalogue as catalogue_service
from ops_center.service.incidents import ServiceError
from ops_center.web.context import get_context

COLUMNS = [("domain", "领域代码"), ("category", "类别代码（空=领域默认）"), ("area_level", "事发区域层级"),
           ("lead", "主办单位"), ("co_units", "协办单位（逗号分隔）"), ("level", "派遣层级")]
CHANGE_NAMES = {"added": "新增", "removed": "删除", "changed": "修改"}
TIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d")
HELP = ("一行 = 领域 + 类别（留空为该领域默认）+ 事发区域层级（* 为任意，或 grid/community/street/district）→ 主办单位、"
        "协办单位、派遣层级。最具体的一行生效：类别行优先于领域默认，指定层级优先于 *。单位：部门代码（如 urban_mgmt）、"
        "community:<社区编码>、street:<街道编码>，或 @community / @street（事发地的居委会 / 街道办）。"
        "每个事件按其创建时生效的版本派单；发布后旧版本保留，不能修改。")
GRID_THEME = ("themeQuartz.withParams({backgroundColor: '#111a2e', foregroundColor: '#e6edf7', "
              "headerBackgroundColor: '#17223a', accentColor: '#3e9bff', borderColor: '#24314f', "
              "fontFamily: 'inherit', fontSize: 13})")


def _table(columns: list[str], rows: list[list], empty: str = "暂无数据") -> dmc.Table:
    """Plain-text cells only: codes and notes typed by admins are never rendered as HTML."""
    body = [dmc.TableTr([dmc.TableTd(str(c)) for c in row]) for row in rows] or [
        dmc.TableTr(html.Td(empty, colSpan=len(columns)))]
    return dmc.Table([dmc.TableThead(dmc.TableTr([dmc.TableTh(c) for c in columns])), dmc.TableTbody(body)],
                     striped=True, withTableBorder=True, fz="sm")


def panel() -> dmc.Stack:
    return dmc.Stack([
        dmc.Text(HELP, size="sm", c="dimmed"),
        html.Div(id=ids.ADMIN_CAT_VERSIONS),
        dmc.Group([dmc.Select(id=ids.ADMIN_CAT_SELECT, label="查看版本与上一版本的差异", data=[], w=320)],
                  align="flex-end"),
        html.Div(id=ids.ADMIN_CAT_DIFF),
        dmc.Title("编辑（以最新版本为底稿）", order=5),
        html.Div(id=ids.ADMIN_CAT_UNITS),
        dag.AgGrid(
            id=ids.ADMIN_CAT_TABLE, rowData=[], className="catalogue-grid", style={"height": 420},
            columnDefs=[{"field": c, "headerName": n, "editable": True, "flex": 1} for c, n in COLUMNS],
            defaultColDef={"resizable": True, "sortable": False},
            dashGridOptions={"rowSelection": {"mode": "multiRow", "checkboxes": True, "headerCheckbox": False,
                                              "enableClickSelection": False},
                             "singleClickEdit": False, "stopEditingWhenCellsLoseFocus": True, "animateRows": False,
                             "localeText": {"noRowsToShow": "目录为空"}, "theme": {"function": GRID_THEME}},
        ),
        dmc.Group([
            dmc.Button("添加一行", id=ids.ADMIN_CAT_ADD_ROW, size="xs", variant="light"),
            dmc.Button("删除勾选的行", id=ids.ADMIN_CAT_DELETE_ROWS, size="xs", color="red", variant="light"),
            dmc.TextInput(id=ids.ADMIN_CAT_EFFECTIVE, label="生效时间（北京时间 YYYY-MM-DD HH:MM，空 = 立即）", w=300),
            dmc.TextInput(id=ids.ADMIN_CAT_NOTE, label="发布说明（必填）", w=320),
            dmc.Button("发布新版本", id=ids.ADMIN_CAT_PUBLISH, size="xs", color="green"),
        ], align="flex-end"),
        html.Div(id=ids.ADMIN_CAT_STATUS),
        dcc.Store(id=ids.ADMIN_CAT_PUBLISHED_VERSION),
    ], gap="sm", p="sm")


def version_state(cat: Catalogue, version: Version, now: datetime) -> str:
    in_force = cat.in_force(now)
    if in_force is not None and in_force.version == version.version:
        return "生效中"
    return "待生效" if version.effective_from > now else "已被取代"


def parse_effective(text: str | None, tz: str) -> datetime | None:
    """The editor's site-time text → an aware instant; blank is now (None). ValueError in Chinese otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=ZoneInfo(tz))
        except ValueError:
            continue
    raise ValueError(f"生效时间格式应为 YYYY-MM-DD HH:MM 或 YYYY-MM-DD，收到：{text}")


def diff_view(cat: Catalogue, number: int, units: dict[str, str]) -> dmc.Stack:
    version, before = cat.version(number), cat.previous(number)
    if version is None:
        return dmc.Stack([dmc.Text("该版本不存在", size="sm")])
    if before is None:
        return dmc.Stack([dmc.Text(f"第 {number} 版是随配置发布的初始目录，共 {len(version.entries)} 行。", size="sm")])

    def side(entry) -> str:
        if entry is None:
            return "—"
        co = "、".join(unit_name(units, c) for c in entry.co_units)
        return f"{unit_name(units, entry.lead)}" + (f"（协办：{co}）" if co else "") + f" · {LEVEL_NAMES[entry.level]}"

    rows = [[CHANGE_NAMES[c.kind], entry_label(c.key), side(c.before), side(c.after)]
            for c in diff(before.entries, version.entries)]
    return dmc.Stack([dmc.Text(f"第 {number} 版相对第 {before.version} 版：{len(rows)} 处变化", size="sm"),
                      _table(["变化", "条目", f"第 {before.version} 版", f"第 {number} 版"], rows, "没有变化")], gap=4)


def units_hint(units: dict[str, str]) -> dmc.Text:
    departments = "、".join(f"{code}（{name}）" for code, name in units.items() if ":" not in code)
    return dmc.Text(f"部门代码：{departments}；区域层级：{ANY_LEVEL}、{'、'.join(AREA_LEVELS)}；派遣层级："
                    f"{'、'.join(LEVELS)}；领域：{'、'.join(DOMAIN_CODES)}。", size="xs", c="dimmed")


def without(rows: list[dict], selected: list[dict]) -> list[dict]:
    """The draft minus the ticked rows (each ticked row removes one equal row)."""
    out, pending = [], list(selected)
    for row in rows:
        if row in pending:
            pending.remove(row)
        else:
            out.append(row)
    return out


def callbacks() -> None:
    """Register this block's callbacks; admin.py calls it as it executes, so every app gets them."""

    @callback(
        Output(ids.ADMIN_CAT_VERSIONS, "children"),
        Output(ids.ADMIN_CAT_SELECT, "data"),
        Output(ids.ADMIN_CAT_TABLE, "rowData"),
        Output(ids.ADMIN_CAT_UNITS, "children"),
        Input(ids.ADMIN_REFRESH, "n_clicks"),
        Input(ids.ADMIN_CAT_PUBLISHED_VERSION, "data"),
    )
    def versions(_refresh, _published):
        """The list, and the editor reset to the latest version (only on load and after a publish: a refused
        publish keeps the admin's edits)."""
        if gate("admin")[0] is None:
            return no_update, no_update, no_update, no_update
        app = get_context()
        tz, now = app.cfg.site.timezone, app.clock()
        cat = catalogue_service.load_catalogue(app.store, app.cfg)
        ordered = sorted(cat.versions, key=lambda v: -v.version)
        rows = [[f"第 {v.version} 版", "随配置" if v.version == 0 else local_time(v.effective_from, tz, "%Y-%m-%d %H:%M"),
                 v.published_by, local_time(v.published_at, tz, "%Y-%m-%d %H:%M") if v.published_at else "—",
                 len(v.entries), v.note, version_state(cat, v, now)] for v in ordered]
        table = _table(["版本", "生效时间", "发布人", "发布时间", "行数", "说明", "状态"], rows)
        options = [{"value": str(v.version), "label": f"第 {v.version} 版（{version_state(cat, v, now)}）"}
                   for v in ordered]
        units = known_units(app.cfg)
        return table, options, [e.as_row() for e in cat.latest().entries], units_hint(units)

    @callback(
        Output(ids.ADMIN_CAT_DIFF, "children"),
        Input(ids.ADMIN_CAT_SELECT, "value"),
        prevent_initial_call=True,
    )
    def show_diff(number):
        if gate("admin")[0] is None or not number:
            return no_update
        app = get_context()
        return diff_view(catalogue_service.load_catalogue(app.store, app.cfg), int(number), known_units(app.cfg))

    @callback(
        Output(ids.ADMIN_CAT_TABLE, "rowData", allow_duplicate=True),
        Input(ids.ADMIN_CAT_ADD_ROW, "n_clicks"),
        Input(ids.ADMIN_CAT_DELETE_ROWS, "n_clicks"),
        State(ids.ADMIN_CAT_TABLE, "rowData"),
        State(ids.ADMIN_CAT_TABLE, "selectedRows"),
        prevent_initial_call=True,
    )
    def edit_rows(_add, _delete, rows, selected):
        """Only the draft changes here; nothing is stored until 发布新版本."""
        if gate("admin")[0] is None:
            return no_update
        rows = list(rows or [])
        if ctx.triggered_id == ids.ADMIN_CAT_DELETE_ROWS:
            return without(rows, selected or [])
        return [*rows, {"domain": "", "category": "", "area_level": ANY_LEVEL, "lead": "", "co_units": "",
                        "level": "street"}]

    @callback(
        Output(ids.ADMIN_CAT_STATUS, "children"),
        Output(ids.ADMIN_CAT_PUBLISHED_VERSION, "data"),
        Input(ids.ADMIN_CAT_PUBLISH, "n_clicks"),
        State(ids.ADMIN_CAT_TABLE, "rowData"),
        State(ids.ADMIN_CAT_EFFECTIVE, "value"),
        State(ids.ADMIN_CAT_NOTE, "value"),
        prevent_initial_call=True,
    )
    def publish(_n, rows, effective, note):
        """Thin: the service checks the admin role, the rows and the date, and audits."""
        user = gate("admin")[0]
        if user is None:
            return dmc.Alert("仅管理员可以发布派单目录", color="red"), no_update
        app = get_context()
        try:
            when = parse_effective(effective, app.cfg.site.timezone)
            version = catalogue_service.publish(app.store, app.cfg, user.actor(), rows or [], when, note or "",
                                                now=app.clock())
        except ValueError as exc:
            return dmc.Alert(str(exc), color="red"), no_update
        except ServiceError as exc:
            return dmc.Alert(exc.user_message, color="red"), no_update
        when_text = local_time(version.effective_from, app.cfg.site.timezone, "%Y-%m-%d %H:%M")
        return dmc.Alert(f"已发布第 {version.version} 版，{when_text} 起生效（此前创建的事件仍按原版本派单）",
                         color="green"), version.version

