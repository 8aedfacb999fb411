"""Learning from the duty officers: their reclassifications change the next model's decision, adopt/rollback."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest

from ops_center.core.lifecycle import Actor
from ops_center.core.model import Event
from ops_center.service.incidents import IncidentService
from ops_center.store.store import to_db
from rules import model_store
from rules.cli import classify_stream
from rules.corpus_eval import read_labelled, score
from rules.engine import RuleSet
from rules.explain import explain_event
from rules.learn_run import learn
from tests.factories import make_incident

OFFICER = Actor("duty", "officer", "510100")
# A topic the shipped corpus does not cover: this site's officers file dog waste under environment.
# Nine labels, not six: against the 3,700-message corpus six left the new model just under its threshold.
RELABELLED = [f"{t}\n养狗的人从来不清理，{w}。" for t in ("小区草坪上到处是狗粪便", "楼道门口狗屎没人清理", "花坛里狗粪成堆")
              for w in ("臭味很大", "孩子没法玩", "夏天苍蝇成群")]
SIMILAR = "楼下花坛里遍地狗粪没人清理\n遛狗的邻居从来不捡，走路都要绕着走。"


@pytest.fixture
def site_cfg(cfg, tmp_path):
    """The demo config with model versions written under tmp_path."""
    tm = cfg.rules.text_model.model_copy(update={"dir": str(tmp_path / "models")})
    return cfg.model_copy(update={"rules": cfg.rules.model_copy(update={"text_model": tm})})


def _event(text: str, now) -> Event:
    return Event(source="hotline", source_id="hotline_drop", natural_key=text[:12], occurred_at=now, received_at=now,
                 text=text)


def _file_and_reclassify(store, bus, cfg, now, texts, domain):
    """Hotline texts that landed in 待分类, each reclassified by a duty officer with set_domain."""
    service = IncidentService(store, bus, cfg, lambda: now)
    for n, text in enumerate(texts):
        iid = make_incident(store, cfg, now=now - timedelta(days=2), domain="unclassified", severity="P3",
                            source="hotline", sources=["hotline"], rule_id="unclassified")
        store.write(lambda conn, iid=iid, n=n, text=text: conn.execute(
            "INSERT INTO events (event_id, source, source_id, natural_key, key_hash, occurred_at, received_at, text,"
            " incident_id, rule_id) VALUES (?, 'hotline', 'hotline_drop', ?, ?, ?, ?, ?, ?, 'unclassified')",
            [1000 + n, f"k{n}", n, to_db(now - timedelta(days=2)), to_db(now - timedelta(days=2)), text, iid]))
        service.set_domain(OFFICER, iid, 1, domain, note="按本站口径")


def test_officer_reclassifications_change_the_next_models_decision(store, bus, site_cfg, fixed_now):
    ruleset = RuleSet.load([site_cfg.path_of(p) for p in site_cfg.rules.paths], site_cfg,
                           model_store.load_active(site_cfg))
    first = ruleset.evaluate(_event(SIMILAR, fixed_now))[0]
    assert first.domain != "environment"  # the shipped model does not know this site's habit

    _file_and_reclassify(store, bus, site_cfg, fixed_now, RELABELLED, "environment")
    model, path = learn(site_cfg, ruleset, store.cursor(), fixed_now - timedelta(days=30), fixed_now)
    assert path.parent == model_store.model_dir(site_cfg) and model.meta["site_labels"] == len(RELABELLED)
    assert model.meta["held_out"]["domain_accuracy"] >= 0.9
    backtest = model.meta["backtest"]
    assert backtest["events"] == len(RELABELLED) and backtest["changed"] >= 1
    assert next(r for r in backtest["per_domain"] if r["domain"] == "environment")["diff"] >= 1

    # Written, not running: nothing changes until an admin adopts it.
    assert model_store.load_active(site_cfg).version == model_store.SHIPPED
    model_store.adopt(site_cfg, model.version, "admin", fixed_now)
    adopted = ruleset.with_model(model_store.load_active(site_cfg))
    after = adopted.evaluate(_event(SIMILAR, fixed_now))[0]
    assert after.domain == "environment" and after.rule_id == f"model:{model.version}"

    model_store.rollback(site_cfg, "admin", fixed_now)
    assert model_store.load_active(site_cfg).version == model_store.SHIPPED
    with pytest.raises(model_store.AdoptError, match="nothing to roll back"):
        model_store.rollback(site_cfg, "admin", fixed_now)
    history = model_store.read_state(site_cfg)["history"]
    assert [h["action"] for h in history] == ["adopt", "rollback"]


def test_adopt_refuses_an_unknown_or_unsafe_version(site_cfg, fixed_now):
    with pytest.raises(model_store.AdoptError, match="invalid model version"):
        model_store.adopt(site_cfg, "../../etc/passwd", "admin", fixed_now)
    with pytest.raises(Exception, match="not a readable text model"):
        model_store.adopt(site_cfg, "m20990101T000000Z", "admin", fixed_now)
    assert model_store.read_state(site_cfg)["active"] == model_store.SHIPPED


def test_classify_uses_rules_then_the_model(cfg):
    ruleset = RuleSet.load([cfg.path_of(p) for p in cfg.rules.paths], cfg, model_store.load_active(cfg))
    lines = [{"source": "hotline", "text": "小区消防通道被私家车占用\n物业不管。"},  # a rule decides
             {"source": "hotline", "text": "建议增开一条到地铁站的接驳公交线路\n新小区入住两年，周边只有一条线路，等车四十分钟。"},
             {"source": "hotline", "text": "请问退休人员养老金什么时候调整\n今年的调整方案出来没有？"}]
    out = io.StringIO()
    assert classify_stream(ruleset, io.StringIO("\n".join(json.dumps(x, ensure_ascii=False) for x in lines)), out) == 0
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows[0]["domain"] == "fire_safety" and not rows[0]["rule_id"].startswith("model:")
    assert rows[1]["domain"] == "traffic" and rows[1]["rule_id"] == "model:shipped"
    assert rows[2]["domain"] == "unclassified"


def test_explain_names_the_stage_and_the_ngrams(cfg, fixed_now):
    ruleset = RuleSet.load([cfg.path_of(p) for p in cfg.rules.paths], cfg, model_store.load_active(cfg))
    rows = explain_event(ruleset, _event("老年优待证怎么办理\n我母亲六十五岁，户籍在外省，想在成都办理。", fixed_now))
    model_row = next(r for r in rows if r["type"] == "model")
    assert model_row["selected"] and model_row["domain"] == "elderly_care"
    assert model_row["top_ngrams"] and all(w > 0 for _, w in model_row["top_ngrams"])
    assert "top n-grams" in model_row["reason"] and not any(r["type"] == "fallback" for r in rows)


@pytest.mark.parametrize(("split_file", "domain_total", "not_ours"), [("blind.tsv", 90, 26), ("blind2.tsv", 180, 60)])
def test_blind_split_meets_the_issue_bar(cfg, split_file, domain_total, not_ours):
    """The blind splits (hand-written by other writers, never tuned on): ≥ 90 % by domain, ≥ 85 % kept out."""
    ruleset = RuleSet.load([cfg.path_of(p) for p in cfg.rules.paths], cfg, model_store.load_active(cfg))
    result = score(ruleset, read_labelled(Path(__file__).parent / "data" / "corpus" / split_file))
    assert result["domain_total"] == domain_total and result["per_label"]["out_of_scope"]["total"] == not_ours
    assert result["domain_accuracy"] >= 0.90 and result["out_of_scope_kept_out"] >= 0.85
    assert result["stages"]["model"] > 0  # the second stage takes part


def test_learn_and_evaluate_from_the_command_line(store, bus, site_cfg, config_path, fixed_now, tmp_path):
    from tests.test_rules_cli import call

    _file_and_reclassify(store, bus, site_cfg, fixed_now, RELABELLED, "environment")
    store.close()  # `rules learn` opens the file read-only, as on a site where run.py is stopped
    rc, out, err = call(site_cfg, config_path, ["learn", "--db", str(store.path), "--since", "3650d"])
    assert rc == 0, err
    assert f", {len(RELABELLED)} from officers)" in out and "held-out: domain accuracy" in out
    assert "would change" in out and "adopt it on the admin screen" in out
    assert len(list(model_store.model_dir(site_cfg).glob("m*.npz"))) == 1

    rc, out, err = call(site_cfg, config_path, ["learn", "--db", str(tmp_path / "none.duckdb")])
    assert rc == 1 and "no such database" in err
    bad = tmp_path / "bad.tsv"
    bad.write_text("label\tsubject\tdetail\nnonsense\t标题\t内容\n", encoding="utf-8")
    rc, out, err = call(site_cfg, config_path, ["evaluate", str(bad)])
    assert rc == 1 and "row 1" in err
    rc, out, err = call(site_cfg, config_path, ["evaluate", "tests/data/corpus/blind.tsv", "--rules-only"])
    assert rc == 0 and "90" in out and "model" not in out.split(";")[-1]
