"""Assemble the shipped training corpus from hand-written fragments, reproducibly (fixed seed)."""

from __future__ import annotations

import argparse
import csv
import logging
import random
import string
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

HERE = Path(__file__).parent / "corpus"
FRAGMENTS = HERE / "fragments.yaml"
TRAIN = HERE / "train.tsv"
SEED = 20261206
PER_LABEL = {"traffic": 380, "elderly_care": 330, "public_security": 260, "fire_safety": 260,
             "environment": 260, "city_management": 260, "out_of_scope": 500}
WEEKDAYS = "一二三四五六日"
LINES = ("1", "3", "7", "8", "27", "45", "58", "71", "82", "96", "102", "114", "305", "G15")


def _fill(text: str, rng: random.Random) -> str:
    """Placeholders a fragment may use: $place, $month, $day, $weekday, $line."""
    return string.Template(text).substitute(
        place=rng.choice(_FR["places"]), month=rng.randint(1, 12), day=rng.randint(1, 28),
        weekday=rng.choice(WEEKDAYS), line=rng.choice(LINES))


_FR: dict = {}


def message(label: str, rng: random.Random) -> tuple[str, str]:
    """One citizen message: a subject line and a detail paragraph about one main concern."""
    topic = rng.choice(_FR["classes"][label])
    subject = _fill(rng.choice(topic["subjects"]), rng)
    details = rng.sample(topic["details"], k=min(len(topic["details"]), rng.randint(1, 3)))
    parts = [_fill(rng.choice(_FR["openers"]), rng)]
    if rng.random() < 0.6:
        parts.append(_fill(rng.choice(_FR["times"]), rng))
    parts.extend(_fill(d, rng) for d in details)
    if rng.random() < 0.2:  # a concern mentioned in passing, late in the text: it must not decide
        other = rng.choice([c for c in _FR["classes"] if c != label])
        passing = _fill(rng.choice(rng.choice(_FR["classes"][other])["details"]), rng)
        parts.append(rng.choice(("另外，", "顺便说一下，", "还有，", "此外")) + passing)
    parts.append(_fill(rng.choice(_FR["closers"]), rng))
    return subject, "".join(parts)


def build(seed: int = SEED) -> list[tuple[str, str, str]]:
    """(label, subject, detail) rows; the same seed and fragments always give the same rows."""
    _FR.clear()
    _FR.update(yaml.safe_load(FRAGMENTS.read_text(encoding="utf-8")))
    rng = random.Random(seed)
    rows: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for label, n in PER_LABEL.items():
        made = tries = 0
        while made < n and tries < n * 20:
            tries += 1
            subject, detail = message(label, rng)
            if detail in seen:
                continue
            seen.add(detail)
            rows.append((label, subject, detail))
            made += 1
    return rows


def write(rows: list[tuple[str, str, str]], path: Path = TRAIN) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, delimiter="\t", lineterminator="\n")
        out.writerow(("label", "subject", "detail"))
        out.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=TRAIN)
    args = parser.parse_args()
    rows = build()
    write(rows, args.out)
    log.warning("wrote %d rows to %s", len(rows), args.out)


if __name__ == "__main__":
    main()
