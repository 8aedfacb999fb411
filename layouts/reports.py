"""统计报表 /reports: one ISO week (Asia/Shanghai) per street × domain (a city: per district), week-over-week, xlsx/csv."""

from __future__ import annotations

import dash
import dash_mantine_components as dmc
import plotly.graph_objects as go
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from layouts import ids
from layouts.common import current_user, gate, kpi_text, shell
from ops_center.core import area_tree
from ops_center.core.domains import DOMAIN_CODES, DOMAIN_NAMES, LEVEL_NAMES, UNCLASSIFIED
from ops_center.read import kpis, queries, report_sheets
from ops_center.read import weekly_report as wr
from ops_center.web.context import get_context

dash.register_page(__name__, path="/reports", title="统计报表", name="统计报表")

OVERVIEW_KEYS = ("created", "resolved", "overdue", "ack_on_time_rate", "resolved_rate", "resolved_on_time_rate",
                 "median_ack_minutes", "satisfaction_rate", "rework_rate")
TABLE_KEYS = ("created", "上周", "环比变化", "overdue", "ack_on_time_rate", "resolved_rate", "resolved_on_time_rate",
              "satisfaction_rate", "rework_rate")
DARK = {"paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)", "font": {"color": "#e6edf7"}}


def fmt(value: object, unit: str) -> str:
    """As the xlsx shows it: durations in hours to one decimal."""
    return kpi_text(value, unit)


def fmt_change(this: object, last: object, kpi: kpis.Kpi) -> str:
    """Week-over-week of the displayed values (the xlsx's definition): counts ±n, rates in percentage points."""
    value = report_sheets.change(this, last, kpi)
    if value is None:
        return "—"
    if kpi.unit == "rate":
        return f"{value:+.1f} 个百分点"
    if kpi.unit == "minutes":
        return f"{value:+.1f} 小时"
    return f"{int(value):+d}"


def overview_cards(report: wr.WeeklyReport) -> list:
    rows = report.overview.set_index("指标")
    cards = []
    for key in OVERVIEW_KEYS:
        kpi = kpis.KPIS[key]
        row = rows.loc[kpi.name]
        cards.append(dmc.Paper(
            [dmc.Text(kpi.name, size="xs", c="dimmed"), dmc.Text(fmt(row["本周"], kpi.unit), size="xl", fw=700),
             dmc.Text(f"上周 {fmt(row['上周'], kpi.unit)} · 环比 {fmt_change(row['本周'], row['上周'], kpi)}", size="xs",
                      c="dimmed")],
            p="xs", withBorder=True, style={"minWidth": 150}, className="reports-card",
        ))
    return cards


def street_table(report: wr.WeeklyReport) -> dmc.Table:
    """Street (city: district) × domain rows with each one's 小计 and the 合计, rounded as the xlsx has them."""
    df = report_sheets.street_domain_sheet(report, get_context().cfg, report.area).frame
    count_name = kpis.KPIS[wr.COUNT_KEY].name
    part = LEVEL_NAMES[report.breakdown]
    headers = [part, "领域"] + [
        {"上周": "上周" + count_name, "环比变化": "环比变化"}.get(k) or kpis.KPIS[k].name for k in TABLE_KEYS]
    body = []
    for row in df.to_dict("records"):
        cells = [row[part], row["领域"]]
        for k in TABLE_KEYS:
            if k == "上周":
                cells.append(str(row["上周" + count_name]))
            elif k == "环比变化":
                cells.append(f"{int(row['环比变化']):+d}")
            else:
                cells.append(fmt(row[kpis.KPIS[k].name], kpis.KPIS[k].unit))
        total = row["领域"] in ("小计", "全部领域")
        body.append(dmc.TableTr([dmc.TableTd(c) for c in cells], className="reports-total" if total else None,
                                style={"fontWeight": 700} if total else None))
    if not body:
        body = [dmc.TableTr(html.Td("本周无事件", colSpan=len(headers)))]
    return dmc.ScrollArea(
        dmc.Table([dmc.TableThead(dmc.TableTr([dmc.TableTh(h) for h in headers])), dmc.TableTbody(body)],
                  striped=True, highlightOnHover=True, withTableBorder=True, fz="sm", stickyHeader=True),
        h=460,
    )


def street_chart(report: wr.WeeklyReport) -> go.Figure:
    """Stacked counts per street (city: district) by domain (config colours)."""
    cfg = get_context().cfg
    df = report.street_domain
    count_name = kpis.KPIS[wr.COUNT_KEY].name
    level = LEVEL_NAMES[report.breakdown]
    streets = list(dict.fromkeys(df[level]))
    fig = go.Figure()
    for code in (*DOMAIN_CODES, UNCLASSIFIED):
        part = df[df["领域"] == DOMAIN_NAMES[code]].set_index(level).reindex(streets)
        if part[count_name].fillna(0).sum() == 0:
            continue
        colour = cfg.domain_by_code[code].color if code in cfg.domain_by_code else "#8b8d98"
        fig.add_bar(x=streets, y=part[count_name].fillna(0), name=DOMAIN_NAMES[code], marker_color=colour)
    fig.update_layout(barmode="stack", title={"text": f"各{level}受理数（按领域）", "font": {"size": 14}},
                      margin=dict(l=8, r=8, t=36, b=8), legend={"orientation": "h", "y": -0.42}, height=380,
                      yaxis={"gridcolor": "#24314f"}, **DARK)
    return fig


def rate_chart(report: wr.WeeklyReport) -> go.Figure:
    """按期办结率 per street (city: district), this week against last week."""
    cfg = get_context().cfg
    key = "resolved_on_time_rate"
    this = report.by_street.set_index(report.breakdown)[key]
    last = report.by_street_previous.set_index(report.breakdown)[key]
    codes = list(this.index)
    names = [area_tree.name(cfg, c) for c in codes]
    fig = go.Figure([
        go.Bar(x=names, y=last.reindex(codes), name="上周", marker_color="#4f6b9a"),
        go.Bar(x=names, y=this.reindex(codes), name="本周", marker_color="#3dd68c"),
    ])
    fig.update_layout(barmode="group", title={"text": f"各{LEVEL_NAMES[report.breakdown]}{kpis.KPIS[key].name}（本周/上周）", "font": {"size": 14}},
                      yaxis={"tickformat": ".0%", "range": [0, 1.05], "gridcolor": "#24314f"},
                      margin=dict(l=8, r=8, t=36, b=8), legend={"orientation": "h", "y": -0.42}, height=380, **DARK)
    return fig


def layout(week: str | None = None, **_: object):
    user, stub = gate("reports")
    if stub is not None:
        return stub
    app = get_context()
    tz = app.cfg.site.timezone
    weeks = wr.recent_weeks(app.clock(), tz, 26)
    choice = week if week in weeks else weeks[1]  # default: the last complete week
    options = [{"value": w, "label": wr.week_label(w, tz) + ("（本周，未结束）" if i == 0 else "")}
               for i, w in enumerate(weeks)]
    areas = _areas(user)
    controls = dmc.Group(
        [
            dmc.Select(id=ids.REPORTS_AREA, data=[{"value": c, "label": area_tree.name(app.cfg, c)} for c in areas],
                       value=areas[0] if areas else None, allowDeselect=False, w=200, label="统计范围",
                       style=None if len(areas) > 1 else {"display": "none"}),
            dmc.Select(id=ids.REPORTS_WEEK, data=options, value=choice, allowDeselect=False, w=320, label="统计周（ISO 周）"),
            dmc.Button("下载 Excel", id=ids.REPORTS_XLSX_BUTTON, variant="filled"),
            dmc.Button("下载 CSV", id=ids.REPORTS_CSV_BUTTON, variant="outline"),
            dcc.Download(id=ids.REPORTS_DOWNLOAD),
        ],
        align="flex-end",
    )
    return shell(
        "reports", user,
        html.H3(id=ids.REPORTS_TITLE, style={"margin": "4px 0 8px"}),
        controls,
        html.Div(id=ids.REPORTS_OVERVIEW, style={"display": "flex", "gap": 8, "flexWrap": "wrap", "margin": "12px 0"}),
        dmc.Grid([
            dmc.GridCol(dcc.Graph(id=ids.REPORTS_STREET_CHART, config={"displayModeBar": False}), span=6),
            dmc.GridCol(dcc.Graph(id=ids.REPORTS_DOMAIN_CHART, config={"displayModeBar": False}), span=6),
        ]),
        html.Div(id=ids.REPORTS_TABLE),
    )


def _areas(user) -> list[str]:
    """The areas this user may pick (their default first); none for a user who may read nothing."""
    cfg = get_context().cfg
    scope = queries.read_scope(cfg, user)
    return [] if scope == queries.NO_AREA else wr.report_areas(cfg, scope)


def _report(week: str, area: str | None) -> wr.WeeklyReport | None:
    """The week's report for an area the signed-in user may read: the one picked (a city-wide reader at a city
    center: the city or a district), else their own (an officer's street, a leader's district)."""
    app = get_context()
    try:
        wr.parse_week(week)
    except ValueError:
        return None
    allowed = _areas(current_user())
    if not allowed:
        return None
    chosen = area if area in allowed else allowed[0]  # the server decides: a posted area outside the list is ignored
    return wr.build_weekly_report(app.store, app.cfg, week, now=app.clock(), area=chosen)


@callback(
    Output(ids.REPORTS_TITLE, "children"),
    Output(ids.REPORTS_OVERVIEW, "children"),
    Output(ids.REPORTS_TABLE, "children"),
    Output(ids.REPORTS_STREET_CHART, "figure"),
    Output(ids.REPORTS_DOMAIN_CHART, "figure"),
    Input(ids.REPORTS_WEEK, "value"),
    Input(ids.REPORTS_AREA, "value"),
)
def render(week, area):
    report = _report(week or "", area)
    if report is None:
        return (no_update,) * 5
    cfg = get_context().cfg
    title = (f"{cfg.site.name} · {area_tree.name(cfg, report.area)} 周报 · {wr.week_label(report.week, cfg.site.timezone)}"
             f" · 对比 {report.previous}")
    return title, overview_cards(report), street_table(report), street_chart(report), rate_chart(report)


@callback(
    Output(ids.REPORTS_DOWNLOAD, "data"),
    Input(ids.REPORTS_XLSX_BUTTON, "n_clicks"),
    Input(ids.REPORTS_CSV_BUTTON, "n_clicks"),
    State(ids.REPORTS_WEEK, "value"),
    State(ids.REPORTS_AREA, "value"),
    prevent_initial_call=True,
)
def download(_xlsx, _csv, week, area):
    report = _report(week or "", area)
    if report is None:
        return no_update
    cfg = get_context().cfg
    if ctx.triggered_id == ids.REPORTS_CSV_BUTTON:
        return dict(content=wr.csv_text(report, cfg), filename=f"weekly-{report.week}-{report.area}.csv",
                    type="text/csv")
    return dcc.send_bytes(wr.xlsx_bytes(report, cfg, get_context().clock()), f"weekly-{report.week}-{report.area}.xlsx")
