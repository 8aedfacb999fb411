"""The official KPIs, defined once as SQL: the wall, drill-down and weekly report all call this module.

Population (every KPI): incidents *created* in [start, end), judged by their timestamps as of
`as_of` (default: `end`; live screens pass their `now`), so a past week gives the same numbers
every time it is asked. Excluded, as in 12345 practice:
- `merged` incidents everywhere: a merged duplicate is one report of its target (folded into the
  target's report_count), counting it would count one event twice;
- `false_alarm` incidents (误报, 无效工单) from every count and rate; they are counted only in
  `false_alarms`.
Rates are fractions 0..1, NULL (NaN in the DataFrame) when their denominator is 0. Durations are
minutes. One aggregate query per call: one scan of the time range with FILTER clauses, grouped
by area level (code prefixes: district 6, street 9, community 12, grid 15 digits) and/or domain.
The population is `incidents_all`: the table plus the archived months (ops_center/store/retention.py), so a
period that reaches into the archive gives the numbers it gave before archiving.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ops_center.core.area_codes import sql_prefix
from ops_center.store.store import to_db

# Per-row flags, computed once per row in an inner projection (every flag is false for invalid rows,
# i.e. false alarms); $as_of is the judging instant. The KPIs below aggregate these.
FLAGS = {
    "valid": "status <> 'false_alarm'",
    "false_alarm": "status = 'false_alarm'",
    "acked": "status <> 'false_alarm' AND coalesce(acknowledged_at <= $as_of, false)",
    "resolved": "status <> 'false_alarm' AND coalesce(resolved_at <= $as_of, false)",
    "ack_due": "status <> 'false_alarm' AND (coalesce(acknowledged_at <= $as_of, false) "
               "OR coalesce(ack_overdue, false) OR coalesce(ack_due_at <= $as_of, false))",
    "ack_on_time": "status <> 'false_alarm' AND coalesce(acknowledged_at <= $as_of "
                   "AND acknowledged_at <= ack_due_at AND NOT coalesce(ack_overdue, false), false)",
    "resolved_on_time": "status <> 'false_alarm' AND coalesce(resolved_at <= $as_of "
                        "AND resolved_at <= resolve_due_at, false)",
    "overdue": "status <> 'false_alarm' AND NOT coalesce(hung_at <= $as_of, false) AND coalesce(resolve_due_at < $as_of "
               "AND coalesce(resolved_at, $as_of) > resolve_due_at, false)",
    "hung": "status <> 'false_alarm' AND coalesce(hung_at <= $as_of, false)",
    "satisfied": "status <> 'false_alarm' AND coalesce(satisfied, false)",
    "rated": "status <> 'false_alarm' AND satisfied IS NOT NULL",
    "reworked": "status <> 'false_alarm' AND coalesce(verify_failures > 0, false)",
    "repeated": "status <> 'false_alarm' AND coalesce(report_count > 1, false)",
    "ack_minutes": "epoch(acknowledged_at - created_at) / 60.0",
    "resolve_minutes": "epoch(resolved_at - created_at) / 60.0",
}


@dataclass(frozen=True)
class Kpi:
    key: str
    name: str  # Chinese display name
    unit: str  # "count" | "rate" | "minutes"
    sql: str  # aggregate expression over the filtered incidents
    doc: str


KPIS: dict[str, Kpi] = {}


def _kpi(name: str, unit: str, key: str | None = None):
    """Register a KPI: the function's docstring is its official definition, its result the SQL."""
    def register(fn):
        k = key or fn.__name__
        KPIS[k] = Kpi(k, name, unit, fn(), (fn.__doc__ or "").strip())
        return fn
    return register


def _count(flag: str) -> str:
    return f"count_if({flag})"


def _ratio(num: str, den: str) -> str:
    return f"CAST(count_if({num}) AS DOUBLE) / NULLIF(count_if({den}), 0)"


@_kpi("受理数", "count")
def created() -> str:
    """受理数 created = incidents created in the range (valid: not merged, not false alarm)."""
    return _count("valid")


@_kpi("误报数", "count")
def false_alarms() -> str:
    """误报数 false_alarms = incidents created in the range now marked false_alarm."""
    return _count("false_alarm")


@_kpi("已响应数", "count")
def acknowledged() -> str:
    """已响应数 acknowledged = created incidents with acknowledged_at <= as_of."""
    return _count("acked")


@_kpi("办结数", "count")
def resolved() -> str:
    """办结数 resolved = created incidents with resolved_at <= as_of (resolved or closed; a failed verification or a reopen clears resolved_at)."""
    return _count("resolved")


@_kpi("在办数", "count", key="open")
def open_count() -> str:
    """在办数 open = created incidents not resolved by as_of."""
    return _count("valid AND NOT resolved")


@_kpi("超期数", "count")
def overdue() -> str:
    """超期数 overdue = created incidents whose resolve deadline passed before as_of without being resolved by it (still open, or resolved late), except hung (挂账) ones."""
    return _count("overdue")


@_kpi("应响应数", "count")
def ack_due() -> str:
    """应响应数 ack_due = created incidents acknowledged by as_of, or whose acknowledge deadline passed (by as_of, or marked ack_overdue)."""
    return _count("ack_due")


@_kpi("及时响应率", "rate")
def ack_on_time_rate() -> str:
    """及时响应率 = acknowledged by as_of, not after ack_due_at and never ack_overdue / ack_due."""
    return _ratio("ack_on_time", "ack_due")


@_kpi("办结率", "rate")
def resolved_rate() -> str:
    """办结率 = resolved / created."""
    return _ratio("resolved", "valid")


@_kpi("按期办结率", "rate")
def resolved_on_time_rate() -> str:
    """按期办结率 = resolved with resolved_at <= resolve_due_at (deadline after approved extensions) / resolved."""
    return _ratio("resolved_on_time", "resolved")


@_kpi("平均响应时长", "minutes")
def mean_ack_minutes() -> str:
    """平均响应时长 = mean of (acknowledged_at − created_at) in minutes over acknowledged incidents."""
    return "avg(ack_minutes) FILTER (WHERE acked)"


@_kpi("响应时长中位数", "minutes")
def median_ack_minutes() -> str:
    """响应时长中位数 = median of (acknowledged_at − created_at) in minutes over acknowledged incidents."""
    return "median(ack_minutes) FILTER (WHERE acked)"


@_kpi("平均办结时长", "minutes")
def mean_resolve_minutes() -> str:
    """平均办结时长 = mean of (resolved_at − created_at) in minutes over resolved incidents."""
    return "avg(resolve_minutes) FILTER (WHERE resolved)"


@_kpi("办结时长中位数", "minutes")
def median_resolve_minutes() -> str:
    """办结时长中位数 = median of (resolved_at − created_at) in minutes over resolved incidents."""
    return "median(resolve_minutes) FILTER (WHERE resolved)"


@_kpi("满意率", "rate")
def satisfaction_rate() -> str:
    """满意率 = incidents with a callback result satisfied = true / incidents with any callback result (satisfied not null; hotline callbacks)."""
    return _ratio("satisfied", "rated")


@_kpi("返工率", "rate")
def rework_rate() -> str:
    """返工率 = incidents with verify_failures > 0 / incidents that reached verification (resolved by as_of, or verify_failures > 0: being reworked)."""
    return _ratio("reworked", "resolved OR reworked")


@_kpi("重复报送率", "rate")
def repeat_rate() -> str:
    """重复报送率 = incidents with report_count > 1 (repeat or correlated reports, merged duplicates included) / created."""
    return _ratio("repeated", "valid")


@_kpi("挂账数", "count")
def hung() -> str:
    """挂账数 = created incidents hung (挂账: long-term engineering or seasonal cases) by as_of; they are left out of 超期数 by rule."""
    return _count("hung")


# Area levels are prefixes of the 15-digit grid code; shorter codes have no finer group (NULL).
GROUP_KEYS = {
    "district": "district_code",
    "street": "street_code",
    "community": sql_prefix("area_code", "community"),
    "grid": sql_prefix("area_code", "grid"),
    "domain": "domain",
}
COUNT_COLUMNS = ("created", "acknowledged", "resolved", "open", "overdue", "hung", "false_alarms", "ack_due")


def _group(group_by: str | Sequence[str] | None) -> tuple[str, ...]:
    keys = () if group_by is None else (group_by,) if isinstance(group_by, str) else tuple(group_by)
    unknown = [k for k in keys if k not in GROUP_KEYS]
    if unknown:
        raise ValueError(f"unknown group_by {unknown}; choose from {', '.join(GROUP_KEYS)}")
    return keys


def _parent_filter(parent: str) -> str:
    """Equality on the stored district/street code where the level allows it (cheaper than a prefix test)."""
    return {6: "district_code = $parent", 9: "street_code = $parent"}.get(len(parent), "starts_with(area_code, $parent)")


def kpi_sql(group_by: str | Sequence[str] | None = "street", *, parent: str | None = None,
            domain: bool = False) -> str:
    """The one aggregate query (parameters $start, $end, $as_of, and $parent / $domain when filtered)."""
    keys = _group(group_by)
    # Every fragment below is a constant of this module; user values only ever arrive as parameters.
    inner = [f"{GROUP_KEYS[k]} AS {k}" for k in keys] + [f"{sql} AS {name}" for name, sql in FLAGS.items()]
    where = ["created_at >= $start", "created_at < $end", "status <> 'merged'"]
    if parent:
        where.append(_parent_filter(parent))
    if domain:
        where.append("domain = $domain")
    outer = list(keys) + [f"{kpi.sql} AS {kpi.key}" for kpi in KPIS.values()]
    sql = (f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM incidents_all "  # noqa: S608
           f"WHERE {' AND '.join(where)})")
    if keys:
        positions = ", ".join(str(i + 1) for i in range(len(keys)))
        sql += f" GROUP BY {positions} ORDER BY {positions}"
    return sql


def _run(src: Any, sql: str, params: dict) -> pd.DataFrame:
    if hasattr(src, "query_df"):
        return src.query_df(sql, params)
    return src.execute(sql, params).df()


def kpi_table(src: Any, start: datetime, end: datetime, group_by: str | Sequence[str] | None = "street",
              parent: str | None = None, domain: str | None = None, as_of: datetime | None = None) -> pd.DataFrame:
    """One row per group (area level and/or domain), one column per KPI; `src` is a Store or a cursor.

    Live screens pass `as_of=now` (a range ending in the future judged at its end would count
    deadlines that have not passed yet); reports of a closed period leave it to default to `end`.
    """
    params: dict[str, Any] = {"start": to_db(start), "end": to_db(end), "as_of": to_db(as_of or end)}
    if parent:
        params["parent"] = parent
    if domain:
        params["domain"] = domain
    df = _run(src, kpi_sql(group_by, parent=parent, domain=bool(domain)), params)
    for column in COUNT_COLUMNS:
        df[column] = df[column].fillna(0).astype("int64")
    return df


def kpi_summary(src: Any, start: datetime, end: datetime, area: str | None = None, domain: str | None = None,
                as_of: datetime | None = None) -> dict[str, Any]:
    """The KPIs of one area (code prefix; None = everything) and optionally one domain, as a dict."""
    row = kpi_table(src, start, end, None, parent=area, domain=domain, as_of=as_of).iloc[0].to_dict()
    return {k: int(v) if k in COUNT_COLUMNS else (None if pd.isna(v) else float(v)) for k, v in row.items()}


def kpi_drill(src: Any, start: datetime, end: datetime, group_by: str = "community", parent: str | None = None,
              domain: str | None = None, as_of: datetime | None = None) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """One drill step in one scan (GROUPING SETS): (kpi_table by `group_by`, kpi_summary, kpi_table by domain).

    Same numbers as the three separate calls, about half the time: the drill-down page's query.
    """
    if group_by not in GROUP_KEYS or group_by == "domain":
        raise ValueError(f"group_by must be an area level ({', '.join(k for k in GROUP_KEYS if k != 'domain')})")
    base = kpi_sql((group_by, "domain"), parent=parent, domain=bool(domain))
    head, tail = base.split(" GROUP BY ", 1)
    # Constants of this module only (see kpi_sql); the grouping bitmask tells the three sets apart.
    sql = head.replace("SELECT ", f"SELECT grouping({group_by}, domain) AS grouping_set, ", 1) + (
        f" GROUP BY GROUPING SETS (({group_by}), (domain), ())")
    params: dict[str, Any] = {"start": to_db(start), "end": to_db(end), "as_of": to_db(as_of or end)}
    if parent:
        params["parent"] = parent
    if domain:
        params["domain"] = domain
    df = _run(src, sql, params)
    for column in COUNT_COLUMNS:
        df[column] = df[column].fillna(0).astype("int64")
    areas = df[df.grouping_set == 1].drop(columns=["grouping_set", "domain"]).sort_values(group_by)
    domains = df[df.grouping_set == 2].drop(columns=["grouping_set", group_by]).sort_values("domain")
    total = df[df.grouping_set == 3].drop(columns=["grouping_set", group_by, "domain"])
    if total.empty:
        summary: dict[str, int | float | None] = {k: 0 if k in COUNT_COLUMNS else None for k in KPIS}
    else:
        row = total.iloc[0].to_dict()
        summary = {k: int(v) if k in COUNT_COLUMNS else (None if pd.isna(v) else float(v)) for k, v in row.items()}
    return areas.reset_index(drop=True), summary, domains.reset_index(drop=True)



# --- per responsible unit (责任单位): the work order's numbers -----------------------------------------
#
# Population: work orders (assignments) *dispatched* in [start, end) on cases that are not merged and
# not false alarms, optionally inside an area; judged as of `as_of` (default `end`) like the KPIs above.
# Every assignment counts for its unit (主办 and 协办; a reassigned one stays with the unit that returned
# it); the handling numbers (按期办结, 返工, 满意, 督办) count the lead (主办) assignments only.
UNIT_FLAGS = {
    "accepted": "coalesce(a.accepted_at <= $as_of, false)",
    "accept_due": "(coalesce(a.accepted_at <= $as_of, false) OR (a.accept_due_at <= $as_of "
                  "AND NOT coalesce(a.returned_at <= least(a.accept_due_at, $as_of), false)))",
    "accept_on_time": "coalesce(a.accepted_at <= $as_of AND a.accepted_at <= a.accept_due_at, false)",
    "returned": "coalesce(a.returned_at <= $as_of, false)",
    "done": "a.role = 'lead' AND coalesce(a.done_at <= $as_of, false)",
    "done_on_time": "a.role = 'lead' AND coalesce(a.done_at <= $as_of AND a.done_at <= i.resolve_due_at, false)",
    "reworked": "a.role = 'lead' AND a.status <> 'cancelled' AND EXISTS (SELECT 1 FROM verifications v WHERE "
                "v.incident_id = a.incident_id AND NOT v.passed AND v.ts >= a.dispatched_at AND v.ts <= $as_of)",
    "rated": "a.role = 'lead' AND EXISTS (SELECT 1 FROM callbacks c WHERE c.incident_id = a.incident_id "
             "AND c.round = a.round AND c.ts <= $as_of)",
    "satisfied": "a.role = 'lead' AND EXISTS (SELECT 1 FROM callbacks c WHERE c.incident_id = a.incident_id "
                 "AND c.round = a.round AND c.ts <= $as_of AND c.satisfaction <> '不满意')",
    "extensions": "(SELECT count(*) FROM extensions e WHERE e.assignment_id = a.assignment_id "
                  "AND e.status = 'approved' AND e.decided_at <= $as_of)",
    "supervisions": "CASE WHEN a.role = 'lead' AND a.status <> 'cancelled' THEN (SELECT count(*) FROM supervisions s "
                    "WHERE s.incident_id = a.incident_id AND s.issued_at >= a.dispatched_at AND s.issued_at <= $as_of "
                    "AND (a.done_at IS NULL OR s.issued_at <= a.done_at)) ELSE 0 END",
}
UNIT_KPIS: dict[str, Kpi] = {}


def _unit_kpi(name: str, unit: str):
    """Register a per-unit KPI: the docstring is its official definition, the result its SQL."""
    def register(fn):
        UNIT_KPIS[fn.__name__] = Kpi(fn.__name__, name, unit, fn(), (fn.__doc__ or "").strip())
        return fn
    return register


@_unit_kpi("派单数", "count")
def assigned() -> str:
    """派单数 = work orders sent to the unit in the range (主办 and 协办)."""
    return "count(*)"


@_unit_kpi("签收率", "rate")
def accept_on_time_rate() -> str:
    """签收率 = orders accepted by as_of within their 签收 deadline / orders accepted by as_of or whose deadline passed (an order returned before its deadline answered in time and is left out)."""
    return _ratio("accept_on_time", "accept_due")


@_unit_kpi("退单率", "rate")
def return_rate() -> str:
    """退单率 = orders the unit returned (退单) by as_of / 派单数."""
    return "CAST(count_if(returned) AS DOUBLE) / NULLIF(count(*), 0)"


@_unit_kpi("按期办结率", "rate")
def unit_on_time_rate() -> str:
    """按期办结率 = lead orders whose feedback (处置反馈) came by the case's resolve deadline (after approved 延期) / lead orders with feedback by as_of."""
    return _ratio("done_on_time", "done")


@_unit_kpi("返工率", "rate")
def unit_rework_rate() -> str:
    """返工率 = lead orders whose case failed a verification (核查不通过) after the order was sent / lead orders that reached verification (feedback given, or reworked)."""
    return _ratio("reworked", "done OR reworked")


@_unit_kpi("满意率", "rate")
def unit_satisfaction_rate() -> str:
    """满意率 = lead orders whose round's 回访 was 满意 or 基本满意 / lead orders with a 回访 of their round."""
    return _ratio("satisfied", "rated")


@_unit_kpi("延期数", "count")
def extensions() -> str:
    """延期数 = approved 延期 requests of the unit's orders, decided by as_of."""
    return "sum(extensions)"


@_unit_kpi("督办数", "count")
def supervisions() -> str:
    """督办数 = 督办 records issued on a case while the unit held it as lead (after the order was sent, before its feedback, by as_of)."""
    return "sum(supervisions)"


UNIT_COUNT_COLUMNS = ("assigned", "extensions", "supervisions")
# The ranking's score: the mean of the rates that exist, each turned so that higher is better, 0–100.
SCORE_PARTS = {"accept_on_time_rate": False, "return_rate": True, "unit_on_time_rate": False,
               "unit_rework_rate": True, "unit_satisfaction_rate": False}  # True: 1 − rate
BANDS = ((90.0, "good"), (75.0, "fair"), (0.0, "poor"))  # 综合得分 ≥ 90 优, ≥ 75 中, else 差


def unit_kpi_sql(area: bool = False) -> str:
    """The one per-unit aggregate query (parameters $start, $end, $as_of, and $area when filtered)."""
    inner = ", ".join(f"{sql} AS {name}" for name, sql in UNIT_FLAGS.items())
    where = ["a.dispatched_at >= $start", "a.dispatched_at < $end", "i.status NOT IN ('merged', 'false_alarm')"]
    if area:
        where.append("starts_with(i.area_code, $area)")
    outer = ", ".join(f"{k.sql} AS {k.key}" for k in UNIT_KPIS.values())
    # Every fragment is a constant of this module; values arrive as parameters.
    return (f"SELECT unit, {outer} FROM (SELECT a.unit, {inner} FROM assignments a JOIN incidents_all i "  # noqa: S608
            f"USING (incident_id) WHERE {' AND '.join(where)}) GROUP BY unit ORDER BY unit")


def band(score: float | None) -> str:
    """The colour band of a 综合得分 (none when the unit has no rate yet)."""
    if score is None or pd.isna(score):
        return "none"
    return next(name for floor, name in BANDS if score >= floor)


def unit_kpis(src: Any, start: datetime, end: datetime, area: str | None = None,
              as_of: datetime | None = None) -> pd.DataFrame:
    """One row per unit with work orders in the range: each per-unit KPI, the 综合得分 (score), its band and rank."""
    params: dict[str, Any] = {"start": to_db(start), "end": to_db(end), "as_of": to_db(as_of or end)}
    if area:
        params["area"] = area
    df = _run(src, unit_kpi_sql(bool(area)), params)
    for column in UNIT_COUNT_COLUMNS:
        df[column] = df[column].fillna(0).astype("int64")
    parts = pd.DataFrame({k: (1 - df[k]) if flip else df[k] for k, flip in SCORE_PARTS.items()}, dtype="float64")
    df["score"] = parts.mean(axis=1, skipna=True) * 100
    df["band"] = [band(v) for v in df["score"]]
    df = df.sort_values(["score", "unit"], ascending=[False, True], na_position="last").reset_index(drop=True)
    df["rank"] = pd.Series(range(1, len(df) + 1), dtype="int64")
    return df


# --- 受理数 per local day: the wall's 7-day trend and 昨日同期 --------------------------------------


@dataclass(frozen=True)
class DailyCreated:
    """受理数 per local day, oldest first, today so far last, and 昨日同期, in total and per domain."""

    days: tuple[date, ...]  # local (site time zone) dates
    created: tuple[int, ...]  # 受理数 of each day; the last one counts up to `now` only
    same_time_yesterday: int  # 昨日同期: created yesterday before the local time of day it is now
    by_domain: dict[str, tuple[tuple[int, ...], int]]  # domain -> (created per day, same_time_yesterday)


def local_day_starts(now: datetime, tz: str, days: int) -> list[datetime]:
    """Local midnights of the last `days` days (oldest first), aware: a day is a local day, whatever its length."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    return [datetime.combine(today - timedelta(days=k), time(0), tzinfo=zone) for k in range(days - 1, -1, -1)]


def same_time_yesterday(now: datetime, tz: str) -> datetime:
    """The instant yesterday at the local time of day it is now (昨日同期's cut)."""
    local = now.astimezone(ZoneInfo(tz))
    # Wall-clock arithmetic in the site's zone: the same hour and minute yesterday, even across a DST change.
    return datetime.combine(local.date() - timedelta(days=1), local.timetz()).astimezone(UTC)


def daily_created_sql(days: int, *, parent: str | None = None) -> str:
    """One scan of the last `days` local days: 受理数 per day and 昨日同期 per domain ($d0 … $d{days}, $y0, $cut)."""
    # Day columns are FILTERs between local midnights passed as parameters: right in any time zone, no ICU needed.
    columns = [f"count(*) FILTER (WHERE created_at >= $d{i} AND created_at < $d{i + 1}) AS day{i}" for i in range(days)]
    columns.append("count(*) FILTER (WHERE created_at >= $y0 AND created_at < $cut) AS same_time")
    where = ["created_at >= $d0", f"created_at < $d{days}", "status <> 'merged'", FLAGS["valid"]]
    if parent:
        where.append(_parent_filter(parent))
    # Every fragment is a constant of this module; user values only ever arrive as parameters.
    return (f"SELECT domain, {', '.join(columns)} FROM incidents "  # noqa: S608
            f"WHERE {' AND '.join(where)} GROUP BY domain ORDER BY domain")


def daily_created(src: Any, now: datetime, tz: str, days: int = 7, area: str | None = None) -> DailyCreated:
    """受理数 per local day for the last `days` days up to `now`, and 昨日同期, for one area (code prefix; None = all)."""
    if days < 2:
        raise ValueError(f"days must be at least 2 (yesterday and today), not {days}")
    starts = local_day_starts(now, tz, days)
    params: dict[str, Any] = {f"d{i}": to_db(start) for i, start in enumerate(starts)}
    params |= {f"d{days}": to_db(now), "y0": to_db(starts[-2]), "cut": to_db(same_time_yesterday(now, tz))}
    if area:
        params["parent"] = area
    df = _run(src, daily_created_sql(days, parent=area), params)
    day_columns = [f"day{i}" for i in range(days)]
    by_domain = {str(row["domain"]): (tuple(int(row[c]) for c in day_columns), int(row["same_time"]))
                 for row in df.to_dict("records")}
    created = tuple(int(df[c].sum()) for c in day_columns)
    return DailyCreated(tuple(s.date() for s in starts), created, int(df["same_time"].sum()), by_domain)


def created_since(cols: Any, since: datetime, area: str | None = None) -> dict[str, int]:
    """受理数 from `since` to now per domain, counted over the wall's hot set (live, no query), as `created` defines it.

    The hot set holds every incident created in the last 24 h, so for `since` within that window this is
    kpi_summary(created) of [since, now) (tests/test_wall_trend.py checks one against the other).
    """
    mask = cols["live"] & (cols["created"] >= int(np.datetime64(to_db(since), "us").astype(np.int64)))
    mask &= ~cols.among("status", ("merged", "false_alarm"))
    if area:
        mask &= cols.prefixed("area_code", area)
    codes = cols["domain"][mask]
    counts = np.bincount(codes + 1, minlength=len(cols.vocab["domain"]) + 1)  # code -1 (NULL) lands in slot 0
    return {str(name): int(n) for name, n in zip(cols.vocab["domain"], counts[1:], strict=True) if n}
