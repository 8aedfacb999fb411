"""`for`: a sensor condition must hold for a duration; a reading back in range cancels or clears it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rules.engine import RuleState
from tests.fixtures_rules import T0, reading

SUSTAINED = """
rules:
  - id: level_high
    when: {kind: water_level, metric: level_cm, value: {gte: 20}}
    for: 10m
    classify: {domain: city_management, category: waterlogging, severity: P2}
    dedup: {key: "{kind}:{device_id}", window: 6h}
"""


def level(value: float, minutes: float, device: str = "WL-1"):
    return reading("water_level", device, at=T0 + timedelta(minutes=minutes), metric="level_cm", value=value)


@pytest.fixture
def sustained(rules_from):
    return rules_from(SUSTAINED)


def test_fires_only_once_the_duration_has_passed(sustained):
    state = RuleState()
    assert sustained.evaluate(level(25, 0), state) == []
    assert sustained.evaluate(level(30, 9.9), state) == []
    (d,) = sustained.evaluate(level(31, 10), state)
    assert (d.rule_id, d.clears, d.dedup_key) == ("level_high", False, "water_level:WL-1")
    assert sustained.evaluate(level(33, 11), state) == []  # one alert per episode, not one per reading


def test_reading_back_in_range_cancels_the_pending_alert(sustained):
    state = RuleState()
    sustained.evaluate(level(25, 0), state)
    assert sustained.evaluate(level(5, 6), state) == []  # back in range before 10 minutes: nothing to clear
    assert len(state) == 0
    assert sustained.evaluate(level(25, 12), state) == []  # the clock starts again here
    (d,) = sustained.evaluate(level(25, 22), state)
    assert d.rule_id == "level_high"


def test_reading_back_in_range_after_firing_clears(sustained):
    state = RuleState()
    sustained.evaluate(level(25, 0), state)
    sustained.evaluate(level(25, 10), state)
    (d,) = sustained.evaluate(level(3, 15), state)
    assert d.clears and d.dedup_key == "water_level:WL-1" and d.title.startswith("[恢复]")


def test_devices_are_tracked_separately(sustained):
    state = RuleState()
    sustained.evaluate(level(25, 0, "A"), state)
    assert sustained.evaluate(level(25, 10, "B"), state) == []  # B only started now
    (d,) = sustained.evaluate(level(25, 10, "A"), state)
    assert d.dedup_key == "water_level:A"


def test_other_metrics_of_the_device_do_not_cancel(sustained):
    state = RuleState()
    sustained.evaluate(level(25, 0), state)
    sustained.evaluate(reading("water_level", "WL-1", at=T0 + timedelta(minutes=5), event="low_battery"), state)
    assert [d.rule_id for d in sustained.evaluate(level(25, 10), state)] == ["level_high"]


def test_without_state_a_sustained_rule_cannot_fire(sustained):
    assert sustained.evaluate(level(25, 0)) == []
    assert sustained.evaluate(level(25, 60)) == []


def test_shipped_waterlogging_escalates_and_clears_once(shipped):
    state = RuleState()
    assert shipped.evaluate(level(25, 0), state) == []
    (d,) = shipped.evaluate(level(26, 10), state)
    assert (d.rule_id, d.severity) == ("city.waterlogging", "P2")
    (d,) = shipped.evaluate(level(55, 12), state)  # severe: immediate, same incident key
    assert (d.rule_id, d.severity, d.dedup_key) == ("city.waterlogging_severe", "P1", "water_level:WL-1")
    assert shipped.evaluate(level(30, 20), state) == []  # still flooded: no clear while a rule holds the key
    clears = shipped.evaluate(level(2, 40), state)
    assert [(d.clears, d.dedup_key) for d in clears] == [(True, "water_level:WL-1")]


def test_shipped_night_noise_needs_ten_minutes_at_night(shipped):
    night = T0 + timedelta(hours=13)  # 23:00 Asia/Shanghai
    state = RuleState()
    noise = [reading("noise", "N-1", at=night + timedelta(minutes=m), metric="db", value=60.0) for m in (0, 5, 10)]
    assert [shipped.evaluate(e, state) for e in noise[:2]] == [[], []]
    (d,) = shipped.evaluate(noise[2], state)
    assert (d.rule_id, d.domain) == ("env.noise_night", "environment")
    day = RuleState()
    for m in (0, 5, 10):  # the same 60 dB at 10:00 is within the daytime limit
        assert shipped.evaluate(reading("noise", "N-1", at=T0 + timedelta(minutes=m), metric="db", value=60.0), day) == []


def test_prune_forgets_silent_devices(sustained):
    state = RuleState()
    sustained.evaluate(level(25, 0, "A"), state)
    sustained.evaluate(level(25, 50, "B"), state)
    assert state.prune(T0 + timedelta(minutes=30)) == 1 and len(state) == 1


def test_water_meter_payload_escalates_and_one_clear_when_water_flows(shipped):
    state = RuleState()

    def hours(h: float, at_h: float):
        return reading("water_meter", "WM-1", at=T0 + timedelta(hours=at_h), metric="hours_since_use", value=h)

    assert shipped.evaluate(hours(3, 0), state) == []
    (d,) = shipped.evaluate(hours(13, 10), state)
    assert (d.rule_id, d.severity, d.domain) == ("elderly.no_water_12h", "P3", "elderly_care")
    (d,) = shipped.evaluate(hours(25, 22), state)
    assert (d.rule_id, d.severity) == ("elderly.no_water_24h", "P2")
    assert [(d.clears, d.dedup_key) for d in shipped.evaluate(hours(0.2, 23), state)] == [(True, "water_meter:WM-1")]
