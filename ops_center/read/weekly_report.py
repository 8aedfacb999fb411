"""The weekly report (ISO week, site time zone): one builder for the page, the CLI and the Monday job.

Every number comes from `ops_center.read.kpis`; this module only picks the week, joins names and lays
out sheets, so the screen, `run.py report` and the scheduled file always agree for the same week.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from ops_center.core import area_codes, area_tree
from ops_center.core.area_codes import district_of
from ops_center.core.category_names import category_name
from ops_center.core.config import Config
from ops_center.core.domains import DOMAIN_NAMES, LEVEL_NAMES, SEVERITY_NAMES, SOURCE_NAMES, STATUS_NAMES
from ops_center.core.ports import StoreReads
from ops_center.read import kpis, report_sheets, work_queue
from ops_center.read.xlsx_rows import fill_sheets
from ops_center.service.bus import ReportWritten
from ops_center.store.store import to_db

log = logging.getLogger(__name__)

WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
SHEETS = ("概览", "街道×领域", "责任单位", "督办", "超期明细", "事件明细")
COUNT_KEY = report_sheets.COUNT_KEY
# A fixed timestamp in the workbook's metadata, so the same week gives the same file.
_XLSX_STAMP = datetime(2026, 1, 1)  # noqa: DTZ001 - xlsx document properties are naive


# --- ISO weeks in the site's time zone ---------------------------------------------------


def parse_week(week: str) -> tuple[int, int]:
    """'2026-W47' -> (2026, 47); a week that does not exist is an error, not a guess."""
    m = WEEK.match((week or "").strip())
    if not m:
        raise ValueError(f"expected an ISO week like 2026-W47, got {week!r}")
    year, num = int(m.group(1)), int(m.group(2))
    try:
        date.fromisocalendar(year, num, 1)
    except ValueError:
        raise ValueError(f"{week}: year {year} has no ISO week {num}") from None
    return year, num


def week_bounds(week: str, tz: str) -> tuple[datetime, datetime]:
    """[Monday 00:00, next Monday 00:00) of the ISO week in `tz`, as aware UTC datetimes."""
    year, num = parse_week(week)
    monday = date.fromisocalendar(year, num, 1)
    zone = ZoneInfo(tz)
    start = datetime.combine(monday, time(0), zone)
    end = datetime.combine(monday + timedelta(days=7), time(0), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def week_of(moment: datetime, tz: str) -> str:
    """The ISO week a moment falls in, seen from `tz`."""
    year, num, _ = moment.astimezone(ZoneInfo(tz)).isocalendar()
    return f"{year}-W{num:02d}"


def shift_week(week: str, weeks: int) -> str:
    year, num = parse_week(week)
    monday = date.fromisocalendar(year, num, 1) + timedelta(weeks=weeks)
    y, n, _ = monday.isocalendar()
    return f"{y}-W{n:02d}"


def previous_week(now: datetime, tz: str) -> str:
    """The last complete ISO week before `now` (what the Monday job reports)."""
    return shift_week(week_of(now, tz), -1)


def recent_weeks(now: datetime, tz: str, count: int = 26) -> list[str]:
    """The current (partial) week first, then `count - 1` complete weeks, newest first."""
    current = week_of(now, tz)
    return [shift_week(current, -i) for i in range(count)]


def week_label(week: str, tz: str) -> str:
    """'2026-W47（11-16 至 11-22）' for pickers and titles."""
    start, end = week_bounds(week, tz)
    zone = ZoneInfo(tz)
    first = start.astimezone(zone).date()
    last = (end.astimezone(zone) - timedelta(days=1)).date()
    return f"{week}（{first:%m-%d} 至 {last:%m-%d}）"


# --- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WeeklyReport:
    """Everything one week's report shows; the DataFrames are the sheets, in order."""

    week: str
    previous: str
    start: datetime
    end: datetime
    overview: pd.DataFrame  # 指标 | 本周 | 上周 | 环比
    street_domain: pd.DataFrame  # kpi_table(('street','domain')) with names and last week's counts
    overdue: pd.DataFrame  # the incidents behind 超期数 (same definition, same population)
    incidents: pd.DataFrame  # every incident created in the week
    by_street: pd.DataFrame  # raw kpi_table('street') (KPI keys as columns), for the page's charts
    by_street_previous: pd.DataFrame
    area: str = ""  # the area the report covers (district code by default, the city's at a city center)
    units: pd.DataFrame = field(default_factory=pd.DataFrame)  # kpis.unit_kpis of the week (责任单位)
    supervisions: pd.DataFrame = field(default_factory=pd.DataFrame)  # 督办 records issued in the week
    # The area level of the breakdown rows: streets, or districts in a city's report (then street_domain is
    # 区×领域 and by_street / by_street_previous hold one row per district, keyed by column "district").
    breakdown: str = "street"

    def sheets(self) -> dict[str, pd.DataFrame]:
        names = (SHEETS[0], report_sheets.breakdown_sheet_name(self.breakdown), *SHEETS[2:])
        return dict(zip(names, (self.overview, self.street_domain, self.units, self.supervisions, self.overdue,
                                self.incidents), strict=True))


def _detail_sql(area: bool) -> str:
    """Detail rows of the same population as the KPIs (all stored incidents without `area`); 超期 uses the KPI
    module's own definition."""
    where = "AND starts_with(area_code, $area)" if area else ""
    return f"""
SELECT incident_id, title, domain, category, severity, status, area_code, district_code, street_code, level,
       department, source, report_count, created_at, acknowledged_at, resolved_at, closed_at, ack_due_at,
       resolve_due_at, escalations, coalesce({kpis.FLAGS["overdue"]}, false) AS kpi_overdue,
       coalesce(({kpis.FLAGS["ack_due"]}) AND NOT coalesce({kpis.FLAGS["ack_on_time"]}, false), false) AS ack_late
FROM incidents_all
WHERE created_at >= $start AND created_at < $end AND status <> 'merged' {where}
ORDER BY created_at, incident_id
"""  # noqa: S608 - the fragments are constants of ops_center.read.kpis; values arrive as parameters


def _area_name(cfg: Config, code: Any) -> str:
    if code is None or (isinstance(code, float) and pd.isna(code)):
        return ""
    area = cfg.area_by_code.get(str(code))
    return area.name if area else str(code)


def _local(series: pd.Series, tz: str) -> pd.Series:
    """Naive-UTC timestamps -> naive local date-times to the minute: xlsx holds real dates, not time zones."""
    ts = pd.to_datetime(series).dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None).dt.floor("min")
    return ts.astype("datetime64[us]").set_axis(series.index)


def _per_value(series: pd.Series, fn: Any) -> pd.Series:
    """series.map(fn) with fn called once per distinct value: the detail columns repeat a few codes 70 k times."""
    codes, uniques = pd.factorize(series, use_na_sentinel=False)
    return pd.Series(uniques).map(fn).take(codes).set_axis(series.index)


def _query_frame(store: Any, sql: str, params: dict) -> pd.DataFrame:
    """query_df's frame fetched through Arrow: the same columns and dtypes, without a Python object per string."""
    cur = store.cursor()
    try:
        return cur.sql(sql, params=params).to_arrow_table().to_pandas()
    finally:
        cur.close()


def _details(store: Any, cfg: Config, start: datetime, end: datetime, as_of: datetime | None,
             area: str | None) -> pd.DataFrame:
    params: dict[str, Any] = {"start": to_db(start), "end": to_db(end), "as_of": to_db(as_of or end)}
    if area is not None:
        params["area"] = area
    df = _query_frame(store, _detail_sql(area is not None), params)
    tz = cfg.site.timezone
    departments = {d.code: d.name for d in cfg.departments}
    out = pd.DataFrame(
        {
            "事件编号": df["incident_id"].astype("int64"),
            "标题": df["title"],
            "领域": _per_value(df["domain"], lambda d: DOMAIN_NAMES.get(d, d)),
            "类别": _per_value(df["category"], category_name),
            "等级": _per_value(df["severity"], lambda s: f"{s} {SEVERITY_NAMES.get(s, '')}".strip()),
            "状态": _per_value(df["status"], lambda s: STATUS_NAMES.get(s, s)),
            **({"区": _per_value(df["district_code"], lambda c: _area_name(cfg, c))} if area is None else {}),
            "街道": _per_value(df["street_code"], lambda c: _area_name(cfg, c)),
            "区域": _per_value(df["area_code"], lambda c: _area_name(cfg, c)),
            "区域编码": df["area_code"],
            "责任层级": _per_value(df["level"], lambda v: LEVEL_NAMES.get(v, v) if isinstance(v, str) else ""),
            "责任部门": _per_value(df["department"], lambda v: departments.get(v, v) if isinstance(v, str) else ""),
            "来源": _per_value(df["source"], lambda v: SOURCE_NAMES.get(v, v) if isinstance(v, str) else ""),
            "上报次数": df["report_count"].astype("int64"),
            "创建时间": _local(df["created_at"], tz),
            "受理时间": _local(df["acknowledged_at"], tz),
            "处置时间": _local(df["resolved_at"], tz),
            "结案时间": _local(df["closed_at"], tz),
            "受理时限": _local(df["ack_due_at"], tz),
            "办结时限": _local(df["resolve_due_at"], tz),
            "受理超时": df["ack_late"].astype(bool).map({True: "是", False: "否"}),
            "超期": df["kpi_overdue"].astype(bool).map({True: "是", False: "否"}),
            "升级次数": df["escalations"].fillna(0).astype("int64"),
        }
    )
    return out


def _supervisions(df: pd.DataFrame, cfg: Config, city: bool = False) -> pd.DataFrame:
    """督办 records as the report lists them: local times, the street's (and in a city's report the district's)
    name, 已办结 / 逾期 / 在办."""
    tz = cfg.site.timezone

    def local(col: str) -> pd.Series:
        return _local(df[col].dt.tz_localize(None), tz) if len(df) else pd.Series(dtype="datetime64[us]")

    state = ["逾期" if late else "已办结" if pd.notna(closed) else "在办"
             for late, closed in zip(df["late"], df["closed_at"], strict=True)]
    return pd.DataFrame({
        "督办编号": df["supervision_id"].astype("int64"), "事件编号": df["incident_id"].astype("int64"),
        "标题": df["title"],
        **({"区": [_area_name(cfg, area_codes.prefix(c, "district")) for c in df["area_code"]]} if city else {}),
        "街道": [_area_name(cfg, c) for c in df["street_code"]], "督办人": df["issued_by"],
        "督办时间": local("issued_at"), "督办期限": local("due_at"), "督办要求": df["note"],
        "办结时间": local("closed_at"), "状态": pd.Series(state, dtype="object"),
    })


UNIT_NAMES = {"count": "件", "rate": "比率", "minutes": "分钟"}


def kpi_columns() -> dict[str, str]:
    """KPI key -> Chinese column name, in the KPI module's order."""
    return {k.key: k.name for k in kpis.KPIS.values()}


def _named(cfg: Config, table: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    """Readable names for the group codes in front, KPI columns renamed to their Chinese names."""
    front: dict[str, pd.Series] = {}
    for key in keys:
        if key == "domain":
            front["领域"] = table[key].map(lambda d: DOMAIN_NAMES.get(d, d))
        else:
            name, code = report_sheets.breakdown_columns(key)
            front[name] = table[key].map(lambda c: _area_name(cfg, c))
            front[code] = table[key]
    body = table[[k for k in kpi_columns() if k in table.columns]].rename(columns=kpi_columns())
    return pd.concat([pd.DataFrame(front, index=table.index), body], axis=1).reset_index(drop=True)


def _change(this: float | None, last: float | None) -> float | None:
    if this is None or last is None or pd.isna(this) or pd.isna(last):
        return None
    return float(this) - float(last)


def report_area(cfg: Config, area: str | None) -> str:
    """The area a report covers: the one asked for, else the whole city at a city center, else the site's district."""
    if area is None:
        return cfg.site.city.code if area_tree.is_city_center(cfg) else district_of(cfg.site.default_area)
    if not area_tree.known(cfg, area):
        raise ValueError(f"no configured area {area!r} to report on")
    return area


def report_areas(cfg: Config, scope: str | None) -> list[str]:
    """What a reader may have a report of, their default first: at a city center a city-wide reader has the city
    and each district it hears, anyone else their own area (None: the center's whole area)."""
    if scope is None and area_tree.is_city_center(cfg) and cfg.federation is not None:
        return [cfg.site.city.code, *(d.code for d in cfg.federation.districts)]
    return [report_area(cfg, scope)]


def build_weekly_report(store: StoreReads, cfg: Config, week: str, *, now: datetime | None = None,
                        area: str | None = None) -> WeeklyReport:
    """Build one week's report; the same store contents always give the same numbers.

    A complete week is judged as of its end (the KPI module's default); the current, unfinished
    week is judged as of `now` so deadlines that have not come yet do not count. A city center's own report
    (no area) covers every stored incident, district by district.
    """
    tz = cfg.site.timezone
    start, end = week_bounds(week, tz)
    previous = shift_week(week, -1)
    p_start, p_end = week_bounds(previous, tz)
    as_of = now if now is not None and now < end else None
    covered = report_area(cfg, area)  # a leader's or a unit's own area, else the whole district (or city)
    parent = area_tree.kpi_area(cfg, covered)  # None: the city, every stored incident
    breakdown = "district" if parent is None else "street"

    this_sum = kpis.kpi_summary(store, start, end, area=parent, as_of=as_of)
    last_sum = kpis.kpi_summary(store, p_start, p_end, area=parent)
    overview = pd.DataFrame(
        [
            {"指标": k.name, "单位": UNIT_NAMES.get(k.unit, k.unit), "本周": this_sum.get(k.key),
             "上周": last_sum.get(k.key), "环比变化": _change(this_sum.get(k.key), last_sum.get(k.key)),
             "口径": k.doc}
            for k in kpis.KPIS.values()
        ]
    )

    keys = (breakdown, "domain")
    cur = kpis.kpi_table(store, start, end, group_by=keys, parent=parent, as_of=as_of)
    cur = cur[cur[breakdown].notna()].reset_index(drop=True)
    prev = kpis.kpi_table(store, p_start, p_end, group_by=keys, parent=parent)
    last_counts = prev.dropna(subset=[breakdown]).set_index(list(keys))[COUNT_KEY]
    street_domain = _named(cfg, cur, keys)
    count_name = kpis.KPIS[COUNT_KEY].name
    last = [int(last_counts.get((s, d), 0)) for s, d in zip(cur[breakdown], cur["domain"], strict=True)]
    street_domain["上周" + count_name] = pd.Series(last, dtype="int64")
    street_domain["环比变化"] = street_domain[count_name] - street_domain["上周" + count_name]

    def parts(a: datetime, b: datetime, at: datetime | None) -> pd.DataFrame:
        t = kpis.kpi_table(store, a, b, group_by=breakdown, parent=parent, as_of=at)
        return t[t[breakdown].notna()].reset_index(drop=True)

    incidents = _details(store, cfg, start, end, as_of, parent)
    overdue = incidents[incidents["超期"] == "是"].reset_index(drop=True)
    units = kpis.unit_kpis(store, start, end, area=parent, as_of=as_of)
    issued = work_queue.supervisions_issued(store, start, end, parent, as_of)
    supervisions = _supervisions(issued, cfg, city=parent is None)
    return WeeklyReport(week, previous, start, end, overview, street_domain, overdue, incidents,
                        parts(start, end, as_of), parts(p_start, p_end, None), covered, units, supervisions, breakdown)


# --- files --------------------------------------------------------------------------------


DETAIL_SHEETS = ("超期明细", "事件明细")


TITLE_ROWS = 5  # title block lines and a blank row above each sheet's header


def report_sheets_of(report: WeeklyReport, cfg: Config) -> list[report_sheets.Sheet]:
    """The sheets as they are written: overview, street × domain rounded with totals, the responsible units'
    numbers and ranking, then the details."""
    return [report_sheets.overview_sheet(report), report_sheets.street_domain_sheet(report, cfg, report.area),
            report_sheets.unit_sheet(report, cfg), report_sheets.Sheet("督办", report.supervisions),
            report_sheets.Sheet("超期明细", report.overdue), report_sheets.Sheet("事件明细", report.incidents)]


def xlsx_bytes(report: WeeklyReport, cfg: Config, made_at: datetime | None = None) -> bytes:
    """The report as an xlsx workbook: a title block on every sheet, rounded numbers with formats, real dates.

    XlsxWriter writes the small sheets with their formats; the two detail sheets (tens of thousands of
    rows in a district week) get their rows column-wise from ops_center.read.xlsx_rows, because any
    cell-by-cell writer takes seconds there (openpyxl 15 s, XlsxWriter 7 s for 72 k rows).
    """
    import xlsxwriter

    made_at = made_at or datetime.now(UTC)
    lines = report_sheets.title_lines(report, cfg, made_at, area_tree.name(cfg, report.area))
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
                                   "strings_to_urls": False})
    bold = wb.add_format({"bold": True, "bg_color": "#DDE6F3", "border": 1, "text_wrap": True})
    title = wb.add_format({"bold": True, "font_size": 14})
    note = wb.add_format({"font_color": "#333333"})
    date_cell = wb.add_format({"num_format": report_sheets.DATE_FORMAT})
    formats: dict[str, Any] = {}

    def fmt(code: str) -> Any:
        if code not in formats:
            formats[code] = wb.add_format({"num_format": code})
        return formats[code]

    detail: dict[int, pd.DataFrame] = {}
    for index, sheet in enumerate(report_sheets_of(report, cfg)):
        ws, df = wb.add_worksheet(sheet.name), sheet.frame
        ws.write(0, 0, lines[0], title)
        for r, line in enumerate(lines[1:], start=1):
            ws.write(r, 0, line, note)
        header = TITLE_ROWS
        ws.write_row(header, 0, [str(c) for c in df.columns], bold)
        if sheet.name in DETAIL_SHEETS:
            detail[index] = df
            values = []
        else:
            values = df.astype(object).where(df.notna(), None).to_numpy().tolist()
        for r, row in enumerate(values, start=header + 1):
            for c, (column, value) in enumerate(zip(df.columns, row, strict=True)):
                code = (sheet.row_formats[column][r - header - 1] if column in sheet.row_formats
                        else sheet.formats.get(column))
                ws.write(r, c, _cell(value), fmt(code) if code else None)
        ws.freeze_panes(header + 1, 0)
        for i, column in enumerate(df.columns):
            width = max([len(str(column))] + [len(str(v)) for v in df.iloc[:200, i]])
            is_date = pd.api.types.is_datetime64_any_dtype(df[column])
            ws.set_column(i, i, 18 if is_date else min(48, 4 + width * 1.6), date_cell if is_date else None)
    date_style = date_cell._get_xf_index()  # the style index the detail sheets' date cells refer to
    wb.set_properties({"title": f"{cfg.site.name} 周报 {week_label(report.week, cfg.site.timezone)}",
                       "author": "ops-center", "created": _XLSX_STAMP})
    wb.close()
    dates = {c: date_style for df in detail.values() for c in df.columns
             if pd.api.types.is_datetime64_any_dtype(df[c])}
    return fill_sheets(buf.getvalue(), detail, first_row=TITLE_ROWS + 2, styles=dates)


def _cell(value: Any) -> Any:
    """Plain Python values for the xlsx writer; NaN/None as empty cells, timestamps as naive local time."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.tz_localize(None).to_pydatetime() if value.tzinfo else value.to_pydatetime()
    if hasattr(value, "item"):
        return value.item()
    return value


def csv_text(report: WeeklyReport, cfg: Config) -> str:
    """The street (city: district) × domain sheet with its totals, rounded as shown (UTF-8 with BOM for spreadsheet programs)."""
    sheet = report_sheets.street_domain_sheet(report, cfg, report.area)
    return "\ufeff" + sheet.frame.to_csv(index=False, lineterminator="\n")


def write_weekly_report(store: StoreReads, cfg: Config, week: str, out_path: str | Path, *,
                        area: str | None = None, made_at: datetime | None = None) -> Path:
    """Write the week's report to `out_path`: .csv gives the street × domain table, anything else xlsx."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = build_weekly_report(store, cfg, week, area=area)
    if out.suffix.lower() == ".csv":
        out.write_text(csv_text(report, cfg), encoding="utf-8")
    else:
        out.write_bytes(xlsx_bytes(report, cfg, made_at))
    log.info("weekly report %s written to %s (%d incidents)", week, out, len(report.incidents))
    return out


def weekly_report_job(ctx: Any) -> Path:
    """APScheduler job (Monday 08:00): last week's report into the configured reports folder."""
    cfg = ctx.cfg
    now = ctx.clock()
    week = previous_week(now, cfg.site.timezone)
    return write_weekly_report(ctx.store, cfg, week, cfg.path_of(cfg.reports.folder) / f"weekly-{week}.xlsx", made_at=now)


def subscription_reports_job(ctx: Any) -> list[Path]:
    """APScheduler job (with the weekly one): each subscribed area's report of last week, announced on the bus."""
    cfg, now = ctx.cfg, ctx.clock()
    week = previous_week(now, cfg.site.timezone)
    folder = cfg.path_of(cfg.reports.folder) / "subscriptions"
    written = []
    for sub in cfg.reports.subscriptions:
        try:
            path = write_weekly_report(ctx.store, cfg, week, folder / f"weekly-{week}-{sub.id}.{sub.format}",
                                       area=sub.area, made_at=now)
        except Exception:  # noqa: BLE001 - one failing subscription must not stop the others
            log.exception("weekly report for subscription %s failed", sub.id)
            continue
        written.append(path)
        if sub.publish:
            summary = kpis.kpi_summary(ctx.store, *week_bounds(week, cfg.site.timezone), area=sub.area)
            ctx.bus.publish([ReportWritten(now, sub.id, sub.name, sub.area, week, str(path),
                                           int(summary.get(COUNT_KEY) or 0))])
    return written
