"""Issue 11.11: the 2026-only calendar is said to run out — check-config, start-up log, source health, admin screen."""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml
from selenium.common.exceptions import TimeoutException

from layouts import ids
from ops_center.read.calendar_coverage import coverage, health_rows
from ops_center.web.context import set_context
from ops_center.web.server import create_app
from ops_center.wiring.app import build_context
from tests.fixtures_ingest import wait_until
from tests.live_web import http_dash_post, http_login, render_page, serve
from tests.test_web_secret import _site_config

ROOT = Path(__file__).resolve().parent.parent


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def with_years(cfg, *years: int):
    """The config with the 2026 dates copied to other years (same month-days; good enough for coverage)."""
    holidays = frozenset(d.replace(year=y) for d in cfg.calendar.holidays for y in years)
    calendar = cfg.calendar.model_copy(update={"holidays": holidays, "makeup_workdays": frozenset()})
    return cfg.model_copy(update={"calendar": calendar})


@pytest.mark.parametrize(("now", "state", "days_left"), [
    (at(2026, 9, 1, 4), "ok", 122),
    (at(2026, 11, 1, 15, 59), "ok", 61),  # 23:59 on 2026-11-01 in Asia/Shanghai
    (at(2026, 11, 1, 16), "expiring", 60),  # 2026-11-02 00:00 there: exactly 60 days left starts the warning
    (at(2026, 11, 24, 2), "expiring", 38),
    (at(2026, 12, 31, 15, 59), "expiring", 1),
    (at(2026, 12, 31, 16, 0), "expired", 0),  # 2027-01-01 00:00 in Asia/Shanghai
    (at(2027, 6, 1), "expired", -151),
])
def test_the_shipped_calendar_warns_sixty_days_ahead(cfg, now, state, days_left):
    cov = coverage(cfg, now)
    assert (cov.state, cov.days_left, cov.missing_year) == (state, days_left, 2027)


def test_next_years_dates_end_the_warning(cfg):
    assert coverage(with_years(cfg, 2026, 2027), at(2026, 11, 24)).state == "ok"
    assert coverage(with_years(cfg, 2026, 2027), at(2027, 11, 24)).state == "expiring"
    assert coverage(with_years(cfg, 2026, 2028), at(2026, 11, 24)).missing_year == 2027  # a gap is a gap


def test_messages_say_which_year_and_where_the_dates_come_from(cfg):
    cov = coverage(cfg, at(2026, 11, 24))
    assert "2027" in cov.message() and "State Council" in cov.message() and "calendar.holidays" in cov.message()
    zh = cov.message_zh()
    assert "2027 年" in zh and "国务院办公厅" in zh and "还剩 38 天" in zh and "24x7" in zh


def test_source_health_carries_a_calendar_row_while_it_warns(cfg, config_path, db_path, fixed_now):
    ctx = build_context(cfg, config_path, db_path=db_path, clock=lambda: fixed_now)
    try:
        rows = [h for h in ctx.health() if h.source_id == "calendar"]
    finally:
        ctx.store.close()
    assert len(rows) == 1 and rows[0].state == "calendar_expiring" and "2027" in rows[0].detail
    assert health_rows(with_years(cfg, 2026, 2027), fixed_now) == []


def _check_config(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", "check-config", "--config", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def _config_with_years(tmp_path: Path, years: list[int]) -> Path:
    path = _site_config(tmp_path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["calendar"]["holidays"] = [f"{y}-01-01" for y in years]
    data["calendar"]["makeup_workdays"] = []
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_check_config_warns_but_accepts_a_calendar_that_has_run_out(tmp_path):
    this_year = datetime.now(UTC).year
    done = _check_config(_config_with_years(tmp_path, [this_year - 1]))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("config OK: ")
    assert f"warning: calendar: no public-holiday dates configured for {this_year}" in done.stderr


def test_check_config_is_quiet_when_next_year_is_configured(tmp_path):
    this_year = datetime.now(UTC).year
    done = _check_config(_config_with_years(tmp_path, [this_year, this_year + 1]))
    assert done.returncode == 0 and "calendar" not in done.stderr, done.stderr


def test_start_up_logs_the_missing_year(mosquitto, tmp_path):
    """run.py itself (real Mosquitto, no web) says it in the log at start."""
    this_year = datetime.now(UTC).year
    log = tmp_path / "run.log"
    cmd = [sys.executable, str(ROOT / "run.py"), "--config", str(_config_with_years(tmp_path, [this_year - 1])),
           "--db", str(tmp_path / "ops.duckdb"), "--mqtt-url", mosquitto.url, "--no-simulator", "--no-web"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "calendar:" in log.read_text(errors="replace") or proc.poll() is not None, timeout=90)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    text = log.read_text(errors="replace")
    assert f"WARNING ops_center.read.calendar_coverage: calendar: no public-holiday dates configured for {this_year}" in text


def test_the_admin_screen_shows_the_warning_until_next_year_is_configured(web_ctx, fixed_now):
    for cfg, shown in ((web_ctx.cfg, True), (with_years(web_ctx.cfg, 2026, 2027), False)):
        ctx = replace(web_ctx, cfg=cfg, health=lambda cfg=cfg: health_rows(cfg, fixed_now))
        app = create_app(ctx)
        with serve(app) as base, requests.Session() as s:
            http_login(s, base, app, "admin")
            page = str(render_page(s, base, app, "/admin"))
            sources = http_dash_post(s, base, app, ids.ADMIN_SOURCES, {f"{ids.ADMIN_REFRESH}.n_clicks": 1}).text
        assert (ids.ADMIN_CALENDAR_NOTICE in page) is shown
        assert ("工作日历即将到期" in page and "尚未配置 2027 年放假调休安排" in page) is shown
        assert ("工作日历" in sources and "即将到期" in sources) is shown
    set_context(web_ctx)


def test_the_wall_health_strip_shows_the_calendar(web_ctx, fixed_now):
    ctx = replace(web_ctx, health=lambda: health_rows(web_ctx.cfg, fixed_now + timedelta(days=60)))
    app = create_app(ctx)
    with serve(app) as base, requests.Session() as s:
        http_login(s, base, app, "viewer")
        strip = http_dash_post(s, base, app, ids.WALL_HEALTH, {f"{ids.WALL_HEALTH_TICK}.n_intervals": 1}).text
    set_context(web_ctx)
    assert "工作日历" in strip and "已过期" in strip


@pytest.fixture
def calendar_health(web_ctx, fixed_now):
    """The context with only the calendar's health row (38 days left at the fixed clock); before web_duo."""
    ctx = replace(web_ctx, health=lambda: health_rows(web_ctx.cfg, fixed_now))
    set_context(ctx)
    return ctx


@pytest.mark.browser
def test_the_wall_shows_the_calendar_row_in_amber(calendar_health, web_duo):
    web_duo.driver.get(web_duo.server_url + "/wall?token=wall-demo-kiosk-token")
    try:  # the strip comes after the wall's first render; with a busy second xdist worker that took > 20 s once
        web_duo.wait_for_contains_text("#wall-health-calendar", "即将到期", timeout=60)
    except TimeoutException:
        raise AssertionError(f"no calendar row; browser console: {web_duo.get_logs()}") from None
    dot = web_duo.find_element("#wall-health-calendar .health-dot")
    assert dot.value_of_css_property("background-color") == "rgba(255, 178, 36, 1)"
    assert web_duo.get_logs() == []
