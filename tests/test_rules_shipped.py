"""The shipped rule set: every sensor kind, the labelled texts, each trap, amplification."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ops_center.core.devices import DEVICE_KINDS
from ops_center.core.domains import DOMAIN_CODES
from rules.compile import SENSOR_KINDS
from rules.engine import RuleState
from tests.fixtures_rules import make_event, reading, text

LABELLED = Path(__file__).resolve().parent / "data" / "labelled_texts.csv"
ROWS = list(csv.DictReader(LABELLED.open(encoding="utf-8", newline="")))
TRAPS = [r for r in ROWS if r["trap"]]

# One alarming payload per sensor kind, as the ingest side publishes it, and where it must land.
ALARMS = [
    (dict(kind="smoke", event="alarm"), "fire_safety", "smoke_alarm"),
    (dict(kind="gas", event="alarm"), "fire_safety", "gas_leak"),
    (dict(kind="gas", metric="lel_pct", value=30.0), "fire_safety", "gas_leak"),
    (dict(kind="water_level", metric="level_cm", value=60.0), "city_management", "waterlogging"),
    (dict(kind="manhole", metric="tilt_deg", value=20.0), "city_management", "manhole_displaced"),
    (dict(kind="manhole", event="open"), "city_management", "manhole_displaced"),
    (dict(kind="traffic", event="accident"), "traffic", "accident"),
    (dict(kind="traffic", event="signal_fault"), "traffic", "signal_fault"),
    (dict(kind="sos", event="sos"), "elderly_care", "sos"),
    (dict(kind="sos", event="missed_checkin"), "elderly_care", "missed_checkin"),
    (dict(kind="fall", event="fall"), "elderly_care", "fall"),
    (dict(kind="ebike_lift", event="alarm"), "fire_safety", "ebike_in_lift"),
    (dict(kind="street_light", event="lamp_out"), "city_management", "street_light_out"),
]
# Sustained kinds: the alarming value must hold for the rule's duration (fed over 2 h here).
SUSTAINED = [
    (dict(kind="aqi", metric="pm25", value=180.0), "environment", "air_quality"),
    (dict(kind="aqi", metric="aqi", value=320.0), "environment", "air_quality"),
    (dict(kind="noise", metric="db", value=80.0), "environment", "noise"),
    (dict(kind="traffic", metric="speed_kmh", value=4.0), "traffic", "congestion"),
    (dict(kind="water_meter", metric="hours_since_use", value=30.0), "elderly_care", "no_water_use"),
    (dict(kind="hydrant", metric="pressure_mpa", value=0.02), "fire_safety", "hydrant_low_pressure"),
]


def test_the_kind_vocabulary_matches_the_device_registry():
    assert set(SENSOR_KINDS) == set(DEVICE_KINDS)
    covered = {payload["kind"] for payload, _, _ in ALARMS + SUSTAINED}
    assert covered == set(DEVICE_KINDS)


@pytest.mark.parametrize(("payload", "domain", "category"), ALARMS, ids=lambda p: str(p))
def test_every_sensor_alarm_is_classified(shipped, payload, domain, category):
    decisions = shipped.evaluate(reading(device_id="DEV-1", **payload), RuleState())
    assert [(d.domain, d.category) for d in decisions] == [(domain, category)]


@pytest.mark.parametrize(("payload", "domain", "category"), SUSTAINED, ids=lambda p: str(p))
def test_every_sustained_sensor_condition_fires_in_time(shipped, payload, domain, category):
    from datetime import timedelta

    from tests.fixtures_rules import T0

    state = RuleState()
    fired = []
    for minute in range(0, 121, 5):
        fired += shipped.evaluate(reading(device_id="DEV-2", at=T0 + timedelta(minutes=minute), **payload), state)
    assert [(d.domain, d.category) for d in fired] == [(domain, category)]


@pytest.mark.parametrize("kind", ["smoke", "manhole", "street_light", "ebike_lift", "sos", "fall"])
def test_restore_clears_the_alarm_key(shipped, kind):
    alarm = {"manhole": "open", "street_light": "lamp_out", "sos": "sos", "fall": "fall"}.get(kind, "alarm")
    (a,) = shipped.evaluate(reading(kind, "R-1", event=alarm))
    (r,) = shipped.evaluate(reading(kind, "R-1", event="restore"))
    assert r.clears and r.dedup_key == a.dedup_key and r.domain == a.domain


def test_device_faults_are_low_priority_in_the_kinds_domain(shipped):
    (d,) = shipped.evaluate(reading("smoke", "S-9", event="low_battery"))
    assert (d.domain, d.category, d.severity) == ("fire_safety", "device_fault", "P4")
    (d,) = shipped.evaluate(reading("sos", "S-9", event="offline"))
    assert (d.domain, d.severity) == ("elderly_care", "P3")


@pytest.mark.parametrize("row", TRAPS, ids=[r["trap"] + ":" + r["text"][:12] for r in TRAPS])
def test_trap(shipped, row):
    (d, *_) = shipped.evaluate(text(row["text"], row["source"]))
    assert d.domain == row["domain"], f"{row['trap']}: {d.rule_id}"


def test_labelled_set_is_big_and_varied_enough():
    assert len(ROWS) >= 300 and len(TRAPS) >= 30
    assert sum(r["domain"] == "unclassified" for r in ROWS) >= 30
    assert {r["domain"] for r in ROWS} == set(DOMAIN_CODES) | {"unclassified"}


def test_labelled_domain_accuracy_at_least_95_percent(shipped):
    wrong = [r["text"] for r in ROWS if shipped.evaluate(text(r["text"], r["source"]))[0].domain != r["domain"]]
    assert 1 - len(wrong) / len(ROWS) >= 0.95, wrong


@pytest.mark.parametrize("words", ["社保咨询：社保卡怎么补办", "户口办理需要什么材料", "公司工资拖欠了三个月"])
def test_non_matching_texts_go_to_triage(shipped, words):
    (d,) = shipped.evaluate(text(words))
    assert d.domain == "unclassified" and d.department is None and d.level == "community"


def test_grid_category_word_helps(shipped):
    (d,) = shipped.evaluate(make_event("grid", text="建设路与双林路交叉口东北角", category="占道经营"))
    assert d.domain == "city_management"


def test_smoke_alarm_at_a_lone_elder_is_amplified(shipped):
    (plain,) = shipped.evaluate(reading("smoke", "S-1", event="alarm", fields={"lone_elder": False}))
    assert (plain.severity, plain.notify_domains, plain.amplified_by) == ("P2", (), ())
    (d,) = shipped.evaluate(reading("smoke", "S-1", event="alarm", fields={"lone_elder": True}))
    assert (d.domain, d.severity) == ("fire_safety", "P1")
    assert d.notify_domains == ("elderly_care",) and d.amplified_by == ("amplify.lone_elder_fire",)


def test_amplification_never_lowers_and_ignores_other_domains(shipped):
    (d,) = shipped.evaluate(reading("gas", "G-1", metric="lel_pct", value=40.0, fields={"lone_elder": True}),
                            RuleState())
    assert d.severity == "P1" and d.amplified_by == ("amplify.lone_elder_fire",)
    (d,) = shipped.evaluate(reading("noise", "N-1", event="offline", fields={"lone_elder": True}))
    assert d.amplified_by == ()


def test_text_about_a_lone_elder_gas_leak_is_amplified(shipped):
    (d,) = shipped.evaluate(text("隔壁独居老人家里煤气味很重，敲门没人应"))
    assert (d.domain, d.category, d.severity, d.notify_domains) == ("fire_safety", "gas_leak", "P1", ("elderly_care",))
