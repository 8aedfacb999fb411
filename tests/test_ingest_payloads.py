"""Payload validation: every bad input in tests/data/payloads/ maps to its dead-letter reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.payloads import REASONS, Invalid, parse_grid, parse_sensor, truncate
from ops_center.core.devices import load_devices

PAYLOADS = Path(__file__).parent / "data" / "payloads"
CASES = json.loads((PAYLOADS / "cases.json").read_text(encoding="utf-8"))["cases"]
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
GRID = "510108016002002"


def case_input(case: dict, prefix: str, max_bytes: int) -> tuple[str, bytes]:
    topic = case["topic"].format(prefix=prefix, grid=GRID)
    if case["file"] == "oversized":
        raw = b'{"ts": "2026-11-24T10:00:00+08:00", "event": "alarm", "pad": "' + b"x" * max_bytes + b'"}'
    else:
        raw = (PAYLOADS / case["file"]).read_bytes()
    return topic, raw


@pytest.fixture(scope="module")
def registry(cfg, config_path):
    return load_devices(config_path.parent / cfg.devices.path, cfg)


def parse(cfg, registry, topic: str, raw: bytes):
    fn = parse_grid if "/grid/" in topic else parse_sensor
    return fn(cfg, registry, "src", topic, raw, NOW)


@pytest.mark.parametrize("case", CASES, ids=[f"{c['file']}->{c['reason']}" for c in CASES])
def test_bad_payload_gets_its_reason(cfg, registry, case):
    assert case["reason"] in REASONS
    topic, raw = case_input(case, cfg.mqtt.topic_prefix, cfg.mqtt.max_payload_bytes)
    with pytest.raises(Invalid) as info:
        parse(cfg, registry, topic, raw)
    assert info.value.reason == case["reason"], info.value.detail


def test_sensor_event_is_located_by_its_device(cfg, registry):
    dev = registry["SMK-0001"]
    raw = b'{"ts": "2026-11-24T10:00:00+08:00", "event": "alarm", "battery": 77}'
    ev = parse_sensor(cfg, registry, "mqtt_sensors", "ops/sensor/smoke/SMK-0001", raw, NOW)
    assert (ev.source, ev.kind, ev.device_id, ev.event) == ("sensor", "smoke", "SMK-0001", "alarm")
    assert ev.area_code == dev.area_code and (ev.lat, ev.lon, ev.address) == (dev.lat, dev.lon, dev.address)
    assert ev.fields["lone_elder"] is dev.lone_elder and ev.fields["battery"] == 77
    assert ev.occurred_at == datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    assert ev.natural_key == "SMK-0001|2026-11-24T02:00:00+00:00|alarm"


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("2026-11-24T10:00:00+08:00", datetime(2026, 11, 24, 2, 0, tzinfo=UTC)),
        ("2026-11-24T02:00:00Z", datetime(2026, 11, 24, 2, 0, tzinfo=UTC)),
        ("2026-11-24 10:00:00", datetime(2026, 11, 24, 2, 0, tzinfo=UTC)),  # naive: site time
        (1795485600, datetime(2026, 11, 24, 2, 0, tzinfo=UTC)),
        (1795485600000, datetime(2026, 11, 24, 2, 0, tzinfo=UTC)),
    ],
)
def test_sensor_time_forms_give_one_natural_key(cfg, registry, ts, expected):
    raw = json.dumps({"ts": ts, "metric": "pm25", "value": 80}).encode()
    ev = parse_sensor(cfg, registry, "s", "ops/sensor/aqi/AQI-0001", raw, NOW)
    assert ev.occurred_at == expected
    assert ev.natural_key == f"AQI-0001|{expected.isoformat()}|pm25"


def test_reading_without_metric_defaults_to_kind(cfg, registry):
    ev = parse_sensor(cfg, registry, "s", "ops/sensor/noise/" + registry.by_kind["noise"][0].device_id,
                      b'{"ts": 1795485600, "value": 61.5}', NOW)
    assert (ev.metric, ev.value) == ("noise", 61.5)


def test_grid_report_is_located_by_grid_code(cfg, registry):
    raw = json.dumps({"report_id": 7, "reporter": "王建国", "category": "占道经营", "text": "望平街人行道摊贩占道",
                      "ts": "2026-11-24T10:00:00+08:00", "photo_url": "https://x.invalid/1.jpg"},
                     ensure_ascii=False).encode()
    ev = parse_grid(cfg, registry, "mqtt_grid", f"ops/grid/{GRID}/report", raw, NOW)
    assert (ev.source, ev.natural_key, ev.area_code, ev.category) == ("grid", "7", GRID, "占道经营")
    assert ev.fields["reporter"] == "王建国" and ev.fields["photo_url"].endswith("1.jpg")
    assert (ev.lat, ev.lon) == cfg.area_by_code[GRID].centroid


def test_grid_report_outside_the_site_follows_areas_outside(cfg, registry):
    """The hotline's rule, through the same helper: a dead letter by default, or 区外 on the district."""
    body = {"report_id": "G-9", "reporter": "王建国", "text": "路灯不亮", "ts": "2026-11-24T10:00:00+08:00"}
    outside = json.dumps({**body, "lat": 40.69, "lon": -73.98}, ensure_ascii=False).encode()
    with pytest.raises(Invalid) as err:
        parse_grid(cfg, registry, "mqtt_grid", f"ops/grid/{GRID}/report", outside, NOW)
    assert (err.value.reason, err.value.detail) == ("outside_area", "lat/lon 40.69,-73.98 is outside the site")
    flag = cfg.model_copy(update={"areas": cfg.areas.model_copy(update={"outside": "flag"})})
    ev = parse_grid(flag, registry, "mqtt_grid", f"ops/grid/{GRID}/report", outside, NOW)
    assert (ev.area_code, ev.lat, ev.lon) == (cfg.site.default_area, 40.69, -73.98)
    assert ev.fields["outside_area"] is True and ev.fields["grid_code"] == GRID
    lat, lon = cfg.area_by_code[GRID].centroid
    inside = parse_grid(flag, registry, "mqtt_grid", f"ops/grid/{GRID}/report",
                        json.dumps({**body, "lat": lat, "lon": lon}, ensure_ascii=False).encode(), NOW)
    assert inside.area_code == GRID and "outside_area" not in inside.fields


def test_truncate_keeps_logs_short_and_safe():
    assert truncate(b"\xff" * 1000).endswith("(+800 bytes)")
    assert truncate(b"ok") == "ok"
