"""Score the whole classifier (rules, then the text model) on a labelled file, as a dispatcher would."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from ops_center.core.domains import UNCLASSIFIED
from ops_center.core.model import Event
from rules.engine import RuleSet
from rules.learn import LABELS, summarise
from rules.textmodel import OUT_OF_SCOPE

T0 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


def read_labelled(path: Path) -> list[tuple[str, str]]:
    """(label, text) from a TSV with label/subject/detail (or label/text) columns, or JSON lines."""
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t" if path.suffix == ".tsv" else ","))
    out = []
    for n, r in enumerate(rows, start=1):
        label = r.get("label") or r.get("domain")
        text = r.get("text") or "\n".join(x for x in (r.get("subject"), r.get("detail")) if x)
        if label not in LABELS or not text:
            raise ValueError(f"{path}: row {n}: needs a label in {LABELS} and a text")
        out.append((label, text))
    return out


def score(ruleset: RuleSet, rows: list[tuple[str, str]], source: str = "hotline") -> dict:
    """Confusion of true label vs decided domain (待分类 counts as kept out) and which stage decided."""
    confusion: dict[str, Counter] = {label: Counter() for label in LABELS}
    stages: Counter = Counter()
    events = [Event(source=source, source_id="eval", natural_key=str(i), occurred_at=T0, received_at=T0, text=text)
              for i, (_, text) in enumerate(rows)]
    for (label, _), ev, p in zip(rows, events, ruleset.predictions(events), strict=True):
        d = ruleset.evaluate(ev, prediction=p)[0]
        got = OUT_OF_SCOPE if d.domain == UNCLASSIFIED else d.domain
        confusion[label][got] += 1
        stages["model" if d.rule_id.startswith("model:") else "rules" if d.rule_id != UNCLASSIFIED else "triage"] += 1
    result = summarise(confusion)
    result["stages"] = dict(stages)
    return result
