"""classify: hotline/grid texts/s through both stages (rules, then the text model) in one process.

Figure: texts/s of `RuleSet.evaluate` with the shipped rules and the shipped text model over the
shipped corpus's messages (subject + detail, 40-200 characters), as the writer classifies them: the model
is asked once per batch of 500 (`RuleSet.predictions`) for every text (second stage and second opinion);
baseline: the same rules without the model, same texts, same run. Target (issue 13): ≥ 20,000/s.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from datetime import UTC, datetime

from bench.common import ROOT, Result, pick_size, size_arg
from ops_center.core.config import load_config, resolve_path
from ops_center.core.model import Event
from rules import model_store
from rules.engine import RuleSet
from rules.learn import read_corpus

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def texts(n: int, seed: int = 13) -> list[Event]:
    """n text events drawn from the shipped corpus, hotline and grid alike."""
    corpus = [e.text for e in read_corpus()]
    rng = random.Random(seed)
    return [Event(source=rng.choice(("hotline", "grid")), source_id="bench", natural_key=f"c{i}", occurred_at=T0,
                  received_at=T0, text=rng.choice(corpus)) for i in range(n)]


BATCH = 500  # the writer asks the text model once per batch of this many inputs (store.batch_max_rows)


def classify(ruleset: RuleSet, events: list[Event]) -> list[str]:
    """Rule ids deciding each text, as the writer classifies them: the model asked once per batch."""
    out = []
    for k in range(0, len(events), BATCH):
        batch = events[k:k + BATCH]
        out += [ruleset.evaluate(ev, prediction=p)[0].rule_id for ev, p in zip(batch, ruleset.predictions(batch),
                                                                               strict=True)]
    return out


def stages(ruleset: RuleSet, events: list[Event]) -> Counter:
    """Which stage decided, on a sample."""
    out: Counter = Counter()
    for rid in classify(ruleset, events):
        out["model" if rid.startswith("model:") else "triage" if rid == "unclassified" else "rules"] += 1
    return out


def rates(rulesets: list[RuleSet], events: list[Event], rounds: int = 3) -> list[float]:
    """Texts/s of each rule set, best of `rounds` interleaved passes (the machine is shared)."""
    best = [0.0] * len(rulesets)
    for _ in range(rounds):
        for i, rs in enumerate(rulesets):
            t0 = time.perf_counter()
            classify(rs, events)
            best[i] = max(best[i], len(events) / (time.perf_counter() - t0))
    return best


def main(argv: list[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_arg(parser, default=50_000, quick=1_000)
    args = parser.parse_args(argv)
    n = pick_size(args, 50_000, 1_000)
    config_path = ROOT / "config.yaml"
    cfg = load_config(config_path)
    model = model_store.load_version(cfg, model_store.SHIPPED)
    both = RuleSet.load([resolve_path(config_path, p) for p in cfg.rules.paths], cfg, model)
    events = texts(n)
    t0 = time.perf_counter()
    decided = stages(both, events[:2000])
    sampled = sum(decided.values())
    rules_only, two_stage = rates([both.with_model(None), both], events)
    return Result(
        bench="classify", measures="hotline/grid texts/s, rules then text model, one process",
        figure=two_stage, unit="texts/s", target="≥ 20,000/s", passed=two_stage >= 20_000,
        baseline=rules_only, baseline_label="rules only, same texts (texts/s)",
        ratio=two_stage / rules_only, size=f"{n:,} corpus texts", seconds=time.perf_counter() - t0,
        details={f"decided by {k} (first {sampled:,})": f"{v / sampled:.0%}" for k, v in sorted(decided.items())},
    ).show()


if __name__ == "__main__":
    main()
