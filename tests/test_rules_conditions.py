"""Each condition type, first match and `continue`, titles, dedup keys and the unclassified fallback."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fixtures_rules import T0, make_event, reading, text

BASE = """
rules:
  - id: r
    when: {WHEN}
    classify: {domain: fire_safety, category: c, severity: P2}
"""


def one(rules_from, when: str):
    return rules_from(BASE.replace("{WHEN}", when))


@pytest.mark.parametrize(("when", "hit", "miss"), [
    ("{source: grid}", make_event("grid", text="x"), make_event("hotline", text="x")),
    ("{kind: [smoke, gas]}", reading("gas", event="alarm"), reading("noise", event="alarm")),
    ("{event: alarm}", reading("smoke", event="alarm"), reading("smoke", event="restore")),
    ("{metric: db}", reading("noise", metric="db", value=1.0), reading("noise", metric="x", value=1.0)),
    ("{category: 占道经营}", make_event("grid", text="t", category="占道经营"), make_event("grid", text="t")),
    ("{device_id: D9}", reading("smoke", "D9"), reading("smoke", "D8")),
    ("{fields: {lone_elder: true}}", reading("smoke", fields={"lone_elder": True}), reading("smoke", fields={})),
    ("{fields: {battery: {lt: 20}}}", reading("smoke", fields={"battery": 10}), reading("smoke", fields={"battery": 30})),
    ("{value: {gt: 5}}", reading("noise", value=5.1), reading("noise", value=5.0)),
    ("{value: {gte: 5}}", reading("noise", value=5.0), reading("noise", value=4.9)),
    ("{value: {lt: 5}}", reading("noise", value=4.9), reading("noise", value=5.0)),
    ("{value: {lte: 5}}", reading("noise", value=5.0), reading("noise", value=5.1)),
    ("{value: {eq: 5}}", reading("noise", value=5.0), reading("noise", value=6.0)),
    ("{value: {ne: 5}}", reading("noise", value=6.0), reading("noise", value=5.0)),
    ("{value: {between: [1, 3]}}", reading("noise", value=3.0), reading("noise", value=3.5)),
    ("{value: {gt: 1}}", reading("noise", value=2.0), reading("noise", event="alarm")),  # no value never matches
    ("{keywords: [着火, 起火]}", text("楼上起火了"), text("楼上很安静")),
    ("{keywords: {all: [电动车, 电梯]}}", text("电动车进电梯"), text("电动车停在楼下")),
    ("{keywords: {any: [燃气], none: [燃气费]}}", text("燃气味很大"), text("燃气费太贵")),
    ("{keywords: [ktv]}", text("对面 KTV 很吵"), text("对面酒吧很吵")),  # case and spaces normalised
    ("{regex: '井盖.{0,4}(丢|没了)'}", text("井盖被人丢了"), text("井盖很结实")),
    ("{area: '510108002'}", make_event("grid", text="x", area_code="510108002002001"),
     make_event("grid", text="x", area_code="510108004003001")),
    ("{grid: '510108002002001'}", make_event("grid", text="x"), make_event("grid", text="x", area_code="510108002002")),
    ("{time: '09:00-11:00'}", reading("noise", at=T0), reading("noise", at=T0 + timedelta(hours=2))),
    ("{time: '22:00-06:00'}", reading("noise", at=T0 + timedelta(hours=14)), reading("noise", at=T0)),  # 00:00 vs 10:00
    ("{any: [{kind: smoke}, {event: sos}]}", reading("sos", event="sos"), reading("fall", event="fall")),
    ("{all: [{kind: smoke}, {event: alarm}]}", reading("smoke", event="alarm"), reading("smoke", event="restore")),
    ("{kind: smoke, not: {event: restore}}", reading("smoke", event="alarm"), reading("smoke", event="restore")),
])
def test_condition_types(rules_from, when, hit, miss):
    ruleset = one(rules_from, when)
    assert [d.rule_id for d in ruleset.evaluate(hit)] == ["r"]
    assert all(d.rule_id != "r" for d in ruleset.evaluate(miss))


def test_normal_reading_gives_nothing_and_unmatched_text_goes_to_triage(shipped, cfg):
    assert shipped.evaluate(reading("water_level", metric="level_cm", value=3.0)) == []
    (d,) = shipped.evaluate(text("我想问一下小孩上小学的学区是怎么划分的"))
    assert (d.domain, d.category, d.severity, d.level, d.department) == ("unclassified", "unclassified", "P3",
                                                                         "community", None)


FIRST_MATCH = """
rules:
  - id: first
    when: {keywords: [井盖]}
    continue: {CONT}
    classify: {domain: city_management, category: manhole_displaced, severity: P2}
  - id: second
    when: {keywords: [井盖]}
    classify: {domain: traffic, category: hazard, severity: P3}
  - id: third
    when: {keywords: [井盖]}
    classify: {domain: public_security, category: theft, severity: P3}
"""


def test_first_match_wins(rules_from):
    ruleset = rules_from(FIRST_MATCH.replace("{CONT}", "false"))
    assert [d.rule_id for d in ruleset.evaluate(text("井盖没了"))] == ["first"]


def test_continue_lets_the_next_rule_match_too(rules_from):
    ruleset = rules_from(FIRST_MATCH.replace("{CONT}", "true"))
    assert [d.rule_id for d in ruleset.evaluate(text("井盖没了"))] == ["first", "second"]


def test_routing_defaults_flow_from_the_domain_and_rules_override(rules_from, cfg):
    ruleset = rules_from("""
        rules:
          - id: default_route
            when: {kind: smoke}
            classify: {domain: fire_safety, category: smoke_alarm, severity: P2}
          - id: own_route
            when: {kind: gas}
            classify: {domain: fire_safety, category: gas_leak, severity: P1}
            route: {level: district, department: emergency}
    """)
    (d,) = ruleset.evaluate(reading("smoke"))
    domain = cfg.domain_by_code["fire_safety"]
    assert (d.level, d.department) == (domain.level, domain.department)
    (d,) = ruleset.evaluate(reading("gas"))
    assert (d.level, d.department) == ("district", "emergency")


def test_title_and_dedup_templates(rules_from):
    ruleset = rules_from("""
        rules:
          - id: t
            when: {source: hotline}
            classify: {domain: city_management, category: street_vending, severity: P3}
            title: "占道：{text:.6}"
            dedup: {key: "vend:{area_code}", window: 2h}
          - id: s
            when: {kind: water_level}
            classify: {domain: city_management, category: waterlogging, severity: P2}
            title: "{kind} {value:.0f}cm {device_id} {address}"
            dedup: {key: "{kind}:{device_id}", window: 30m}
    """)
    (d,) = ruleset.evaluate(text("地铁口一到晚上就有好多流动摊贩"))
    assert d.title == "占道：地铁口一到晚"
    assert (d.dedup_key, d.dedup_window) == ("vend:510108002002001", timedelta(hours=2))
    (d,) = ruleset.evaluate(reading("water_level", "WL-7", value=42.4, address="建设路12号"))
    assert d.title == "water_level 42cm WL-7 建设路12号"
    assert (d.dedup_key, d.dedup_window) == ("water_level:WL-7", timedelta(minutes=30))
    (d,) = ruleset.evaluate(reading("water_level", "WL-7", event="offline"))  # no value: the spec falls back
    assert d.title == "water_level cm WL-7"


def test_sensor_rule_without_dedup_gets_a_device_key(rules_from):
    ruleset = rules_from(BASE.replace("{WHEN}", "{kind: smoke}"))
    (d,) = ruleset.evaluate(reading("smoke", "S-1"))
    assert d.dedup_key == "fire_safety:c:S-1" and d.dedup_window == timedelta(hours=1)
