"""SLA deadlines on the 2026 calendar in config.yaml: nights, weekends, holidays, make-up workdays."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ops_center.core.sla import SlaPolicy, WorkCalendar

SH = ZoneInfo("Asia/Shanghai")


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


@pytest.fixture(scope="module")
def policy(cfg) -> SlaPolicy:
    return SlaPolicy(cfg)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 11, 24), True),  # Tuesday
        (date(2026, 11, 28), False),  # Saturday
        (date(2026, 10, 1), False),  # National Day
        (date(2026, 10, 10), True),  # Saturday make-up workday
        (date(2026, 9, 20), True),  # Sunday make-up workday
        (date(2026, 9, 25), False),  # Mid-Autumn, a Friday
    ],
)
def test_working_days(policy, day, working):
    assert policy.calendar.is_workday(day) is working


def test_working_day_is_the_configured_hours(policy):
    assert policy.calendar.day_length == timedelta(hours=7, minutes=30)
    assert policy.calendar.work_duration(timedelta(days=3)) == timedelta(hours=22, minutes=30)
    assert policy.calendar.work_duration(timedelta(days=3), "24x7") == timedelta(days=3)


@pytest.mark.parametrize(
    ("created", "ack_due", "resolve_due"),
    [
        # Friday evening: half an hour left, the rest on Monday (fire_safety P3: 1h / 2d, workdays).
        (sh(2026, 11, 27, 17, 30), sh(2026, 11, 30, 9, 30), sh(2026, 12, 1, 17, 30)),
        # The day before National Day: the clock stands still 1-7 October.
        (sh(2026, 9, 30, 17, 30), sh(2026, 10, 8, 9, 30), sh(2026, 10, 9, 17, 30)),
        # Friday 9 October: Saturday 10 October is a make-up workday.
        (sh(2026, 10, 9, 17, 30), sh(2026, 10, 10, 9, 30), sh(2026, 10, 12, 17, 30)),
        # Thursday before Mid-Autumn (Friday 25 September off, then the weekend).
        (sh(2026, 9, 24, 17, 30), sh(2026, 9, 28, 9, 30), sh(2026, 9, 29, 17, 30)),
        # Saturday 19 September: Sunday 20 is a make-up workday.
        (sh(2026, 9, 19, 10, 0), sh(2026, 9, 20, 10, 0), sh(2026, 9, 21, 18, 0)),
        # Reported on Saturday night: the clock starts Monday 09:00.
        (sh(2026, 11, 28, 22, 0), sh(2026, 11, 30, 10, 0), sh(2026, 12, 1, 18, 0)),
        # Over lunch (12:00-13:30 is not working time).
        (sh(2026, 11, 24, 11, 30), sh(2026, 11, 24, 14, 0), sh(2026, 11, 26, 11, 30)),
    ],
)
def test_workdays_deadlines(policy, created, ack_due, resolve_due):
    assert policy.ack_due("fire_safety", "P3", None, created) == ack_due
    assert policy.resolve_due("fire_safety", "P3", None, created) == resolve_due


def test_deadline_at_the_end_of_a_period_stays_there(policy):
    """An hour from 17:00 is 18:00 the same day, not 09:00 the next working day."""
    assert policy.ack_due("fire_safety", "P3", None, sh(2026, 9, 30, 17, 0)) == sh(2026, 9, 30, 18, 0)


def test_24x7_ignores_the_calendar(policy):
    created = sh(2026, 10, 3, 3, 0)  # a holiday, at night
    assert policy.ack_due("fire_safety", "P2", None, created) == created + timedelta(minutes=10)
    assert policy.resolve_due("fire_safety", "P2", None, created) == created + timedelta(hours=4)


def test_deadlines_from_utc_inputs(policy):
    created = sh(2026, 11, 27, 17, 30).astimezone(UTC)
    due = policy.ack_due("fire_safety", "P3", None, created)
    assert due == sh(2026, 11, 30, 9, 30)
    assert due.tzinfo is UTC


def test_rule_lookup(policy):
    assert policy.rule_for("city_management", "P2", "manhole_displaced").acknowledge == timedelta(minutes=10)
    assert policy.rule_for("city_management", "P2", "street_vending").acknowledge == timedelta(minutes=30)
    assert policy.rule_for("city_management", "P2").acknowledge == timedelta(minutes=30)
    # unclassified: the strictest row of the severity across domains
    p3 = policy.rule_for("unclassified", "P3")
    assert (p3.acknowledge, p3.resolve, p3.calendar) == (timedelta(hours=1), timedelta(days=1), "24x7")
    p1 = policy.rule_for("unclassified", "P1")
    assert (p1.acknowledge, p1.resolve) == (timedelta(minutes=3), timedelta(hours=1))


def test_warning_at_80_percent(policy):
    rule = policy.rule_for("fire_safety", "P2")
    assert policy.warn_at(rule) == pytest.approx(0.8)
    created = sh(2026, 11, 24, 10, 0)
    due = policy.ack_due("fire_safety", "P2", None, created)
    assert policy.warn_instant(rule, "acknowledge", due) == created + timedelta(minutes=8)
    assert policy.warn_instant(rule, "resolve", created + timedelta(hours=4)) == created + timedelta(hours=3, minutes=12)


def test_warning_counts_working_time(policy):
    rule = policy.rule_for("fire_safety", "P3")
    # ack due Monday 09:30 (created Friday 17:30): 12 working minutes before is Monday 09:18.
    assert policy.warn_instant(rule, "acknowledge", sh(2026, 11, 30, 9, 30)) == sh(2026, 11, 30, 9, 18)
    # 12 minutes before Monday 09:10 reaches back into Friday (Saturday and Sunday do not count).
    assert policy.warn_instant(rule, "acknowledge", sh(2026, 11, 30, 9, 10)) == sh(2026, 11, 27, 17, 58)
    # resolve 2d = 15 working hours: 3 h before Tuesday 17:30 is 14:30.
    assert policy.warn_instant(rule, "resolve", sh(2026, 12, 1, 17, 30)) == sh(2026, 12, 1, 14, 30)


def test_extension_moves_the_deadline_in_the_rules_time(policy):
    workdays = policy.rule_for("fire_safety", "P3")
    assert policy.extend(workdays, sh(2026, 9, 30, 17, 30), 86400) == sh(2026, 10, 8, 17, 30)
    assert policy.extend(workdays, sh(2026, 12, 1, 17, 30), 3600) == sh(2026, 12, 2, 9, 30)
    round_clock = policy.rule_for("fire_safety", "P2")
    assert policy.extend(round_clock, sh(2026, 10, 1, 12, 0), 3600) == sh(2026, 10, 1, 13, 0)


def test_elapsed_working_time(policy):
    cal = policy.calendar
    assert cal.elapsed(sh(2026, 11, 27, 17, 0), sh(2026, 11, 30, 10, 0)) == timedelta(hours=2)
    assert cal.elapsed(sh(2026, 9, 30, 9, 0), sh(2026, 10, 8, 9, 0)) == timedelta(hours=7, minutes=30)
    assert cal.elapsed(sh(2026, 11, 28, 9, 0), sh(2026, 11, 28, 17, 0), "24x7") == timedelta(hours=8)


@pytest.mark.parametrize("clock", ["acknowledge", "resolve"])
def test_warn_horizon_is_exactly_the_warned_due_times(policy, clock):
    """due <= warn_horizon(now)  <=>  warn_instant(due) <= now: what lets the sweep pre-select in SQL."""
    rng = random.Random(5)
    base = sh(2026, 9, 15)
    for rule in [policy.rule_for("fire_safety", "P3"), policy.rule_for("environment", "P4"),
                 policy.rule_for("fire_safety", "P2")]:
        for _ in range(150):
            now = base + timedelta(minutes=rng.randrange(0, 60 * 24 * 40, 15))
            horizon = policy.warn_horizon(rule, clock, now)
            for due in (horizon, horizon + timedelta(microseconds=1), horizon - timedelta(minutes=1),
                        now + timedelta(minutes=rng.randrange(0, 60 * 24 * 20, 30))):
                assert (policy.warn_instant(rule, clock, due) <= now) == (due <= horizon), (rule, now, due)


def test_add_and_elapsed_agree(policy):
    cal = policy.calendar
    rng = random.Random(3)
    for _ in range(100):
        start = sh(2026, 9, 1) + timedelta(minutes=rng.randrange(0, 60 * 24 * 90))
        work = timedelta(minutes=rng.randrange(1, 60 * 40))
        assert cal.elapsed(start, cal.add_work(start, work)) == work


def test_a_year_the_calendar_does_not_know_is_counted_24x7_not_as_an_ordinary_year(cfg, caplog):
    """Issue 11.11: the 2026-only calendar must not count 元旦 2027 as a working day, silently."""
    cal = WorkCalendar(cfg.calendar, "Asia/Shanghai")
    assert cal.years == frozenset({2026})
    # Thursday 2026-12-31 17:00 + 2 working hours: an ordinary-year count says Friday 2027-01-01 10:00 (元旦).
    with caplog.at_level("WARNING", logger="ops_center.core.sla"):
        assert cal.add(sh(2026, 12, 31, 17, 0), timedelta(hours=2)) == sh(2026, 12, 31, 19, 0)
        assert cal.add(sh(2027, 2, 8, 10, 0), timedelta(days=3)) == sh(2027, 2, 11, 10, 0)  # 春节 week: 72 h
        assert cal.add(sh(2031, 1, 10, 17, 0), timedelta(hours=2)) == sh(2031, 1, 10, 19, 0)
    warnings = [r.getMessage() for r in caplog.records]
    assert len([w for w in warnings if "2027" in w]) == 1  # once per year, not per deadline
    assert any("2031" in w and "calendar.holidays" in w for w in warnings)
    assert cal.fallbacks == 3
    assert cal.elapsed(sh(2026, 12, 31, 17, 0), sh(2027, 1, 4, 10, 0)) == timedelta(days=3, hours=17)
    # Inside the configured year nothing changes.
    assert cal.add(sh(2026, 12, 30, 17, 0), timedelta(hours=2)) == sh(2026, 12, 31, 10, 0)
    assert cal.fallbacks == 4  # the elapsed() above; the 2026-only add did not fall back


def test_sla_deadlines_and_warnings_across_the_end_of_the_calendar_agree(policy):
    rule = policy.rule_for("fire_safety", "P3")  # workdays, acknowledge 1h, resolve 2d
    assert rule.calendar == "workdays"
    created = sh(2026, 12, 31, 17, 30)
    due = policy.resolve_due("fire_safety", "P3", None, created)
    assert due == created + timedelta(days=2)
    assert policy.warn_instant(rule, "resolve", due) == due - timedelta(days=2) * (1 - policy.warn_at(rule))
    rng = random.Random(11)
    for clock in ("acknowledge", "resolve"):
        for _ in range(200):
            now = sh(2026, 12, 20) + timedelta(minutes=rng.randrange(0, 60 * 24 * 25, 15))
            horizon = policy.warn_horizon(rule, clock, now)
            for due in (now + timedelta(minutes=rng.randrange(0, 60 * 24 * 6, 10)) for _ in range(5)):
                if policy.warn_instant(rule, clock, due) <= now:
                    assert due <= horizon, (clock, now, due, horizon)
