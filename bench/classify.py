"""classify: hotline/grid texts/s through both stages (rules, then the text model) in one process.

Figure: texts/s of `RuleSet.evaluate` with the shipped rules and the shipped text model over the
shipped corpus's messages (subject + detail, 40-200 characters; about one in six reaches the model);
baseline: the same rules without the model, same texts, same run. Target (issue 13): ≥ 20,000/s.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from datetime import UTC, datetime

from bench.common import ROOT, Result, pick_size, size_arg
from ops_center.config import load_config, resolve_path
from ops_center.model import Event
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


def rate(ruleset: RuleSet, events: list[Event]) -> tuple[float, Counter]:
    """Texts/s (best of three passes, the machine is shared) and which stage decided."""
    stages: Counter = Counter()
    for ev in events[:2000]:
        rid = ruleset.evaluate(ev)[0].rule_id
        stages["model" if rid.startswith("model:") else "triage" if rid == "unclassified" else "rules"] += 1
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for ev in events:
            ruleset.evaluate(ev)
        best = max(best, len(events) / (time.perf_counter() - t0))
    return best, stages


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
    rules_only, _ = rate(both.with_model(None), events)
    two_stage, stages = rate(both, events)
    sampled = sum(stages.values())
    return Result(
        bench="classify", measures="hotline/grid texts/s, rules then text model, one process",
        figure=two_stage, unit="texts/s", target="≥ 20,000/s", passed=two_stage >= 20_000,
        baseline=rules_only, baseline_label="rules only, same texts (texts/s)",
        ratio=two_stage / rules_only, size=f"{n:,} corpus texts", seconds=time.perf_counter() - t0,
        details={f"decided by {k} (first {sampled:,})": f"{v / sampled:.0%}" for k, v in sorted(stages.items())},
    ).show()


if __name__ == "__main__":
    main()
