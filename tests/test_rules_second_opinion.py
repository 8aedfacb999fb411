"""A keyword rule's reading of a free text yields to the text model only when the model is very sure."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from ops_center.core.model import Event
from rules.engine import MODEL_RULE_PREFIX, RuleSet, RuleState
from rules.explain import explain_event
from rules.textmodel import OUT_OF_SCOPE, Prediction

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
FIGHT = "小区门口两个人因为抢车位打起来了"  # a shipped keyword rule reads 打 as public security


class FixedModel:
    """A model that always gives one answer, counting how often it was asked one text at a time."""

    version, threshold, override = "fixed", 0.45, 0.8

    def __init__(self, label: str, probability: float):
        self.answer = Prediction(label, probability, probability >= self.threshold, None)
        self.single_calls = 0

    def predict(self, text: str) -> Prediction:
        self.single_calls += 1
        return self.answer

    def predict_many(self, texts) -> list[Prediction]:
        return [self.answer for _ in texts]

    def top_ngrams(self, text: str, label: str, n: int = 6) -> list:
        return []

    def probabilities(self, prediction: Prediction) -> dict:
        return {prediction.label: prediction.probability}


@pytest.fixture
def shipped(cfg, config_path) -> RuleSet:
    return RuleSet.load([config_path.parent / p for p in cfg.rules.paths], cfg)


def text_event(text: str, **kw) -> Event:
    return Event(source=kw.pop("source", "hotline"), source_id="t", natural_key=text[:8], occurred_at=T0,
                 received_at=T0, text=text, **kw)


def decide(ruleset: RuleSet, model: FixedModel | None, ev: Event):
    return ruleset.with_model(model).evaluate(ev)


def test_the_rules_alone_read_the_keyword(shipped):
    d = decide(shipped, None, text_event(FIGHT))[0]
    assert d.domain == "public_security" and not d.rule_id.startswith(MODEL_RULE_PREFIX)


def test_a_sure_model_decides_against_a_keyword_rule(shipped):
    d = decide(shipped, FixedModel("traffic", 0.9), text_event(FIGHT))
    assert [(x.domain, x.rule_id) for x in d] == [("traffic", f"{MODEL_RULE_PREFIX}fixed")]


def test_a_model_short_of_the_override_bar_leaves_the_rule(shipped):
    d = decide(shipped, FixedModel("traffic", 0.79), text_event(FIGHT))[0]
    assert d.domain == "public_security"


def test_a_sure_not_ours_goes_to_triage_flagged(shipped):
    d = decide(shipped, FixedModel(OUT_OF_SCOPE, 0.95), text_event(FIGHT))
    assert [(x.domain, x.category) for x in d] == [("unclassified", OUT_OF_SCOPE)]


def test_a_p1_rule_always_stands(shipped):
    ev = text_event("楼下有人拿刀砍人，已经有人受伤流血了")
    assert decide(shipped, None, ev)[0].severity == "P1"
    d = decide(shipped, FixedModel("city_management", 0.99), ev)[0]
    assert d.severity == "P1" and not d.rule_id.startswith(MODEL_RULE_PREFIX)


def test_a_reporter_chosen_category_is_not_second_guessed(shipped):
    ev = text_event(FIGHT, source="grid", category="fight")
    before = decide(shipped, None, ev)[0]
    assert decide(shipped, FixedModel("traffic", 0.99), ev)[0].rule_id == before.rule_id


def test_a_guard_agreeing_with_not_ours_keeps_its_rule(shipped):
    ev = text_event("我家燃气费怎么多扣了两百")
    guard = decide(shipped, None, ev)[0]
    assert guard.domain == "unclassified" and guard.rule_id.startswith("guard.")
    assert decide(shipped, FixedModel(OUT_OF_SCOPE, 0.99), ev)[0].rule_id == guard.rule_id


def test_batch_predictions_spare_the_per_text_call(shipped):
    model = FixedModel("traffic", 0.9)
    ruleset = shipped.with_model(model)
    events = [text_event(FIGHT), replace(text_event("路灯坏了"), natural_key="b"), text_event("x", source="sensor")]
    predictions = ruleset.predictions(events)
    assert predictions[2] is None  # only texts from people are asked
    out = [ruleset.evaluate(ev, prediction=p) for ev, p in zip(events, predictions, strict=True)]
    assert out[0][0].domain == "traffic" and model.single_calls == 0


def test_a_text_with_its_reporters_category_is_asked_only_when_no_rule_reads_it(shipped):
    """A 12345 row carries its category: a rule that reads it stands, so the batch never asks the model for it."""
    model = FixedModel("traffic", 0.9)
    ruleset = shipped.with_model(model)
    read = text_event(FIGHT, category="矛盾纠纷")
    unread = replace(text_event("请问这个事情找哪个部门", category="咨询"), natural_key="u")
    predictions = ruleset.predictions([read, unread])
    assert predictions == [None, None]
    assert ruleset.evaluate(read, prediction=predictions[0])[0].domain == "public_security"
    assert model.single_calls == 0  # the rule decided; the model was never consulted
    assert ruleset.evaluate(unread, prediction=predictions[1])[0].rule_id.startswith(MODEL_RULE_PREFIX)
    assert model.single_calls == 1  # no rule read it: the model was asked for this text alone


def test_explain_names_the_rule_the_model_overrode(shipped):
    rows = explain_event(shipped.with_model(FixedModel("traffic", 0.9)), text_event(FIGHT), RuleState())
    assert any("overrides" in str(r.get("outcome", "")) or "overrides" in r["reason"] for r in rows), rows
