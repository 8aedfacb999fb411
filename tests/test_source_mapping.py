"""Per-source mapping: a real-shaped NYC 311 export with its own columns, US dates and New York time,
a category map from the source's own codes, check-config on maps, and points outside the site."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.drop_folder import DropFolder
from ingest.georeport import record_to_event
from ingest.payloads import Invalid, parse_sensor
from ops_center.core.config import ConfigError, SourceConfig, SourceMapping, load_config
from ops_center.core.devices import load_devices
from ops_center.core.geo import outside_site
from ops_center.read.queries_mapping import unmapped_codes
from tests.fixtures_ingest import make_app

HOTLINE = Path(__file__).parent / "data" / "hotline"
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
NYC = SourceMapping(
    columns={"Unique Key": "service_request_id", "Created Date": "requested_datetime",
             "Resolution Action Updated Date": "updated_datetime", "Complaint Type": "service_name",
             "Descriptor": "description", "Status": "status", "Resolution Description": "status_notes",
             "Incident Address": "address", "Incident Zip": "zipcode", "Latitude": "lat", "Longitude": "long",
             "Agency": "agency_responsible"},
    date_formats=("%m/%d/%Y %I:%M:%S %p",), timezone="America/New_York",
    category_map="config/mappings/open311_services.yaml",
)


def nyc_cfg(cfg, tmp_path, outside="flag"):
    src = SourceConfig(id="nyc_export", kind="drop_folder", name="纽约311导出", path=str(tmp_path / "drop"),
                       mapping=NYC)
    return cfg.model_copy(update={
        "sources": (*cfg.sources, src),
        "simulator": cfg.simulator.model_copy(update={"enabled": False}),
        "areas": cfg.areas.model_copy(update={"outside": outside}),
        # the export reaches back to July, past the 30-day dedup horizon that bounds plausible times by default
        "ingest": cfg.ingest.model_copy(update={"max_age": timedelta(days=365)}),
    })


@pytest.fixture
def nyc_app(cfg, config_path, db_path, tmp_path):
    app = make_app(nyc_cfg(cfg, tmp_path), config_path, db_path, clock=lambda: NOW)
    try:
        yield app
    finally:
        app.close()


def drop(app, tmp_path) -> DropFolder:
    folder = DropFolder(app.cfg, app.cfg.source("nyc_export"), tmp_path / "drop", app.pipeline, app.registry,
                        clock=lambda: NOW, settle_s=0)
    folder.prepare()
    shutil.copy(HOTLINE / "nyc311_export.csv", folder.path / "nyc311_export.csv")
    return folder


def test_nyc_export_with_column_map_us_dates_and_new_york_time(nyc_app, tmp_path):
    folder = drop(nyc_app, tmp_path)
    assert folder.scan_once()[0][1] == "processed"
    rows = {r[0]: r[1:] for r in nyc_app.rows(
        "SELECT fields->>'request_id', occurred_at, fields->>'requested_datetime', natural_key, "
        "fields->>'closed_at_source', fields->'extra'->>'Borough' FROM events")}
    assert set(rows) == {"59893411", "59893412", "59893413", "59893414"}
    # 10:00 AM in New York in November (EST, UTC−5) is 15:00 UTC, not 02:00 (Asia/Shanghai)
    assert rows["59893411"][1] == "2026-11-24T15:00:00+00:00"
    assert rows["59893413"][1] == "2026-07-05T01:15:00+00:00"  # EDT, UTC−4, across midnight
    closed = rows["59893412"]
    assert closed[0] == datetime(2026, 11, 25, 6, 10, tzinfo=UTC).replace(tzinfo=None)  # 01:10 AM EST, naive UTC in the store
    assert closed[2:4] == ("59893412@2026-11-25T06:10:00+00:00", "true")
    assert rows["59893411"][4] == "BROOKLYN"  # the export's other columns are kept


def test_category_map_before_text_rules_and_fallback(nyc_app, tmp_path):
    drop(nyc_app, tmp_path).scan_once()
    inc = {r[0]: r[1:] for r in nyc_app.rows(
        "SELECT e.fields->>'request_id', e.rule_id, i.domain, i.category, i.severity, i.status, i.title "
        "FROM events e JOIN incidents i USING (incident_id)")}
    assert inc["59893411"][:4] == ("map.nyc_export", "traffic", "illegal_parking", "P3")
    assert inc["59893412"][:5] == ("map.nyc_export", "traffic", "signal_fault", "P2", "closed")  # closed at source
    assert inc["59893413"][1:3] == ("environment", "noise")
    # a code the map does not list falls back to the text rules, and is counted as unmapped
    assert not inc["59893414"][0].startswith("map.")
    assert inc["59893411"][5].startswith("【区外】")  # New York is outside 成华区: flagged, by configuration
    df = unmapped_codes(nyc_app.ctx.store)
    assert df.to_dict("records") == [{"source_id": "nyc_export", "code": "Litter Basket Request", "count": 1,
                                      "last_seen": df["last_seen"].iloc[0]}]


def test_outside_area_is_a_dead_letter_by_default(cfg, tmp_path):
    strict = nyc_cfg(cfg, tmp_path, outside="dead_letter")
    record = {"Unique Key": "1", "Created Date": "11/24/2026 10:00:00 AM", "Complaint Type": "Illegal Parking",
              "Latitude": "40.69", "Longitude": "-73.98"}
    with pytest.raises(Invalid) as err:
        record_to_event(strict, None, "nyc_export", record, NOW, "t", NYC)
    assert err.value.reason == "outside_area"
    inside = record_to_event(strict, None, "nyc_export", {**record, "Latitude": "30.6581", "Longitude": "104.0852"},
                             NOW, "t", NYC)
    assert inside.area_code != strict.site.default_area and "outside_area" not in inside.fields
    bounded = strict.model_copy(update={"areas": strict.areas.model_copy(update={"bounds": (30.6, 104.0, 30.62, 104.05)})})
    assert outside_site(bounded, 30.6581, 104.0852) and not outside_site(bounded, 30.61, 104.02)


def test_unparseable_date_names_the_formats(cfg, tmp_path):
    with pytest.raises(Invalid) as err:
        record_to_event(nyc_cfg(cfg, tmp_path), None, "nyc_export",
                        {"Unique Key": "1", "Created Date": "24.11.2026", "Complaint Type": "Noise"}, NOW, "t", NYC)
    assert err.value.reason == "invalid_value" and "%m/%d/%Y %I:%M:%S %p" in err.value.detail


@pytest.mark.parametrize(("mapping", "message"), [
    ("mapping: {category_map: nowhere.yaml}", "category map"),
    ("mapping: {timezone: Mars/Olympus}", "unknown time zone 'Mars/Olympus'"),
    ("mapping: {columns: {Foo: bar}}", "unknown field(s) bar"),
    ("mapping: {category_map: bad_map.yaml}", "bad_map.yaml:4: code 'X': unknown domain 'weather'"),
])
def test_check_config_validates_mappings(config_path, tmp_path, mapping, message):
    text = config_path.read_text(encoding="utf-8")
    for name in ("config", "rules", "data"):
        src = config_path.parent / name
        if src.exists() and not (tmp_path / name).exists():
            (tmp_path / name).symlink_to(src)
    (tmp_path / "bad_map.yaml").write_text("fields: [service_code]\ncodes:\n  ok: {domain: traffic, category: a}\n"
                                           "  X: {domain: weather, category: rain}\n", encoding="utf-8")
    line = "  - {id: hotline_drop, kind: drop_folder,"
    assert line in text
    text = text.replace(line, f"  - {{id: extra_api, kind: open311, name: x, url: 'http://x/requests.json', {mapping}}}\n{line}")
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "config.yaml")
    assert message in str(err.value)


def test_check_config_validates_the_open311_server(config_path, tmp_path):
    text = config_path.read_text(encoding="utf-8")
    for name in ("config", "rules", "data"):
        (tmp_path / name).symlink_to(config_path.parent / name)
    on = text.replace("open311_server:\n  enabled: false", "open311_server:\n  enabled: true")
    assert on != text
    (tmp_path / "config.yaml").write_text(on, encoding="utf-8")
    assert load_config(tmp_path / "config.yaml").open311_server.enabled
    (tmp_path / "config.yaml").write_text(on.replace("services: config/mappings/ops_services.yaml",
                                                     "services: config/mappings/nowhere.yaml"), encoding="utf-8")
    with pytest.raises(ConfigError, match="service list .*nowhere.yaml not found"):
        load_config(tmp_path / "config.yaml")
    (tmp_path / "config.yaml").write_text(on.replace("demo-grid-worker-key-0001", "demo-citizen-app-key-0001"),
                                          encoding="utf-8")
    with pytest.raises(ConfigError, match="api_key used twice"):
        load_config(tmp_path / "config.yaml")


VENDOR_MAP = "config/mappings/sensor_vendor_example.yaml"


def vendor_cfg(cfg):
    """The demo config with its MQTT sensor source reading the example vendor's alarm codes."""
    sources = tuple(s.model_copy(update={"mapping": SourceMapping(category_map=VENDOR_MAP)})
                    if s.id == "mqtt_sensors" else s for s in cfg.sources)
    return cfg.model_copy(update={"sources": sources})


@pytest.mark.parametrize(("body", "code", "mapped"), [
    ('"alarm_type": "E03"', "E03", ("fire_safety", "high_temperature", "P1", "温度过高")),
    ('"code": "0x21"', "0x21", ("fire_safety", "fire_panel_fire", "P1", "消防主机火警")),
    ('"alarm_type": "E99"', "E99", None),  # unlisted: the rules decide, the admin screen counts it
    ('"alarm_type": "E03", "mapped": {"domain": "traffic"}', "E03", ("fire_safety", "high_temperature", "P1", "温度过高")),
])
def test_sensor_vendor_code_maps_before_the_rules(cfg, config_path, body, code, mapped):
    vendor = vendor_cfg(cfg)
    registry = load_devices(config_path.parent / cfg.devices.path, cfg)
    raw = b'{"ts": "2026-11-25T16:00:00+08:00", "event": "alarm", ' + body.encode() + b"}"
    ev = parse_sensor(vendor, registry, "mqtt_sensors", "ops/sensor/smoke/SMK-0001", raw, NOW)
    assert ev.fields["source_code"] == code
    got = ev.fields.get("mapped")
    assert (tuple(got[k] for k in ("domain", "category", "severity", "name")) if got else None) == mapped
    # without the map, or for a restore, the vendor's code is only kept as evidence
    plain = parse_sensor(cfg, registry, "mqtt_sensors", "ops/sensor/smoke/SMK-0001", raw, NOW)
    restore = parse_sensor(vendor, registry, "mqtt_sensors", "ops/sensor/smoke/SMK-0001",
                           raw.replace(b'"alarm"', b'"restore"'), NOW)
    for ev in (plain, restore):
        assert "source_code" not in ev.fields and "mapped" not in ev.fields


@pytest.mark.parametrize(("source", "message"), [
    ("{id: mqtt_sensors, kind: mqtt_sensor, name: x, mapping: {category_map: no_fields.yaml}}",
     "category map no_fields.yaml must list `fields`"),
    ("{id: mqtt_sensors, kind: mqtt_sensor, name: x, mapping: {category_map: bad_map.yaml}}",
     "bad_map.yaml:4: code 'X': unknown domain 'weather'"),
    ("{id: mqtt_grid, kind: mqtt_grid, name: x, mapping: {category_map: " + VENDOR_MAP + "}}",
     "kind mqtt_grid has no category map"),
])
def test_check_config_validates_sensor_maps(config_path, tmp_path, source, message):
    text = config_path.read_text(encoding="utf-8")
    for name in ("config", "rules", "data"):
        (tmp_path / name).symlink_to(config_path.parent / name)
    (tmp_path / "no_fields.yaml").write_text("codes:\n  E01: {domain: fire_safety, category: smoke_alarm}\n",
                                             encoding="utf-8")
    (tmp_path / "bad_map.yaml").write_text("fields: [alarm_type]\ncodes:\n  ok: {domain: traffic, category: a}\n"
                                           "  X: {domain: weather, category: rain}\n", encoding="utf-8")
    good = text.replace("{id: mqtt_sensors, kind: mqtt_sensor, name: 物联感知, heartbeat: 5m}",
                        "{id: mqtt_sensors, kind: mqtt_sensor, name: 物联感知, mapping: {category_map: " + VENDOR_MAP + "}}")
    assert good != text
    (tmp_path / "config.yaml").write_text(good, encoding="utf-8")
    assert load_config(tmp_path / "config.yaml").source("mqtt_sensors").mapping.category_map == VENDOR_MAP
    kind = source.split("kind: ")[1].split(",")[0]
    lines = [ln for ln in good.splitlines() if f"kind: {kind}," not in ln]
    at = next(i for i, ln in enumerate(lines) if ln.startswith("sources:"))
    lines.insert(at + 1, f"  - {source}")
    (tmp_path / "config.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "config.yaml")
    assert message in str(err.value)
