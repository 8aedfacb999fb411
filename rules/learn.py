"""Train the text model: shipped corpus + the site's own labels, a held-out split, metrics per domain."""

from __future__ import annotations

import csv
import hashlib
import logging
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ops_center.core.domains import DOMAIN_CODES
from rules.textmodel import FORMAT, OUT_OF_SCOPE, TextModel, features

log = logging.getLogger(__name__)

CORPUS_DIR = Path(__file__).parent / "corpus"  # train.tsv (generated) and handwritten*.tsv
LABELS = (*DOMAIN_CODES, OUT_OF_SCOPE)
SITE_WEIGHT = 3.0  # an officer's label counts more than a shipped example: the site knows its own city
HOLDOUT = 0.2
SEED = 13
C = 8.0
KEEP = 6000  # n-grams kept after the first fit
DEFAULT_THRESHOLD = 0.45


@dataclass(frozen=True)
class Example:
    """One labelled text; `origin` is "corpus" or "site"."""

    text: str
    label: str
    origin: str = "corpus"


def read_corpus(path: Path | None = None) -> list[Example]:
    """The shipped corpus (every .tsv in rules/corpus/, in name order) or one file: rows of label with either
    subject and detail (the message is the two on two lines) or one text column."""
    if path is None:
        return [ex for f in sorted(CORPUS_DIR.glob("*.tsv")) for ex in read_corpus(f)]
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    bad = [i for i, r in enumerate(rows, start=2)
           if r.get("label") not in LABELS or not (r.get("subject") or r.get("text"))]
    if bad:
        raise ValueError(f"{path}: rows with an unknown label or no text at lines {bad[:5]}")
    return [Example(r["text"] if r.get("text") else f"{r['subject']}\n{r['detail']}", r["label"]) for r in rows]


def split(examples: Sequence[Example], holdout: float = HOLDOUT, seed: int = SEED) -> tuple[list, list]:
    """A stratified, seeded split: the same examples always land on the same side."""
    rng = random.Random(seed)
    train: list[Example] = []
    test: list[Example] = []
    by_label: dict[str, list[Example]] = {}
    for ex in examples:
        by_label.setdefault(ex.label, []).append(ex)
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        k = int(round(len(group) * holdout))
        test += group[:k]
        train += group[k:]
    return train, test


def fit(examples: Sequence[Example], version: str, threshold: float = DEFAULT_THRESHOLD,
        extra_meta: dict | None = None) -> TextModel:
    """Binary char-n-gram tf-idf + multinomial logistic regression, exported as plain arrays."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = [e.text for e in examples]
    labels = [e.label for e in examples]
    weights = np.array([SITE_WEIGHT if e.origin == "site" else 1.0 for e in examples])
    vec = TfidfVectorizer(analyzer=features, binary=True, min_df=2, sublinear_tf=False, norm="l2")
    x = vec.fit_transform(texts)
    clf = LogisticRegression(C=C, max_iter=3000)
    clf.fit(x, labels, sample_weight=weights)
    # Keep the n-grams that matter and refit on them alone: a text then touches few weights (speed).
    strength = np.abs(clf.coef_).max(axis=0)
    keep = np.sort(np.argsort(-strength, kind="stable")[:KEEP])
    vec = TfidfVectorizer(analyzer=features, binary=True, norm="l2",
                          vocabulary=vec.get_feature_names_out()[keep].tolist())
    x = vec.fit_transform(texts)
    clf = LogisticRegression(C=C, max_iter=3000)
    clf.fit(x, labels, sample_weight=weights)
    vocab = vec.get_feature_names_out().tolist()
    digest = hashlib.sha256("\n".join(f"{e.label}\t{e.origin}\t{e.text}" for e in examples).encode()).hexdigest()[:16]
    meta = {"format": FORMAT, "version": version, "threshold": threshold, "examples": len(examples),
            "by_origin": dict(Counter(e.origin for e in examples)), "training_digest": digest, "C": C, "kept_ngrams": KEEP,
            **(extra_meta or {})}
    return TextModel(vocab, vec.idf_, clf.coef_, clf.intercept_, [str(c) for c in clf.classes_], meta)


def evaluate(model: TextModel, examples: Sequence[Example]) -> dict:
    """Accuracy by domain (a not-confident answer counts as 待分类) and the confusion table."""
    confusion: dict[str, Counter] = {label: Counter() for label in LABELS}
    for ex in examples:
        p = model.predict(ex.text)
        got = p.label if p.confident else OUT_OF_SCOPE
        confusion.setdefault(ex.label, Counter())[got] += 1
    return summarise(confusion)


def summarise(confusion: dict[str, Counter]) -> dict:
    """Domain accuracy (six domains), out-of-scope kept out, per-label recall, and the table itself."""
    in_domain = sum(sum(c.values()) for label, c in confusion.items() if label != OUT_OF_SCOPE)
    right = sum(c[label] for label, c in confusion.items() if label != OUT_OF_SCOPE)
    oos = confusion.get(OUT_OF_SCOPE, Counter())
    return {
        "domain_accuracy": round(right / in_domain, 4) if in_domain else None,
        "domain_correct": right, "domain_total": in_domain,
        "out_of_scope_kept_out": round(oos[OUT_OF_SCOPE] / sum(oos.values()), 4) if oos else None,
        "per_label": {label: {"correct": c[label], "total": sum(c.values())} for label, c in confusion.items()
                      if c},
        "confusion": {label: dict(c) for label, c in confusion.items() if c},
    }


def format_confusion(confusion: dict[str, dict]) -> str:
    """A plain-text confusion table (rows: true label, columns: decided), for reports and the CLI."""
    cols = list(LABELS)
    short = {c: c.split("_")[0][:6] if c != OUT_OF_SCOPE else "oos/待分" for c in cols}
    lines = [f"{'true / got':<16}" + "".join(f"{short[c]:>9}" for c in cols)]
    for label in cols:
        row = confusion.get(label, {})
        lines.append(f"{label:<16}" + "".join(f"{row.get(c, 0):>9}" for c in cols))
    return "\n".join(lines)
