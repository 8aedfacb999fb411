"""A grid worker's phone report goes through the MQTT grid parser and the one pipeline: same event, same dedup."""

from __future__ import annotations

import json
from datetime import timedelta

import orjson
import pytest

from ingest.payloads import Invalid, parse_grid
from ingest.phone_report import PhoneReport, ReportRefused, new_report_id, payload, submit
from tests.factories import grid_in
from tests.fixtures_ingest import make_app

PHOTO = "a" * 64 + ".jpg"


@pytest.fixture
def app(cfg, config_path, db_path):
    ingest = make_app(cfg, config_path, db_path)
    yield ingest
    ingest.close()


def test_a_phone_report_lands_as_a_grid_report_with_its_photos(app, cfg, fixed_now):
    grid = grid_in(cfg, "510108002")
    lat, lon = cfg.area_by_code[grid].centroid
    report = PhoneReport(new_report_id("grid_mzw", fixed_now), "grid_mzw", grid, "望平街一处井盖破损，有人绊倒",
                         "manhole_displaced", lat + 0.0001, lon, (PHOTO,))
    rid = submit(cfg, app.registry, app.pipeline, report, ["510108002"], fixed_now)
    rows = app.rows("SELECT source, source_id, area_code, category, fields, incident_id, text FROM events "
                    "WHERE natural_key = ?", [rid])
    assert len(rows) == 1
    source, source_id, area, category, fields, incident_id, text = rows[0]
    assert (source, source_id, area, category) == ("grid", "mqtt_grid", grid, "manhole_displaced")
    fields = json.loads(fields)
    assert fields["photos"] == [PHOTO] and fields["reporter"] == "grid_mzw" and fields["position"] == "reported"
    assert incident_id is not None and text.startswith("望平街")
    # exactly the event the MQTT grid source would have made of the same payload
    topic = f"{cfg.mqtt.topic_prefix}/grid/{grid}/report"
    mqtt_event = parse_grid(cfg, app.registry, "mqtt_grid", topic, orjson.dumps(payload(report, fixed_now)), fixed_now)
    assert mqtt_event.fields == fields and mqtt_event.area_code == area


def test_a_double_tap_files_one_report(app, cfg, fixed_now):
    grid = grid_in(cfg, "510108002")
    report = PhoneReport("PH-grid_mzw-twice", "grid_mzw", grid, "路灯不亮")
    submit(cfg, app.registry, app.pipeline, report, ["510108002"], fixed_now)
    submit(cfg, app.registry, app.pipeline, report, ["510108002"], fixed_now + timedelta(seconds=3))
    assert app.count("SELECT count(*) FROM events WHERE natural_key = 'PH-grid_mzw-twice'") == 1


@pytest.mark.parametrize(("change", "message"), [
    ({"text": "   "}, "请填写情况描述"),
    ({"text": "长" * 1001}, "最多 1000 字"),
    ({"grid_code": "510108004001001"}, "本人负责网格"),
    ({"grid_code": ""}, "本人负责网格"),
])
def test_an_incomplete_or_foreign_report_is_refused_before_anything_is_filed(app, cfg, fixed_now, change, message):
    base = {"report_id": "PH-x", "reporter": "grid_mzw", "grid_code": grid_in(cfg, "510108002"), "text": "占道经营"}
    with pytest.raises(ReportRefused, match=message):
        submit(cfg, app.registry, app.pipeline, PhoneReport(**{**base, **change}), ["510108002"], fixed_now)
    assert app.count("SELECT count(*) FROM events") == 0
    assert app.count("SELECT count(*) FROM dead_letters") == 0


def test_what_the_parser_refuses_is_a_dead_letter_and_a_clear_refusal(app, cfg, fixed_now):
    grid = grid_in(cfg, "510108002")
    forged = PhoneReport("PH-bad", "grid_mzw", grid, "垃圾满溢", photos=("../../web_secret_key",))
    with pytest.raises(ReportRefused, match="上报内容有误（invalid_value）"):
        submit(cfg, app.registry, app.pipeline, forged, ["510108002"], fixed_now)
    rows = app.rows("SELECT source_id, reason FROM dead_letters")
    assert rows == [("mqtt_grid", "invalid_value")]
    assert app.count("SELECT count(*) FROM events") == 0


@pytest.mark.parametrize(("photos", "reason"), [("x.jpg", "wrong_type"), ([1], "wrong_type"),
                                                ([PHOTO] * 10, "invalid_value"), (["x.jpg"], "invalid_value")])
def test_the_grid_parser_checks_photo_ids(cfg, fixed_now, photos, reason):
    grid = grid_in(cfg, "510108002")
    raw = orjson.dumps({"report_id": "r", "reporter": "w", "text": "t", "ts": fixed_now.isoformat(), "photos": photos})
    with pytest.raises(Invalid) as err:
        parse_grid(cfg, {}, "mqtt_grid", f"ops/grid/{grid}/report", raw, fixed_now)
    assert err.value.reason == reason
