"""SLA deadlines: which rule applies, and a working-time calendar so `workdays` clocks skip nights and holidays.

Working time is counted with one monotone function W(t) = working microseconds since the start of
the calendar's range; adding d of working time is W⁻¹(W(t) + d). Both directions are a binary
search (numpy searchsorted) over the working periods of the configured years.

In a `workdays` calendar a duration's whole days are *working days* (one working day = the
configured working hours, 7.5 h in the demo), the rest is working hours: '3d' is three working
days, '2h' two working hours. In `24x7` every duration is wall-clock time.

A year counts as known when the calendar lists at least one of its dates (holidays or make-up
days come from each year's State Council notice). A `workdays` clock that would touch a year the
calendar does not know falls back to 24x7 counting, loudly (a warning per year, and
ops_center/read/calendar_coverage.py tells the admin screen and source health), instead of silently
counting 元旦 and the Spring Festival of that year as working days.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import numpy as np

from ops_center.core.config import CalendarConfig, Config, SlaRule
from ops_center.core.domains import UNCLASSIFIED

log = logging.getLogger(__name__)

_US = 1_000_000
_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(dt: datetime) -> int:
    """Aware datetime -> integer microseconds since the Unix epoch (exact, unlike float timestamps)."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}; SLA maths needs aware datetimes")
    return (dt - _EPOCH) // timedelta(microseconds=1)


def from_us(us: int, tz: tzinfo = UTC) -> datetime:
    return (_EPOCH + timedelta(microseconds=int(us))).astimezone(tz)


def td_us(td: timedelta) -> int:
    return td // timedelta(microseconds=1)


class WorkCalendar:
    """Working days (weekdays + make-up days − holidays) and working hours, in the site's timezone."""

    def __init__(self, cal: CalendarConfig, tz: tzinfo | str = "Asia/Shanghai"):
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.hours = tuple(sorted(cal.working_hours))
        self.holidays = frozenset(cal.holidays)
        self.makeup_workdays = frozenset(cal.makeup_workdays)
        self.day_length = sum(
            (datetime.combine(date.min, b) - datetime.combine(date.min, a) for a, b in self.hours), timedelta()
        )
        years = [d.year for d in self.holidays | self.makeup_workdays] or [2026]
        self.years = frozenset(d.year for d in self.holidays | self.makeup_workdays)
        self.fallbacks = 0  # workdays deadlines counted 24x7 because a year was not in the calendar
        self._warned_years: set[int] = set()
        self._lock = threading.Lock()
        # The axis starts a few years before the configured calendar; earlier instants count as 0.
        self._build(min(years) - 3, max(years) + 1)

    def is_workday(self, day: date) -> bool:
        if day in self.makeup_workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    # --- the working-time axis ---------------------------------------------------------------

    def _build(self, first_year: int, last_year: int) -> None:
        starts: list[int] = []
        ends: list[int] = []
        day = date(first_year, 1, 1)
        while day.year <= last_year:
            if self.is_workday(day):
                for a, b in self.hours:
                    starts.append(to_us(datetime.combine(day, a, tzinfo=self.tz)))
                    ends.append(to_us(datetime.combine(day, b, tzinfo=self.tz)))
            day += _DAY
        s = np.asarray(starts, dtype=np.int64)
        lengths = np.asarray(ends, dtype=np.int64) - s
        cum_end = np.cumsum(lengths)
        # Published as one tuple so readers on other threads never see a half-built axis.
        self._axis = (first_year, last_year, s, lengths, cum_end - lengths, cum_end)

    def _covering(self, hi_us: int | None = None, work: int | None = None) -> tuple:
        """The axis, extended forwards (never backwards, so W values stay stable) to cover hi_us/work."""
        axis = self._axis
        hi_year = from_us(hi_us, self.tz).year if hi_us is not None else axis[0]
        if hi_year < axis[1] and (work is None or work < axis[5][-1]):
            return axis
        with self._lock:
            last = max(self._axis[1], hi_year + 1)
            while True:
                self._build(self._axis[0], last)
                if work is None or work < self._axis[5][-1]:
                    return self._axis
                last += 5

    def work_at(self, us: np.ndarray | int) -> np.ndarray:
        """W(t): working microseconds elapsed since the axis start, for one or many instants."""
        t = np.asarray(us, dtype=np.int64)
        if t.size == 0:
            return t
        _, _, starts, lengths, cum, _ = self._covering(int(t.max()))
        i = np.searchsorted(starts, t, side="right") - 1
        i0 = np.maximum(i, 0)
        inside = np.clip(t - starts[i0], 0, lengths[i0])
        return np.where(i >= 0, cum[i0] + inside, 0)

    def time_at(self, work: np.ndarray | int, not_before: np.ndarray | int) -> np.ndarray:
        """W⁻¹: the earliest instant (not before `not_before`) at which W reaches `work`."""
        w = np.asarray(work, dtype=np.int64)
        floor = np.asarray(not_before, dtype=np.int64)
        if w.size == 0:
            return w
        _, _, starts, _, cum, cum_end = self._covering(None, int(w.max()))
        j = np.searchsorted(cum_end, w, side="left")
        return np.maximum(starts[j] + (w - cum[j]), floor)

    # --- which years the calendar knows ------------------------------------------------------

    def unknown_years(self, *instants: datetime) -> list[int]:
        """Years from the first to the last instant that the configured calendar does not list."""
        years = [t.astimezone(self.tz).year for t in instants]
        return [y for y in range(min(years), max(years) + 1) if y not in self.years]

    def known_kind(self, kind: str, *instants: datetime) -> str:
        """`kind`, unless it is `workdays` and the instants reach a year the calendar does not know: then 24x7."""
        if kind != "workdays" or not instants:
            return kind
        unknown = self.unknown_years(*instants)
        if not unknown:
            return kind
        with self._lock:
            self.fallbacks += 1
            fresh = sorted(set(unknown) - self._warned_years)
            self._warned_years.update(unknown)
        if fresh:
            log.warning("calendar: no public-holiday dates configured for %s; workdays SLA clocks reaching it are "
                        "counted 24x7 instead. Add the State Council notice's dates to calendar.holidays and "
                        "calendar.makeup_workdays.", ", ".join(map(str, fresh)))
        return "24x7"

    # --- what callers use --------------------------------------------------------------------

    def work_duration(self, duration: timedelta, kind: str = "workdays") -> timedelta:
        """Configured duration -> working time: whole days become working days in a `workdays` clock."""
        if kind == "24x7":
            return duration
        days, rest = divmod(duration, _DAY)
        return days * self.day_length + rest

    def add(self, start: datetime, duration: timedelta, kind: str = "workdays") -> datetime:
        """The deadline `duration` (as configured, see work_duration) after `start`; 24x7 where the year is unknown."""
        if self.known_kind(kind, start) != kind:
            return start + duration
        due = self.add_work(start, self.work_duration(duration, kind), kind)
        if self.known_kind(kind, start, due) != kind:
            return start + duration
        return due

    def add_work(self, start: datetime, work: timedelta, kind: str = "workdays") -> datetime:
        if kind == "24x7":
            return start + work
        s = to_us(start)
        t = self.time_at(self.work_at(s) + td_us(work), s)
        return from_us(int(t), start.tzinfo or UTC)

    def subtract_work(self, end: datetime, work: timedelta, kind: str = "workdays") -> datetime:
        """The instant from which `work` of working time remains until `end`."""
        if kind == "24x7":
            return end - work
        w = int(self.work_at(to_us(end))) - td_us(work)
        t = self.time_at(max(w, 0), 0)
        return from_us(int(t), end.tzinfo or UTC)

    def horizon(self, now: datetime, work: timedelta, kind: str = "workdays") -> datetime:
        """The latest t with at most `work` of working time in [now, t]: exactly the due times whose
        point `work` before them (subtract_work) is not after `now`. The sweep's SQL pre-selection."""
        if kind == "24x7":
            return now + work
        c = int(self.work_at(to_us(now))) + td_us(work)
        _, _, starts, _, cum, _ = self._covering(None, c)
        j = int(np.searchsorted(cum, c, side="right")) - 1
        return from_us(int(starts[j] + (c - cum[j])), now.tzinfo or UTC)

    def elapsed(self, start: datetime, end: datetime, kind: str = "workdays") -> timedelta:
        """Working time between two instants (negative if end is before start); wall time across unknown years."""
        kind = self.known_kind(kind, start, end)
        if kind == "24x7":
            return end - start
        diff = self.work_at(np.array([to_us(end), to_us(start)], dtype=np.int64))
        return timedelta(microseconds=int(diff[0] - diff[1]))


class SlaPolicy:
    """The SLA table as lookups: rule per (domain, severity, category) and the deadlines it implies."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.tz = ZoneInfo(cfg.site.timezone)
        self.calendar = WorkCalendar(cfg.calendar, self.tz)
        self._rows: dict[tuple[str, str, str | None], SlaRule] = {
            (r.domain, r.severity, r.category): r for r in cfg.sla.table}
        self._strictest: dict[str, SlaRule] = {}
        for rule in cfg.sla.table:
            if rule.category is not None:
                continue
            best = self._strictest.get(rule.severity)
            if best is None or _strictness(rule) < _strictness(best):
                self._strictest[rule.severity] = rule

    def rule_for(self, domain: str, severity: str, category: str | None = None) -> SlaRule:
        """Category row if one exists, else the domain row; `unclassified` takes the strictest row."""
        if category is not None and (row := self._rows.get((domain, severity, category))):
            return row
        if domain != UNCLASSIFIED and (row := self._rows.get((domain, severity, None))):
            return row
        try:
            return self._strictest[severity]
        except KeyError:
            raise KeyError(f"no SLA row for severity {severity!r}") from None

    def warn_at(self, rule: SlaRule) -> float:
        return rule.warn_at if rule.warn_at is not None else self.cfg.sla.warn_at

    def ack_due(self, domain: str, severity: str, category: str | None, start: datetime) -> datetime:
        rule = self.rule_for(domain, severity, category)
        return self.calendar.add(start, rule.acknowledge, rule.calendar)

    def resolve_due(self, domain: str, severity: str, category: str | None, start: datetime) -> datetime:
        rule = self.rule_for(domain, severity, category)
        return self.calendar.add(start, rule.resolve, rule.calendar)

    def extend(self, rule: SlaRule, due: datetime, seconds: float) -> datetime:
        """A deadline pushed by an approved extension: the clock stands still for `seconds` of its time."""
        return self.calendar.add(due, timedelta(seconds=seconds), rule.calendar)

    def warn_work(self, rule: SlaRule, clock: str) -> timedelta:
        """Working time left at the warning point: (1 − warn_at) × the rule's duration."""
        return self._warn_work(rule, clock, rule.calendar)

    def _warn_work(self, rule: SlaRule, clock: str, kind: str) -> timedelta:
        duration = rule.acknowledge if clock == "acknowledge" else rule.resolve
        return self.calendar.work_duration(duration, kind) * (1 - self.warn_at(rule))

    def warn_horizon(self, rule: SlaRule, clock: str, now: datetime) -> datetime:
        """Due times up to this instant have reached their warning point at `now` (warn_instant <= now): exact
        inside the configured calendar; near a year it does not know, also every due counted 24x7 (a superset,
        which the sweep re-checks with warn_instant)."""
        horizon = self.calendar.horizon(now, self.warn_work(rule, clock), rule.calendar)
        if rule.calendar != "workdays":
            return horizon
        wall = now + self._warn_work(rule, clock, "24x7")
        if self.calendar.unknown_years(now, horizon, wall):
            return max(horizon, wall)
        return horizon

    def rules(self) -> tuple[SlaRule, ...]:
        """Every configured row, for callers that tabulate per-rule values (the sweep's pre-selection)."""
        return self.cfg.sla.table

    def strictest(self) -> dict[str, SlaRule]:
        """Severity -> the rule `unclassified` (or an unknown domain) gets."""
        return dict(self._strictest)

    def warn_instant(self, rule: SlaRule, clock: str, due: datetime) -> datetime:
        """When `warn_at` of the clock is used up: measured back from the due time, so extensions and
        escalations (which move the due time) move the warning with it. 24x7 where the year is unknown."""
        kind = self.calendar.known_kind(rule.calendar, due)
        warn = self.calendar.subtract_work(due, self._warn_work(rule, clock, kind), kind)
        if self.calendar.known_kind(kind, warn, due) != kind:
            return self.calendar.subtract_work(due, self._warn_work(rule, clock, "24x7"), "24x7")
        return warn


def _strictness(rule: SlaRule) -> tuple:
    return (rule.acknowledge, rule.resolve, rule.calendar != "24x7")
