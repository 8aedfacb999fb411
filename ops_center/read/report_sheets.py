"""The weekly report as it goes upward: a title block, Chinese definitions, hours, rounded rates and totals.

ops_center.read.weekly_report builds the numbers (all from ops_center.read.kpis); this module only presents them, so
the xlsx and the csv show the same rounded values the page shows, and 环比 is the difference of those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd

from ops_center.core.config import Config
from ops_center.core.domains import LEVEL_NAMES
from ops_center.core.units import unit_name
from ops_center.read import kpis

COUNT_KEY = "created"  # 受理数: the count the week-over-week change compares
COUNT, RATE, HOURS = "件", "%", "小时"
RATE_DIGITS, HOUR_DIGITS = 3, 1  # 70.5 % and 5.8 小时: what every screen and file shows
FORMATS = {COUNT: "0", RATE: "0.0%", HOURS: "0.0"}
CHANGE_FORMATS = {COUNT: '+0;-0;0', RATE: '+0.0" 个百分点";-0.0" 个百分点";0.0" 个百分点"',
                  HOURS: '+0.0" 小时";-0.0" 小时";0.0" 小时"'}
DATE_FORMAT = "yyyy-mm-dd hh:mm"

# 口径: each KPI's official definition in Chinese (ops_center.read.kpis keeps the English one for developers).
DEFINITIONS = {
    "created": "统计周内创建的事件数（不含已合并、误报）",
    "false_alarms": "统计周内创建、现标记为误报的事件数",
    "acknowledged": "受理数中截至统计时点已响应（受理）的事件数",
    "resolved": "受理数中截至统计时点已办结（已处置或已结案）的事件数；核查不通过或重办后不计",
    "open": "受理数中截至统计时点尚未办结的事件数",
    "overdue": "受理数中办结时限已过而截至该时点未办结的事件数（仍在办或超时办结；挂账事件不计）",
    "hung": "受理数中截至统计时点已挂账（工程类、季节性等长期事项）的事件数，单独列示，不计入超期",
    "ack_due": "受理数中截至统计时点已响应或响应时限已过的事件数",
    "ack_on_time_rate": "在响应时限内响应的事件数 ÷ 应响应数",
    "resolved_rate": "办结数 ÷ 受理数",
    "resolved_on_time_rate": "在办结时限（含已批准延期）内办结的事件数 ÷ 办结数",
    "mean_ack_minutes": "已响应事件从创建到响应的平均时长，单位小时",
    "median_ack_minutes": "已响应事件从创建到响应时长的中位数，单位小时",
    "mean_resolve_minutes": "已办结事件从创建到办结的平均时长，单位小时",
    "median_resolve_minutes": "已办结事件从创建到办结时长的中位数，单位小时",
    "satisfaction_rate": "回访结果为满意的事件数 ÷ 有回访结果的事件数（12345回访）",
    "rework_rate": "核查不通过过的事件数 ÷ 进入核查的事件数",
    "repeat_rate": "被重复上报（含关联、合并）的事件数 ÷ 受理数",
}
BAND_NAMES = {"good": "优", "fair": "中", "poor": "差", "none": "—"}


def unit_of(kpi: kpis.Kpi) -> str:
    return {"rate": RATE, "minutes": HOURS}.get(kpi.unit, COUNT)


def column_name(kpi: kpis.Kpi) -> str:
    """A KPI's column heading with its unit where the number alone would not say it."""
    return f"{kpi.name}（小时）" if kpi.unit == "minutes" else kpi.name


def shown(value: float | None, kpi: kpis.Kpi) -> float | int | None:
    """The value as displayed: rates to 0.1 %, durations in hours to one decimal, counts whole."""
    if value is None or pd.isna(value):
        return None
    if kpi.unit == "rate":
        return round(float(value), RATE_DIGITS)
    if kpi.unit == "minutes":
        return round(float(value) / 60, HOUR_DIGITS)
    return int(value)


def change(this: float | None, last: float | None, kpi: kpis.Kpi) -> float | int | None:
    """环比 of the displayed values: rates in percentage points (70.5 % vs 70.3 % is +0.2), hours, counts."""
    a, b = shown(this, kpi), shown(last, kpi)
    if a is None or b is None:
        return None
    if kpi.unit == "rate":
        return round((a - b) * 100, 1)
    return round(a - b, HOUR_DIGITS) if kpi.unit == "minutes" else a - b


def breakdown_columns(level: str) -> tuple[str, str]:
    """The name and code columns of a breakdown level: 街道/街道编码, or 区/区编码 in a city's report."""
    name = LEVEL_NAMES[level]
    return name, name + "编码"


def breakdown_sheet_name(level: str) -> str:
    return f"{LEVEL_NAMES[level]}×领域"


@dataclass(frozen=True)
class Sheet:
    """One worksheet: its rows, the number format of some columns, and a per-row format for others."""

    name: str
    frame: pd.DataFrame
    formats: dict[str, str] = field(default_factory=dict)
    row_formats: dict[str, list[str]] = field(default_factory=dict)


def title_lines(report, cfg: Config, made_at: datetime, area_name: str) -> list[str]:
    """Unit, ISO week with its dates, when the table was made (site time) and what it counts."""
    tz = ZoneInfo(cfg.site.timezone)
    first = report.start.astimezone(tz).date()
    last = (report.end.astimezone(tz)).date()
    last = last.fromordinal(last.toordinal() - 1)
    return [
        f"{cfg.site.name} · {area_name} 城市运行周报",
        f"统计周：{report.week}（{first:%Y年%m月%d日} 至 {last:%Y年%m月%d日}，北京时间）；环比对比 {report.previous}",
        f"制表时间：{made_at.astimezone(tz):%Y-%m-%d %H:%M}（北京时间）",
        "口径：按事件创建时间归入统计周；已结束的周按周末时点评判，本周按制表时点评判；"
        "比率保留一位小数的百分比，时长单位为小时，环比为两周显示值之差（比率为百分点）。各指标定义见「概览」表口径列。",
    ]


def overview_sheet(report) -> Sheet:
    rows, formats, changes = [], [], []
    by_name = report.overview.set_index("指标")
    for key, kpi in kpis.KPIS.items():
        this, last = by_name.loc[kpi.name, "本周"], by_name.loc[kpi.name, "上周"]
        unit = unit_of(kpi)
        rows.append({"指标": kpi.name, "单位": unit, "本周": shown(this, kpi), "上周": shown(last, kpi),
                     "环比变化": change(this, last, kpi), "口径": DEFINITIONS.get(key, kpi.doc)})
        formats.append(FORMATS[unit])
        changes.append(CHANGE_FORMATS[unit])
    return Sheet("概览", pd.DataFrame(rows), row_formats={"本周": formats, "上周": formats, "环比变化": changes})


def street_domain_sheet(report, cfg: Config, district: str) -> Sheet:
    """Street × domain rows, each street's 小计 and the district's 合计, every total from the KPI module (a city's
    report: district × domain, each district's 小计 and the city's 合计)."""
    count = kpis.KPIS[COUNT_KEY]
    last_name = "上周" + count.name
    detail = report.street_domain
    name, code_column = breakdown_columns(report.breakdown)
    streets = report.by_street.set_index(report.breakdown)
    streets_last = report.by_street_previous.set_index(report.breakdown)
    overview = report.overview.set_index("指标")
    records: list[dict] = []

    def kpi_cells(source: dict) -> dict:
        return {column_name(k): shown(source.get(k.key), k) for k in kpis.KPIS.values()}

    for code, part in detail.groupby(code_column, sort=False):
        for r in part.to_dict("records"):
            raw = {k.key: r.get(k.name) for k in kpis.KPIS.values()}
            records.append({name: r[name], code_column: code, "领域": r["领域"], **kpi_cells(raw),
                            last_name: int(r[last_name]), "环比变化": int(r["环比变化"])})
        if code in streets.index:
            total = streets.loc[code].to_dict()
            before = int(streets_last.loc[code, count.key]) if code in streets_last.index else 0
            records.append({name: part[name].iloc[0], code_column: code, "领域": "小计", **kpi_cells(total),
                            last_name: before, "环比变化": int(total[count.key]) - before})
    whole = {k.key: overview.loc[k.name, "本周"] for k in kpis.KPIS.values()}
    before = int(overview.loc[count.name, "上周"] or 0)
    records.append({name: "合计", code_column: district, "领域": "全部领域", **kpi_cells(whole),
                    last_name: before, "环比变化": int(whole[count.key] or 0) - before})
    frame = pd.DataFrame(records)
    for k in kpis.KPIS.values():
        if k.unit == "count":
            frame[column_name(k)] = frame[column_name(k)].astype("Int64")
    formats = {column_name(k): FORMATS[unit_of(k)] for k in kpis.KPIS.values()}
    return Sheet(breakdown_sheet_name(report.breakdown), frame, formats={**formats, "环比变化": CHANGE_FORMATS[COUNT]})



def unit_sheet(report, cfg: Config) -> Sheet:
    """责任单位: each unit's numbers from kpis.unit_kpis, rounded as shown, ranked by 综合得分."""
    rows = []
    for r in report.units.to_dict("records"):
        cells = {column_name(k): shown(r.get(k.key), k) for k in kpis.UNIT_KPIS.values()}
        score = r.get("score")
        rows.append({"排名": int(r["rank"]), "责任单位": unit_name(cfg, r["unit"]), "单位编码": r["unit"], **cells,
                     "综合得分": None if score is None or pd.isna(score) else round(float(score), HOUR_DIGITS),
                     "等级": BAND_NAMES[r["band"]]})
    columns = ["排名", "责任单位", "单位编码", *(column_name(k) for k in kpis.UNIT_KPIS.values()), "综合得分", "等级"]
    frame = pd.DataFrame(rows, columns=columns)
    for k in kpis.UNIT_KPIS.values():
        if k.unit == "count":
            frame[column_name(k)] = frame[column_name(k)].astype("Int64")
    formats = {column_name(k): FORMATS[unit_of(k)] for k in kpis.UNIT_KPIS.values()}
    return Sheet("责任单位", frame, formats={**formats, "综合得分": "0.0"})
