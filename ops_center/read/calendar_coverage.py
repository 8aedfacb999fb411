"""How far the working-time calendar reaches, said well before it runs out: check-config, start-up, a daily log
line, source health and the admin screen.

The 放假调休 dates of a year come from the State Council General Office notice (国务院办公厅关于 YYYY 年部分节假日
安排的通知, usually published in November); a year counts as configured when `calendar.holidays` or
`calendar.makeup_workdays` list one of its dates. Past the last configured year `workdays` SLA clocks
fall back to 24x7 counting (ops_center/core/sla.py), so the warning starts `calendar.warn_before` ahead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from ops_center.core.config import Config

log = logging.getLogger(__name__)

SOURCE_ID = "calendar"
SOURCE_NAME = "工作日历"


@dataclass(frozen=True)
class Coverage:
    """Where the configured calendar stops, seen from `today`; state ok | expiring | expired."""

    today: date
    years: tuple[int, ...]
    first_missing: date  # 1 January of the first year from today on that the calendar does not list
    warn_before: timedelta

    @property
    def days_left(self) -> int:
        return (self.first_missing - self.today).days

    @property
    def state(self) -> str:
        if self.days_left <= 0:
            return "expired"
        if timedelta(days=self.days_left) <= self.warn_before:
            return "expiring"
        return "ok"

    @property
    def missing_year(self) -> int:
        return self.first_missing.year

    def message(self) -> str:
        """For the log and check-config (English)."""
        year = self.missing_year
        if self.state == "expired":
            return (f"calendar: no public-holiday dates configured for {year}; workdays SLA clocks are counted 24x7 "
                    f"until calendar.holidays and calendar.makeup_workdays list {year}'s dates (State Council notice)")
        return (f"calendar: the configured holidays end on {self.first_missing - timedelta(days=1)} "
                f"({self.days_left} days from now); add {year}'s dates from the State Council notice to "
                f"calendar.holidays and calendar.makeup_workdays, or workdays SLA clocks will count 24x7 from {year}")

    def message_zh(self) -> str:
        """For the admin screen and source health (Simplified Chinese)."""
        year = self.missing_year
        how = (f"请按国务院办公厅发布的 {year} 年部分节假日安排通知，在配置 calendar.holidays（放假日期）和 "
               f"calendar.makeup_workdays（调休上班日期）中补充。")
        if self.state == "expired":
            return f"工作日历未配置 {year} 年放假调休安排：按工作日计时的时限现按 24x7 自然时间计算。" + how
        return (f"工作日历仅配置到 {self.first_missing - timedelta(days=1)}（还剩 {self.days_left} 天），"
                f"尚未配置 {year} 年放假调休安排；届时按工作日计时的时限将按 24x7 自然时间计算。" + how)


def coverage(cfg: Config, now: datetime) -> Coverage:
    cal = cfg.calendar
    years = sorted({d.year for d in cal.holidays | cal.makeup_workdays})
    today = now.astimezone(ZoneInfo(cfg.site.timezone)).date()
    year = today.year
    while year in years:
        year += 1
    return Coverage(today, tuple(years), date(year, 1, 1), cal.warn_before)


def log_coverage(cfg: Config, now: datetime) -> Coverage:
    """A warning in the log when the calendar ends within warn_before (start-up and the daily job call this)."""
    cov = coverage(cfg, now)
    if cov.state != "ok":
        log.warning("%s", cov.message())
    return cov


class CalendarHealth(NamedTuple):
    """A source-health row (same fields as ingest.health.SourceHealth) for the calendar, shown while it warns."""

    source_id: str
    name: str
    state: str  # calendar_expiring | calendar_expired
    last_message_at: datetime | None
    messages_per_min: float
    dead_letters_per_min: float
    dead_letters_total: int
    detail: str


def health_rows(cfg: Config, now: datetime) -> list[CalendarHealth]:
    """Nothing while the calendar reaches past warn_before; one row saying what is missing otherwise."""
    cov = coverage(cfg, now)
    if cov.state == "ok":
        return []
    return [CalendarHealth(SOURCE_ID, SOURCE_NAME, f"calendar_{cov.state}", None, 0.0, 0.0, 0, cov.message_zh())]


def coverage_job(cfg: Config, clock) -> None:
    """The scheduler's daily look at the calendar, so a center that runs for months still says it in time."""
    log_coverage(cfg, clock())
