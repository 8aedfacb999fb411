"""一屏统调: the grouped wall query, the no-change short-circuit, and the live wall in Chromium."""

from __future__ import annotations

import json
import statistics
import time
from datetime import timedelta

import pytest

from layouts import ids
from ops_center.read import queries
from ops_center.service.bus import EventsCommitted
from ops_center.service.incidents import Actor
from tests.factories import make_incident
from tests.fixtures_web import client_login, dash_post

XSS = "<script>alert(1)</script>热线：小区门口有人打架"
KIOSK = "wall-demo-kiosk-token"


def test_summary_counts_domains_and_orders_urgent_first(web_ctx, demo_incidents):
    now = web_ctx.clock()
    overdue = make_incident(web_ctx.store, web_ctx.cfg, now=now - timedelta(hours=30), domain="traffic",
                            severity="P2", status="dispatched", area_code="510108004")
    summary = queries.summarize_wall(queries.wall_data(web_ctx.hot_incidents, now, web_ctx.cfg.site.timezone))
    assert summary.totals["open"] == 8  # six domains + the P1 + the overdue one; the closed one is not open
    assert summary.totals["new_today"] == 8  # created since midnight Asia/Shanghai, closed too; not the 30 h old one
    assert summary.totals["overdue"] == 1
    assert summary.domains["fire_safety"]["open"] == 2
    assert sum(summary.domains["traffic"]["spark"]) == 2  # open traffic + the closed one, both in the last 24 h
    assert summary.street_load["510108002"] == 2
    assert list(summary.urgent["incident_id"][:2]) == [demo_incidents["p1"], overdue]  # a P1 before any late one
    assert summary.p1_open == (demo_incidents["p1"],)


def test_scope_and_patrol_focus_limit_the_wall(web_ctx, demo_incidents):
    tz = web_ctx.cfg.site.timezone
    data = queries.wall_data(web_ctx.hot_incidents, web_ctx.clock(), tz, "510108002")
    assert set(data.counts["street_code"]) == {"510108002"}
    assert set(data.rows["street_code"]) == {"510108002"}
    patrol = queries.wall_data(web_ctx.hot_incidents, web_ctx.clock(), tz, None, "510108004")
    assert set(patrol.counts["street_code"]) == {"510108004"}  # cards and tiles follow the patrol too
    assert set(patrol.rows["street_code"]) == {"510108004"}  # markers and list follow the patrol


def test_refresh_short_circuits_when_nothing_changed(web_ctx, web_app, web_client, demo_incidents):
    client_login(web_client, "viewer")
    patrol = {f"{ids.WALL_PATROL}.data": {"on": False, "i": -1}}
    first = dash_post(web_client, web_app, ids.WALL_TOTALS, patrol)
    seen = json.loads(first.get_data())["response"][ids.WALL_SEEN]["data"]
    timings = []
    for _ in range(20):
        start = time.perf_counter()
        resp = dash_post(web_client, web_app, ids.WALL_TOTALS, {**patrol, f"{ids.WALL_SEEN}.data": seen})
        timings.append(time.perf_counter() - start)
        # Every output is no_update: nothing is sent, nothing redrawn.
        assert resp.status_code == 204 or json.loads(resp.get_data())["response"] == {}
    assert statistics.median(timings) < 0.02
    web_ctx.bus.publish([EventsCommitted(web_ctx.clock(), 1, ())])
    web_ctx.bus.drain()
    changed = dash_post(web_client, web_app, ids.WALL_TOTALS, {**patrol, f"{ids.WALL_SEEN}.data": seen})
    assert changed.status_code == 200
    body = json.loads(changed.get_data())["response"]
    # The bus moved the version, but the data is the same: only the bookkeeping is sent, no redraw.
    assert ids.WALL_MAP not in body and ids.WALL_LIST not in body and ids.WALL_SEEN in body


def _no_scroll(duo, width: int, height: int) -> None:
    duo.driver.set_window_size(width, height)
    duo.wait_for_element(f"#{ids.WALL_TILES} .wall-tile")
    dims = duo.driver.execute_script(
        "const e = document.documentElement; return [e.scrollWidth, e.clientWidth, e.scrollHeight, e.clientHeight,"
        " document.getElementById('wall-root').getBoundingClientRect().bottom];"
    )
    assert dims[0] <= dims[1] and dims[2] <= dims[3], dims
    assert dims[4] <= dims[3] + 1, dims


@pytest.mark.browser
def test_wall_live_with_kiosk_token(web_ctx, with_health, demo_incidents, web_duo):
    now = web_ctx.clock()
    xss = make_incident(web_ctx.store, web_ctx.cfg, now=now - timedelta(minutes=2), domain="public_security",
                        severity="P2", area_code="510108002002001", title=XSS)
    web_duo.driver.get(f"{web_duo.server_url}/wall?token={KIOSK}")
    web_duo.wait_for_element(f"#wall-item-{xss}")
    web_duo.wait_for_contains_text(f"#wall-item-{xss} .item-title", "<script>alert(1)</script>")
    web_duo.wait_for_contains_text(f"#{ids.WALL_TOTALS}", "及时响应率")
    web_duo.wait_for_contains_class("#wall-health-mqtt_grid", "state-silent")
    web_duo.wait_for_contains_text("#wall-health-mqtt_grid", "静默")
    web_duo.wait_for_contains_text(f"#wall-item-{demo_incidents['p1']} .ops-countdown", "受理 ")

    # An officer acts elsewhere: the wall shows it within 2 s.
    officer = Actor("officer", "officer", "510108")
    web_ctx.service.acknowledge(officer, demo_incidents["p1"], 1)
    web_duo.wait_for_contains_text(f"#wall-item-{demo_incidents['p1']} .status", "已受理", timeout=2)

    # A new P1 from the pipeline appears within 2 s and flashes the screen.
    fresh = make_incident(web_ctx.store, web_ctx.cfg, now=now, domain="elderly_care", severity="P1",
                          area_code="510108006")
    web_ctx.bus.publish([EventsCommitted(now, 1, (fresh,))])
    web_duo.wait_for_element(f"#wall-item-{fresh}", timeout=2)
    web_duo.wait_for_contains_class(f"#{ids.WALL_FLASH}", "flash-a", timeout=2)

    # Patrol mode walks the streets: first 猛追湾街道, whose incidents alone stay in the list.
    web_duo.find_element(f"#{ids.WALL_PATROL_TOGGLE}").click()
    web_duo.wait_for_text_to_equal(f"#{ids.WALL_SCOPE}", "巡屏：猛追湾街道")
    web_duo.wait_for_no_elements(f"#wall-item-{fresh}")
    web_duo.wait_for_element(f"#wall-item-{xss}")

    for size in ((1920, 1080), (3840, 2160)):
        _no_scroll(web_duo, *size)
    assert web_duo.driver.execute_script("return document.querySelectorAll('script[src^=\"http\"]').length") == 0
    logs = web_duo.get_logs()
    assert logs == [], [e["message"][:300] for e in logs]


def test_attention_counts_soon_late_supervised_and_escalated(web_ctx, demo_incidents):
    now = web_ctx.clock()
    soon = make_incident(web_ctx.store, web_ctx.cfg, now=now - timedelta(minutes=5), domain="traffic",
                         severity="P2", status="new", area_code="510108004",
                         ack_due_at=now + timedelta(minutes=10))
    web_ctx.store.write(lambda conn: conn.execute(
        "UPDATE incidents SET supervised = true, escalations = 1 WHERE incident_id = ?", [demo_incidents["p1"]]))
    cols = web_ctx.hot_incidents.columns(now, fresh=True)
    seen = queries.wall_attention(cols, now, None)
    assert seen["soon"] >= 1 and (seen["supervised"], seen["escalated"]) == (1, 1)
    street = queries.wall_attention(cols, now, "510108004")
    assert street["soon"] == 1 and street["supervised"] == 0
    assert soon in set(cols["incident_id"][cols["open"]])
