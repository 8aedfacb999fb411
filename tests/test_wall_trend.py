"""一屏统调's today vs 昨日同期 and 7-day trend: hand-counted local days, scope, the cache, and the wall in Chromium."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from layouts import ids, wall_draw, wall_trend
from ops_center.read import kpis
from ops_center.read.hot_incidents import DailyCache, HotIncidents
from tests.factories import make_incidents
from tests.fixtures_web import client_login, dash_post

SITE = ZoneInfo("Asia/Shanghai")
KIOSK = "wall-demo-kiosk-token"
MZW, SQZ = "510108002", "510108004"  # 猛追湾街道, 双桥子街道
DAYS = tuple(date(2026, 11, 18) + timedelta(days=k) for k in range(7))  # fixed_now is 2026-11-24 10:00 local


def local(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """November 2026 in the site's time zone."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=SITE)


# (name, local created_at, domain, status, street): counted by hand below, now = 11/24 10:00 local (02:00 UTC).
SPECS = [
    ("a", local(23, 23, 30), "traffic", "new", MZW),  # 15:30 UTC on the 23rd: yesterday, after the 10:00 cut
    ("b", local(24, 0, 30), "traffic", "new", MZW),  # 16:30 UTC on the 23rd too, but today locally
    ("c", local(23, 9, 59), "fire_safety", "dispatched", MZW),  # yesterday before 10:00: 昨日同期
    ("d", local(23, 10, 0), "fire_safety", "new", MZW),  # yesterday at 10:00 sharp: not before the cut
    ("e", local(23, 0, 0), "environment", "closed", MZW),  # yesterday's first second: 昨日同期
    ("f", local(22, 23, 59), "environment", "closed", MZW),  # the day before
    ("g", local(23, 8), "fire_safety", "false_alarm", MZW),  # 误报: never counted
    ("h", local(23, 8), "fire_safety", "merged", MZW),  # a merged duplicate: never counted
    ("i", local(18, 0, 0), "elderly_care", "closed", MZW),  # first day of the window
    ("j", local(17, 23, 59), "elderly_care", "closed", MZW),  # before the window
    ("k", local(24, 9), "public_security", "new", SQZ),  # today, the other street
    ("l", local(23, 7), "city_management", "closed", SQZ),  # yesterday before the cut, the other street
    ("m", local(24, 8), "traffic", "false_alarm", SQZ),  # today, 误报
    ("n", local(24, 8), "traffic", "merged", SQZ),  # today, merged
]


@pytest.fixture
def hand_counted(web_ctx) -> dict[str, int]:
    specs = [{"created_at": at, "domain": domain, "status": status, "area_code": street, "severity": "P3"}
             for _, at, domain, status, street in SPECS]
    made = make_incidents(web_ctx.store, web_ctx.cfg, specs, now=web_ctx.clock())
    return dict(zip((s[0] for s in SPECS), made, strict=True))


def test_fixture_now_is_ten_in_the_morning_local(fixed_now):
    assert fixed_now.astimezone(SITE) == local(24, 10)


def test_daily_created_counts_local_days_across_midnight(web_ctx, hand_counted):
    daily = kpis.daily_created(web_ctx.store, web_ctx.clock(), "Asia/Shanghai")
    assert daily.days == DAYS
    assert daily.created == (1, 0, 0, 0, 1, 5, 2)  # i | f | a c d e l | b k
    assert daily.same_time_yesterday == 3  # c e l: before 10:00 yesterday (a and d are not)
    assert daily.by_domain["traffic"] == ((0, 0, 0, 0, 0, 1, 1), 0)  # a yesterday, b today: UTC would say both 23rd
    assert daily.by_domain["fire_safety"] == ((0, 0, 0, 0, 0, 2, 0), 1)  # c d; g and h never
    assert daily.by_domain["environment"] == ((0, 0, 0, 0, 1, 1, 0), 1)
    assert set(daily.by_domain) == {"traffic", "fire_safety", "environment", "elderly_care", "public_security",
                                    "city_management"}


@pytest.mark.parametrize(("area", "created", "same"), [
    (MZW, (1, 0, 0, 0, 1, 4, 1), 2),  # a c d e | b; same c e
    (SQZ, (0, 0, 0, 0, 0, 1, 1), 1),  # l | k; same l
    ("510108", (1, 0, 0, 0, 1, 5, 2), 3),
    ("510108002001", (0,) * 7, 0),  # a community with nothing: zeros, not an error
])
def test_daily_created_is_scoped(web_ctx, hand_counted, area, created, same):
    daily = kpis.daily_created(web_ctx.store, web_ctx.clock(), "Asia/Shanghai", area=area)
    assert (daily.created, daily.same_time_yesterday) == (created, same)


def test_same_time_yesterday_is_the_local_clock_time_a_day_earlier():
    now = local(24, 0, 10)  # ten seconds past local midnight: 16:00:10 UTC on the 23rd
    assert kpis.same_time_yesterday(now, "Asia/Shanghai") == local(23, 0, 10)
    # Where clocks move (CET to CEST on 2026-03-29), yesterday's same time is not 24 hours earlier.
    berlin = datetime(2026, 3, 29, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert berlin - kpis.same_time_yesterday(berlin, "Europe/Berlin") == timedelta(hours=23)
    assert [d.hour for d in kpis.local_day_starts(berlin, "Europe/Berlin", 3)] == [0, 0, 0]


def test_daily_created_refuses_fewer_than_two_days(web_ctx):
    with pytest.raises(ValueError, match="at least 2"):
        kpis.daily_created(web_ctx.store, web_ctx.clock(), "Asia/Shanghai", days=1)


def test_live_today_from_the_hot_set_equals_the_kpi(web_ctx, hand_counted):
    now = web_ctx.clock()
    midnight = local(24, 0)
    hot = HotIncidents(web_ctx.store, clock=web_ctx.clock)
    try:
        cols = hot.columns(now)
        for area in (None, MZW, SQZ):
            live = kpis.created_since(cols, midnight, area)
            table = kpis.kpi_table(web_ctx.store, midnight, now, "domain", parent=area, as_of=now)
            assert live == {d: n for d, n in zip(table["domain"], table["created"], strict=True) if n}
        assert kpis.created_since(cols, midnight) == {"traffic": 1, "public_security": 1}  # b k; m n never
    finally:
        hot.close()


class CountingStore:
    """The store, counting the queries the cache lets through."""

    def __init__(self, store):
        self.store, self.queries = store, 0

    def query_df(self, sql, params):
        self.queries += 1
        return self.store.query_df(sql, params)


def test_daily_cache_queries_at_most_once_a_minute_and_on_a_new_day(web_ctx, hand_counted):
    spy = CountingStore(web_ctx.store)
    cache = DailyCache(spy)
    now = web_ctx.clock()
    first = cache.get(now, "Asia/Shanghai", None)
    assert cache.get(now + timedelta(seconds=59), "Asia/Shanghai", None) is first
    assert spy.queries == 1
    cache.get(now + timedelta(seconds=61), "Asia/Shanghai", None)
    assert spy.queries == 2
    assert cache.get(now + timedelta(seconds=62), "Asia/Shanghai", MZW).created[-1] == 1  # each area its own
    assert spy.queries == 3
    late = local(24, 23, 59, 40)
    assert cache.get(late, "Asia/Shanghai", None).days[-1] == date(2026, 11, 24)
    after_midnight = cache.get(late + timedelta(seconds=30), "Asia/Shanghai", None)  # 30 s later, a new day
    assert spy.queries == 5
    assert after_midnight.days[-1] == date(2026, 11, 25) and after_midnight.created[-2:] == (2, 0)
    assert after_midnight.same_time_yesterday == 0  # the 24th up to 00:00:10: b came at 00:30


@pytest.mark.parametrize(("today", "before", "shown"), [(12, 9, ("↑3", "up")), (9, 12, ("↓3", "down")),
                                                        (5, 5, ("持平", "flat")), (0, 0, ("持平", "flat"))])
def test_change_shows_arrow_and_difference(web_app, today, before, shown):
    assert wall_trend.change(today, before) == shown


@pytest.mark.parametrize(("scope", "focus", "today", "same"), [
    (None, None, 2, 3), (MZW, None, 1, 2), (None, SQZ, 1, 1), (MZW, MZW, 1, 2)])
def test_wall_cards_and_trend_follow_scope_and_patrol(web_ctx, web_app, hand_counted, scope, focus, today, same):
    now = web_ctx.clock()
    hot = web_ctx.hot_incidents
    drawn = wall_draw.draw(web_ctx.cfg, "Asia/Shanghai", scope, focus, hot.daily, hot.columns(now), now)
    assert (drawn.totals["new_today"], drawn.totals["same_time_yesterday"]) == (today, same)
    texts = _texts(drawn.trend)
    assert f"昨日同期 {same}" in texts and "今日截至10:00 " in texts


def test_street_officer_sees_the_street_numbers(web_ctx, web_app, web_client, hand_counted):
    client_login(web_client, "officer_mzw")  # scope 猛追湾街道
    patrol = {f"{ids.WALL_PATROL}.data": {"on": False, "i": -1}}
    body = json.loads(dash_post(web_client, web_app, ids.WALL_TOTALS, patrol).get_data())["response"]
    totals = body[ids.WALL_TOTALS]["children"]
    assert _by_id(totals, "wall-today-value") == ["1"]
    assert _by_id(totals, "wall-today-change") == ["↓1"]
    assert _by_id(totals, "wall-today-before") == ["昨日同期 2"]
    trend = body[ids.WALL_TREND]["children"]
    assert [_texts(_by_id(trend, f"wall-trend-day-{i}"))[0] for i in range(7)] == ["1", "0", "0", "0", "1", "4", "1"]


def _texts(node) -> list[str]:
    """Every string in a component tree as Dash sends it (plain JSON), in document order."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [t for child in node for t in _texts(child)]
    if isinstance(node, dict):
        return _texts(node.get("props", {}).get("children"))
    return []


def _by_id(node, wanted: str):
    """The children of the component with id `wanted` (as a list), searching the tree depth first."""
    if isinstance(node, list):
        for child in node:
            found = _by_id(child, wanted)
            if found is not None:
                return found
    elif isinstance(node, dict):
        props = node.get("props", {})
        if props.get("id") == wanted:
            children = props.get("children")
            return children if isinstance(children, list) else [children]
        return _by_id(props.get("children"), wanted)
    return None


# Every box that must sit inside its panel and the screen, and every text that must not be cut.
OVERFLOW_JS = """
const out = [], W = window.innerWidth, H = window.innerHeight;
const inside = (e, p, slack) => { const r = e.getBoundingClientRect(), q = p.getBoundingClientRect();
  return r.left >= q.left - slack && r.right <= q.right + slack && r.top >= q.top - slack && r.bottom <= q.bottom + slack; };
const check = (sel, parentSel, mayBeFlat) => document.querySelectorAll(sel).forEach(e => {
  const p = e.closest(parentSel), r = e.getBoundingClientRect();
  if (!mayBeFlat && (r.width === 0 || r.height === 0)) out.push(sel + ' is empty: ' + e.textContent);
  if (!inside(e, p, 1)) out.push(sel + ' outside ' + parentSel + ': ' + e.textContent.slice(0, 40));
  if (r.left < 0 || r.top < 0 || r.right > W + 1 || r.bottom > H + 1) out.push(sel + ' off screen: ' + e.textContent.slice(0, 40));
  if (e.scrollWidth > e.clientWidth + 1) out.push(sel + ' cut: ' + e.textContent.slice(0, 40));
});
check('.wall-total', '.wall-totals'); check('.wall-total > div', '.wall-total');
check('.trend-head', '.wall-trend'); check('.trend-col', '.trend-cols'); check('.trend-cols', '.wall-trend');
check('.trend-num, .trend-date, .trend-day', '.trend-col'); check('.trend-fill, .trend-mark', '.trend-bar', true);
check('.wall-trend', '.wall-side'); check('.wall-list', '.wall-side'); check('.wall-side', '.wall-body');
check('.wall-item', '#wall-list'); check('.tile-nums > div', '.wall-tile'); check('.tile-num, .tile-lbl', '.tile-nums > div');
return out;
"""


@pytest.mark.browser
def test_wall_shows_today_against_yesterday_and_the_week(web_ctx, hand_counted, web_duo):
    web_duo.driver.set_window_size(1920, 1080)
    web_duo.driver.get(f"{web_duo.server_url}/wall?token={KIOSK}")
    web_duo.wait_for_text_to_equal("#wall-today-value", "2")
    assert web_duo.find_element("#wall-today-change").text == "↓1"
    assert web_duo.find_element("#wall-today-before").text == "昨日同期 3"
    web_duo.wait_for_element("#wall-trend-day-6")
    days = [web_duo.find_element(f"#wall-trend-day-{i}").text.split("\n") for i in range(7)]
    assert days == [["1", "11/18", "周三"], ["0", "11/19", "周四"], ["0", "11/20", "周五"], ["0", "11/21", "周六"],
                    ["1", "11/22", "周日"], ["5", "11/23", "昨日"], ["2", "11/24", "今日"]]
    assert "今日截至10:00" in web_duo.find_element(f"#{ids.WALL_TREND} .trend-note").text
    # Bars scale to the busiest day; yesterday's same-time mark sits on today's bar (3 of 5).
    heights = [web_duo.find_element(f"#wall-trend-day-{i} .trend-fill").get_attribute("style") for i in (5, 6)]
    assert "height: 100%" in heights[0] and "height: 40%" in heights[1], heights
    mark = web_duo.find_element("#wall-trend-day-6 .trend-mark").get_attribute("style")
    assert "bottom: 60%" in mark, mark
    tile = web_duo.find_element("#wall-tile-traffic .tile-nums > div:last-child").text.split("\n")
    assert tile == ["1↑1", "今日"]  # b today against nothing before 10:00 yesterday

    for size in ((1920, 1080), (3840, 2160), (1440, 900)):  # the video wall at 1080p and 4K, a leader's laptop
        web_duo.driver.set_window_size(*size)
        web_duo.wait_for_element("#wall-trend-day-6")
        offenders = web_duo.driver.execute_script(OVERFLOW_JS)
        assert offenders == [], (size, "; ".join(offenders))
        # Readable from 3-5 m: the trend's figures and day labels scale with the screen, not fixed pixels.
        sizes = web_duo.driver.execute_script(
            "return ['.trend-num', '.trend-date', '#wall-today-before'].map(s => "
            "parseFloat(getComputedStyle(document.querySelector(s)).fontSize));")
        assert min(sizes) >= size[0] * 0.0085 - 0.5, (size, sizes)
    logs = web_duo.get_logs()
    assert logs == [], [e["message"][:300] for e in logs]
