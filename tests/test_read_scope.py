"""Issue 11 point 4: reads are scoped like actions — detail, related, queue, wall patrol, reports — over HTTP."""

from __future__ import annotations

import pytest
import requests

from layouts import ids
from ops_center.service.incidents import Actor
from ops_center.service.users import create_user
from tests.factories import make_incident
from tests.live_web import http_dash_post, http_login, serve


@pytest.fixture
def base(web_app):
    with serve(web_app) as url:
        yield url


# --- 4: every read path checks area scope ----------------------------------------------------


@pytest.fixture
def two_streets(web_ctx) -> dict[str, int]:
    """One incident in 猛追湾 (officer_mzw's street) and one in 双桥子, with distinctive titles."""
    now = web_ctx.clock()
    return {
        "own": make_incident(web_ctx.store, web_ctx.cfg, now=now, area_code="510108002002001",
                             title="猛追湾本街道事件"),
        "other": make_incident(web_ctx.store, web_ctx.cfg, now=now, area_code="510108004003001",
                               title="双桥子外街道事件"),
    }


def _detail(s, base, app, incident_id: int) -> requests.Response:
    return http_dash_post(s, base, app, ids.CONSOLE_DETAIL,
                          {f"{ids.CONSOLE_GRID}.selectedRows": [{"incident_id": incident_id}],
                           f"{ids.CONSOLE_REFRESH}.data": 0},
                          changed=f"{ids.CONSOLE_GRID}.selectedRows")


def test_a_scoped_officer_cannot_read_another_streets_incident_detail(web_ctx, web_app, base, two_streets):
    with requests.Session() as s:
        http_login(s, base, web_app, "officer_mzw")
        own = _detail(s, base, web_app, two_streets["own"])
        other = _detail(s, base, web_app, two_streets["other"])
    assert own.status_code == 200 and "猛追湾本街道事件" in own.text
    assert other.status_code == 200
    assert "双桥子外街道事件" not in other.text
    assert "不在您的管辖范围内" in other.text
    assert '"incident_id"' not in other.text  # nothing selected, so no action can be aimed at it


def test_a_district_officer_still_reads_every_street(web_app, base, two_streets):
    with requests.Session() as s:
        http_login(s, base, web_app, "officer")
        assert "双桥子外街道事件" in _detail(s, base, web_app, two_streets["other"]).text


def test_related_incidents_outside_the_scope_are_not_listed(web_ctx, web_app, base):
    now = web_ctx.clock()
    own = make_incident(web_ctx.store, web_ctx.cfg, now=now, area_code="510108002002001", title="本街道主事件")
    merged = make_incident(web_ctx.store, web_ctx.cfg, now=now, area_code="510108004003001", title="外街道被合并事件")
    web_ctx.store.write(lambda c: c.execute("UPDATE incidents SET status = 'merged', merged_into = ? "
                                            "WHERE incident_id = ?", [own, merged]))
    with requests.Session() as s:
        http_login(s, base, web_app, "officer_mzw")
        text = _detail(s, base, web_app, own).text
    assert "本街道主事件" in text and "外街道被合并事件" not in text


def test_the_queue_lists_only_the_officers_area(web_app, base, two_streets):
    with requests.Session() as s:
        http_login(s, base, web_app, "officer_mzw")
        queue = http_dash_post(s, base, web_app, ids.CONSOLE_GRID, {f"{ids.CONSOLE_REFRESH}.data": 0,
                                                                  f"{ids.CONSOLE_F_AREA}.value": "510108004"})
    assert "猛追湾本街道事件" not in queue.text  # filtered to 双桥子 by the request …
    assert "双桥子外街道事件" not in queue.text  # … which the officer's scope does not reach


def test_wall_patrol_cannot_show_a_street_outside_the_scope(web_app, base, two_streets):
    with requests.Session() as s:
        http_login(s, base, web_app, "officer_mzw")
        for i in range(12):  # every street index patrol mode could send
            wall = http_dash_post(s, base, web_app, ids.WALL_LIST, {f"{ids.WALL_PATROL}.data": {"on": True, "i": i}})
            assert wall.status_code == 200
            assert "双桥子外街道事件" not in wall.text, i


def test_a_street_scoped_leader_reads_and_exports_only_the_streets_report(web_ctx, web_app, base, two_streets):
    create_user(web_ctx.store, web_ctx.cfg, Actor("admin", "admin", "510108"), username="leader_mzw", name="街道领导",
                role="leader", scope="510108002", password="leader-mzw-2026", now=web_ctx.clock())
    week = {f"{ids.REPORTS_WEEK}.value": "2026-W48"}
    with requests.Session() as s:
        http_login(s, base, web_app, "leader_mzw", "leader-mzw-2026")
        page = http_dash_post(s, base, web_app, ids.REPORTS_TITLE, week)
        export = http_dash_post(s, base, web_app, ids.REPORTS_DOWNLOAD,
                                {**week, f"{ids.REPORTS_CSV_BUTTON}.n_clicks": 1},
                                changed=f"{ids.REPORTS_CSV_BUTTON}.n_clicks")
    assert page.status_code == 200 and "猛追湾" in page.text and "双桥子" not in page.text
    assert export.status_code == 200 and "猛追湾" in export.text and "双桥子" not in export.text
    with requests.Session() as s:
        http_login(s, base, web_app, "leader")
        assert "双桥子" in http_dash_post(s, base, web_app, ids.REPORTS_TABLE, week).text


def test_drill_down_to_another_street_shows_the_officers_own_street(web_ctx, web_app, base, two_streets):
    """The areas page takes a posted place only inside the scope (regression guard: this held before issue 11)."""
    with requests.Session() as s:
        http_login(s, base, web_app, "officer_mzw")
        drill = http_dash_post(s, base, web_app, ids.AREAS_TITLE, {f"{ids.AREAS_STATE}.data": {"code": "510108004"},
                                                                  f"{ids.AREAS_KPI}.value": "created",
                                                                  f"{ids.AREAS_RANGE}.value": "7d"})
    assert drill.status_code == 200
    mzw, sqz = web_ctx.cfg.area_by_code["510108002"].name, web_ctx.cfg.area_by_code["510108004"].name
    assert mzw in drill.text and sqz not in drill.text
