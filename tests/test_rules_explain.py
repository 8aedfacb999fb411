"""Explain: every rule, whether it matched and why, with the winner and shadowed rules marked."""

from __future__ import annotations

from rules.engine import RuleState
from rules.explain import explain_event, format_rows
from tests.fixtures_rules import reading, text

RULES = """
rules:
  - id: smoke
    when: {kind: smoke, event: alarm}
    classify: {domain: fire_safety, category: smoke_alarm, severity: P2}
  - id: gas_text
    when: {source: hotline, keywords: {any: [煤气味], none: [煤气费]}}
    classify: {domain: fire_safety, category: gas_leak, severity: P1}
  - id: any_text
    when: {source: hotline, regex: "煤气"}
    classify: {domain: fire_safety, category: other, severity: P3}
amplify:
  - id: lone
    when: {fields: {lone_elder: true}}
    domains: [fire_safety]
    severity: P1
    notify: [elderly_care]
"""


def test_explain_names_the_failed_condition_and_the_winner(rules_from):
    ruleset = rules_from(RULES)
    rows = {r["rule_id"]: r for r in explain_event(ruleset, text("楼道里煤气味很重"))}
    assert rows["smoke"]["matched"] is False and rows["smoke"]["reason"] == "kind is None, rule wants ['smoke']"
    assert rows["gas_text"]["selected"] and rows["gas_text"]["outcome"] == "fired"
    assert "煤气味" in rows["gas_text"]["reason"]
    assert rows["any_text"]["matched"] and not rows["any_text"]["selected"]
    assert rows["any_text"]["outcome"] == "not reached: gas_text matched first"
    assert rows["lone"]["type"] == "amplify" and not rows["lone"]["selected"]
    assert "fields.lone_elder is None" in rows["lone"]["reason"]


def test_explain_excluded_keyword_and_fallback(rules_from):
    ruleset = rules_from(RULES)
    rows = explain_event(ruleset, text("我想交煤气费"))
    by_id = {r["rule_id"]: r for r in rows}
    assert by_id["gas_text"]["matched"] is False
    assert "keywords.any: none of ['煤气味']" in by_id["gas_text"]["reason"]
    assert by_id["any_text"]["selected"]
    rows = explain_event(ruleset, text("户口怎么迁"))
    assert rows[-1]["type"] == "fallback" and rows[-1]["rule_id"] == "unclassified"


def test_explain_shows_amplification_and_leaves_state_alone(rules_from):
    ruleset = rules_from(RULES)
    state = RuleState()
    rows = {r["rule_id"]: r for r in explain_event(ruleset, reading("smoke", event="alarm", fields={"lone_elder": True}), state)}
    assert rows["smoke"]["selected"] and rows["lone"]["selected"]
    assert len(state) == 0
    out = format_rows(list(rows.values()))
    assert "=> rule" in out and "=> amplify" in out


def test_explain_sustained_pending(shipped):
    rows = {r["rule_id"]: r for r in explain_event(shipped, reading("water_level", metric="level_cm", value=25.0))}
    assert rows["city.waterlogging"]["outcome"].startswith("pending since")
    assert rows["city.waterlogging_severe"]["matched"] is False
    assert "value is 25.0, rule wants gte 50" in rows["city.waterlogging_severe"]["reason"]
