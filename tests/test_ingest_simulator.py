"""The demo simulator: deterministic for a seed, every sensor kind, six domains of text, bursts, bad input."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from ingest.georeport import decode_csv
from ingest.payloads import Invalid, parse_grid, parse_sensor
from ingest.simulator import Scenario, Simulator
from ops_center.core.devices import DEVICE_KINDS, load_devices
from tests.fixtures_ingest import Subscriber, isolated_cfg, wait_until

DAY = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # 2026-11-24 00:00 Asia/Shanghai


@pytest.fixture(scope="module")
def registry(cfg, config_path):
    return load_devices(config_path.parent / cfg.devices.path, cfg)


@pytest.fixture(scope="module")
def day(cfg, registry):
    """Six hours of the demo day (afternoon and evening, where the bursts are) at 60 messages/min."""
    scenario = Scenario(cfg, registry, seed=7, events_per_minute=60, malformed_ratio=0.01)
    start = DAY + timedelta(hours=14)
    return scenario, list(scenario.generate(start, start + timedelta(hours=8)))


def test_same_seed_same_bytes_other_seed_other_bytes(cfg, registry):
    start = DAY + timedelta(hours=9)

    def run(seed):
        return [(m.at, m.channel, m.target, m.payload)
                for m in Scenario(cfg, registry, seed=seed, events_per_minute=120).generate(start, start + timedelta(minutes=20))]

    first = run(20261123)
    assert first == run(20261123)
    assert first != run(20261124)
    assert 1800 < len(first) < 3200  # ≈ 120/min × 20 min × morning rhythm 1.2


def test_rate_is_adjustable(cfg, registry):
    start = DAY + timedelta(hours=10)
    slow = list(Scenario(cfg, registry, seed=1, events_per_minute=30).generate(start, start + timedelta(minutes=30)))
    fast = list(Scenario(cfg, registry, seed=1, events_per_minute=300).generate(start, start + timedelta(minutes=30)))
    assert 7 < len(fast) / len(slow) < 13


def test_day_has_every_kind_six_domains_bursts_repeats_and_some_bad_input(cfg, registry, day):
    scenario, messages = day
    assert [m.at for m in messages] == sorted(m.at for m in messages)
    kinds, bad, texts, repeats = Counter(), Counter(), [], Counter()
    for m in messages:
        if m.channel != "mqtt":
            continue
        repeats[(m.target, m.payload)] += 1
        parse = parse_grid if "/grid/" in m.target else parse_sensor
        try:
            ev = parse(cfg, registry, "sim", m.target, m.payload, m.at)
        except Invalid as exc:
            bad[exc.reason] += 1
            continue
        if ev.kind:
            kinds[ev.kind] += 1
        else:
            texts.append(ev.text)
    assert set(kinds) == set(DEVICE_KINDS)
    mqtt_total = sum(1 for m in messages if m.channel == "mqtt")
    assert 0.004 < sum(bad.values()) / mqtt_total < 0.02
    assert {"malformed_json", "invalid_utf8", "wrong_type", "missing_field", "unknown_device", "unknown_grid"} <= set(bad)
    assert max(repeats.values()) >= 3  # one alarm re-sent byte for byte
    for word in ("摊贩", "噪音", "电动车", "追尾", "老人", "打架"):  # city management, environment, fire, traffic …
        assert any(word in t for t in texts), word
    # the rainstorm: water levels rise well above the waterlogging threshold during the burst only
    rain_start, rain_end = scenario.rain_window(messages[0].at)
    levels_in, levels_out = [], []
    for m in messages:
        if "/sensor/water_level/" in m.target:
            try:
                body = orjson.loads(m.payload)
            except orjson.JSONDecodeError:
                continue  # one of the deliberately broken messages
            if isinstance(body.get("value"), float):
                (levels_in if rain_start <= m.at < rain_end else levels_out).append(body["value"])
    assert max(levels_in) >= 50 > max(levels_out)
    # the evening noise peak
    noise = Counter(m.at.astimezone(scenario.tz).hour for m in messages if "/sensor/noise/" in m.target)
    assert noise[20] + noise[21] > 2 * (noise[14] + noise[15]) / 2


def test_hotline_files_are_valid_json_and_csv_in_both_encodings(cfg, registry, day):
    _, messages = day
    files = [m for m in messages if m.channel == "file"]
    suffixes = Counter(m.target.rsplit(".", 1)[1] for m in files)
    assert suffixes["json"] > 0 and suffixes["csv"] > 0
    encodings = set()
    for m in files:
        if m.target.endswith(".json"):
            assert all("service_request_id" in r for r in orjson.loads(m.payload))
        else:
            try:
                m.payload.decode("utf-8")
                encodings.add("utf-8")
            except UnicodeDecodeError:
                encodings.add("gbk")
            rows = list(csv.DictReader(io.StringIO(decode_csv(m.payload))))
            assert rows and all(r["service_request_id"] for r in rows)
    assert encodings == {"utf-8", "gbk"}


@pytest.mark.mqtt
def test_simulator_publishes_through_the_broker_and_drops_files(cfg, registry, mosquitto, tmp_path):
    test_cfg = isolated_cfg(cfg, mosquitto.url)
    sub = Subscriber(mosquitto.host, mosquitto.port, f"{test_cfg.mqtt.topic_prefix}/#", f"{test_cfg.mqtt.client_id}-l")
    sim = Simulator(test_cfg, registry, drop_folder=tmp_path / "drop", events_per_minute=3000)
    sim.start()
    try:
        wait_until(lambda: len(sub.messages) >= 50, 20, "50 simulated messages")
        wait_until(lambda: list((tmp_path / "drop").glob("*.json")), 20, "a hotline file")
        assert sim.health().state == "running" and sim.health().messages_per_min >= 50
        assert not list((tmp_path / "drop").glob("*.tmp"))
    finally:
        sim.stop()
        sub.close()
