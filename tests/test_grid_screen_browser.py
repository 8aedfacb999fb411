"""网格上报 on a phone: a worker reports with a photo and the browser's position, through the MQTT grid pipeline."""

from __future__ import annotations

import json

import pytest
from werkzeug.security import generate_password_hash

from layouts import ids  # ids only: never a page module
from tests.factories import grid_in
from tests.fixtures_phone import as_desk, as_phone, horizontal_overflow, map_drawn, place_at, png_file
from tests.fixtures_web import click_settled, login

GRID_USER = "grid_t1"


@pytest.fixture
def grid_worker(live_ctx, fixed_now):
    """A grid worker of one grid of 建华社区 (not the configured one: this test owns its user)."""
    from ops_center.store.store import to_db

    grid = grid_in(live_ctx.cfg, "510108002")
    live_ctx.store.write(lambda conn: conn.execute(
        "INSERT INTO users (username, name, role, password_hash, scope, active, updated_at) VALUES (?, ?, 'grid', ?, ?, "
        "true, ?)", [GRID_USER, "第1网格网格员", generate_password_hash("grid2026"), grid, to_db(fixed_now)]))
    return GRID_USER


@pytest.mark.browser
def test_a_grid_worker_reports_from_the_phone(live_ctx, grid_worker, live_duo, tmp_path):
    cfg = live_ctx.cfg
    grid = grid_in(cfg, "510108002")
    lat, lon = cfg.area_by_code[grid].centroid
    driver = live_duo.driver
    as_phone(driver)
    place_at(driver, live_duo.server_url, lat + 0.0002, lon - 0.0001)
    login(live_duo, GRID_USER, "grid2026")
    live_duo.wait_for_element(f"#{ids.GRID_SUBMIT}")
    assert driver.current_url.endswith("/grid")  # the worker lands on their screen
    assert horizontal_overflow(driver) == 0

    # Nothing typed: refused, nothing filed.
    click_settled(live_duo, f"#{ids.GRID_SUBMIT}")
    live_duo.wait_for_contains_text(f"#{ids.GRID_MESSAGE}", "请填写情况描述")

    # A file that only claims to be a photo is refused by its bytes.
    fake = tmp_path / "偷拍.jpg"
    fake.write_bytes(b"<html>not a photo</html>")
    upload = driver.find_element("css selector", f"#{ids.GRID_PHOTOS} input[type=file]")
    upload.send_keys(str(fake))
    live_duo.wait_for_contains_text(f"#{ids.GRID_MESSAGE}", "“偷拍.jpg”不是 JPEG、PNG 或 WebP 图片")
    upload = driver.find_element("css selector", f"#{ids.GRID_PHOTOS} input[type=file]")
    driver.execute_script("arguments[0].value = '';", upload)  # a multiple input would add to the refused file
    upload.send_keys(str(png_file(tmp_path)))
    live_duo.wait_for_contains_text(f"#{ids.GRID_MESSAGE}", "已添加 1 张照片")
    live_duo.wait_for_element(f"#{ids.GRID_PHOTO_PREVIEW} img.photo-thumb")

    click_settled(live_duo, f"#{ids.GRID_LOCATE}")
    live_duo.wait_for_contains_text(f"#{ids.GRID_LOCATION_TEXT}", "已定位（精度约 12 米）")
    driver.find_element("css selector", f"#{ids.GRID_TEXT}").send_keys("望平街路口井盖松动，车辆经过有响声")
    driver.save_screenshot("/tmp/shots/grid-report-390x844.png")
    click_settled(live_duo, f"#{ids.GRID_SUBMIT}")
    live_duo.wait_for_contains_text(f"#{ids.GRID_MESSAGE}", "已上报（编号 PH-grid_t1-")
    assert driver.find_element("css selector", f"#{ids.GRID_TEXT}").get_attribute("value") == ""
    live_duo.wait_for_contains_text(f"#{ids.GRID_MINE}", "望平街路口井盖松动")  # 我的上报 shows it with its case

    rows = live_ctx.store.query("SELECT source_id, area_code, lat, lon, fields, incident_id FROM events "
                                "WHERE source = 'grid'")
    assert len(rows) == 1
    source_id, area, ev_lat, ev_lon, fields, incident_id = rows[0]
    fields = json.loads(fields)
    assert (source_id, area, fields["reporter"], fields["position"]) == ("mqtt_grid", grid, GRID_USER, "reported")
    assert abs(ev_lat - (lat + 0.0002)) < 1e-6 and abs(ev_lon - (lon - 0.0001)) < 1e-6
    assert len(fields["photos"]) == 1 and fields["photos"][0].endswith(".png") and incident_id is not None
    photo = live_ctx.store.path.parent / "photos" / fields["photos"][0]
    assert photo.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The served photo reaches the worker (its own report, inside its grid).
    driver.get(f"{live_duo.server_url}/photos/{incident_id}/{fields['photos'][0]}")
    assert driver.execute_script("return document.contentType") == "image/png"

    as_desk(driver)
    driver.get(live_duo.server_url + "/grid")
    map_drawn(driver, ids.GRID_MAP)
    driver.save_screenshot("/tmp/shots/grid-report-1440x900.png")
    assert horizontal_overflow(driver) == 0
    logs = live_duo.get_logs()
    assert logs == [], [e["message"][:300] for e in logs]
