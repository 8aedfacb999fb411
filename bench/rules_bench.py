"""Rules bench: classification accuracy on the labelled texts, and evaluation throughput vs a naive baseline.

    python3 -m bench.rules_bench [--size 200000] [--config config.yaml] [--rules rules/shipped]

Baseline (measured in the same run, on the same events): a naive evaluator that walks the raw
YAML condition dicts for every event — no (source, kind) index, text normalised again for each
rule, time ranges parsed per test, regexes looked up through `re`'s cache — i.e. what evaluation
costs without compile-once. `for` durations are treated as immediate there (cost only).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ops_center.core.config import load_config, resolve_path  # noqa: E402
from ops_center.core.domains import DOMAIN_CODES, UNCLASSIFIED  # noqa: E402
from ops_center.core.model import Event  # noqa: E402
from ops_center.core.yamlsource import load_located  # noqa: E402
from rules.backtest import replay  # noqa: E402
from rules.engine import RuleSet, RuleState, rule_files  # noqa: E402

LABELLED = ROOT / "tests" / "data" / "labelled_texts.csv"
T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
NORMAL = {  # kind -> (metric, normal value range) for readings that must yield nothing
    "water_level": ("level_cm", (0, 8)), "manhole": ("tilt_deg", (0, 3)), "aqi": ("pm25", (10, 90)),
    "noise": ("db", (35, 50)), "traffic": ("speed_kmh", (25, 50)), "water_meter": ("hours_since_use", (0, 6)),
    "hydrant": ("pressure_mpa", (0.25, 0.4)), "gas": ("lel_pct", (0, 3)),
}
EVENT_KINDS = {"smoke": "alarm", "sos": "sos", "fall": "fall", "ebike_lift": "alarm", "street_light": "lamp_out"}


def load_labelled(path: Path = LABELLED) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def text_event(i: int, row: dict, at: datetime = T0) -> Event:
    return Event(source=row["source"], source_id="bench", natural_key=f"t{i}", occurred_at=at, received_at=at,
                 text=row["text"], area_code="510108002002001")


def accuracy(ruleset: RuleSet, rows: list[dict]) -> dict:
    """Domain accuracy, confusion matrix (actual x predicted) and every trap's result."""
    labels = list(DOMAIN_CODES) + [UNCLASSIFIED]
    matrix = pd.DataFrame(0, index=labels, columns=labels)
    traps, correct = [], 0
    for i, row in enumerate(rows):
        got = ruleset.evaluate(text_event(i, row))[0]
        matrix.loc[row["domain"], got.domain] += 1
        correct += got.domain == row["domain"]
        if row["trap"]:
            traps.append((row["trap"], row["domain"], got.domain, got.rule_id, row["text"]))
    return {"n": len(rows), "correct": correct, "accuracy": correct / len(rows), "matrix": matrix, "traps": traps}


def mixed_events(rows: list[dict], size: int, seed: int = 7) -> list[Event]:
    """70 % sensor readings (mostly normal, some alarms and faults), 30 % hotline/grid texts."""
    rng = random.Random(seed)
    kinds = sorted(set(NORMAL) | set(EVENT_KINDS))
    out = []
    for i in range(size):
        at = T0 + timedelta(seconds=i)
        if rng.random() < 0.3:
            out.append(text_event(i, rows[rng.randrange(len(rows))], at))
            continue
        kind = rng.choice(kinds)
        device = f"{kind}-{rng.randrange(200)}"
        common = dict(source="sensor", source_id="bench", natural_key=f"s{i}", occurred_at=at, received_at=at,
                      kind=kind, device_id=device, area_code="510108002002001",
                      fields={"lone_elder": rng.random() < 0.05})
        if kind in NORMAL and rng.random() < 0.9:
            metric, (lo, hi) = NORMAL[kind]
            value = rng.uniform(lo, hi) if rng.random() < 0.95 else hi * 10
            out.append(Event(metric=metric, value=value, **common))
        else:
            event = EVENT_KINDS.get(kind, "alarm") if rng.random() < 0.6 else rng.choice(("restore", "low_battery"))
            out.append(Event(event=event, **common))
    return out


class NaiveEvaluator:
    """Interprets the raw YAML rule dicts for every event: the cost compile-once avoids."""

    def __init__(self, files: list[Path], tz: str):
        self.rules = [r for f in files for r in (load_located(f).data or {}).get("rules") or []]
        self.tz = ZoneInfo(tz)

    def first_match(self, ev: Event) -> str | None:
        for rule in self.rules:
            if self.when(rule["when"], ev):
                return rule["id"]
        return None

    def when(self, cond: dict, ev: Event) -> bool:
        return all(self.test(k, v, ev) for k, v in cond.items())

    def test(self, key: str, spec, ev: Event) -> bool:
        if key in ("source", "kind", "event", "metric", "category", "device_id"):
            return getattr(ev, key) in (spec if isinstance(spec, list) else [spec])
        if key == "value":
            return self.numeric(spec, ev.value)
        if key == "fields":
            return all(self.numeric(w, ev.fields.get(n)) if isinstance(w, dict) else ev.fields.get(n) == w
                       for n, w in spec.items())
        text = re.sub(r"[\s\u3000]+", "", f"{ev.text}｜{ev.category or ''}").lower()
        if key == "keywords":
            spec = {"any": spec} if isinstance(spec, list) else spec
            ok = True
            for mode, words in spec.items():
                hits = [str(w).lower() in text for w in (words if isinstance(words, list) else [words])]
                ok &= any(hits) if mode == "any" else all(hits) if mode == "all" else not any(hits)
            return ok
        if key == "regex":
            return any(re.search(p, text) for p in (spec if isinstance(spec, list) else [spec]))
        if key == "area":
            return (ev.area_code or "").startswith(tuple(spec if isinstance(spec, list) else [spec]))
        if key == "time":
            a, b = spec.split("-")
            local = ev.occurred_at.astimezone(self.tz)
            m, s, e = local.hour * 60 + local.minute, int(a[:2]) * 60 + int(a[3:]), int(b[:2]) * 60 + int(b[3:])
            return s <= m < e if s <= e else (m >= s or m < e)
        if key == "any":
            return any(self.when(c, ev) for c in spec)
        if key == "all":
            return all(self.when(c, ev) for c in spec)
        if key == "not":
            return not self.when(spec, ev)
        return False

    @staticmethod
    def numeric(spec: dict, v) -> bool:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return False
        ops = {"gt": v.__gt__, "gte": v.__ge__, "lt": v.__lt__, "lte": v.__le__, "eq": v.__eq__, "ne": v.__ne__}
        return all(a[0] <= v <= a[1] if op == "between" else ops[op](a) for op, a in spec.items())


def _timed(fn) -> tuple[object, float, float]:
    """Result, wall seconds and CPU seconds of this process (the CPU figure ignores other load)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def events_frame(events: list[Event]) -> pd.DataFrame:
    """The same events as rows of the `events` table (naive UTC), for the replay figure."""
    return pd.DataFrame([{
        "source": e.source, "source_id": e.source_id, "natural_key": e.natural_key,
        "occurred_at": e.occurred_at.replace(tzinfo=None), "received_at": e.received_at.replace(tzinfo=None),
        "kind": e.kind, "device_id": e.device_id, "metric": e.metric, "value": e.value, "event": e.event,
        "text": e.text, "category": e.category, "area_code": e.area_code, "lat": e.lat, "lon": e.lon,
        "address": e.address, "fields": '{"lone_elder": true}' if e.fields.get("lone_elder") else "{}",
        "rule_id": None} for e in events])


def throughput(ruleset: RuleSet, naive: NaiveEvaluator, events: list[Event]) -> dict:
    n = len(events)
    state = RuleState()
    decisions, c_wall, c_cpu = _timed(lambda: sum(len(ruleset.evaluate(ev, state)) for ev in events))
    matched, b_wall, b_cpu = _timed(lambda: sum(naive.first_match(ev) is not None for ev in events))
    df = events_frame(events)
    summary, r_wall, r_cpu = _timed(lambda: replay(df, ruleset))
    return {"n": n, "decisions": decisions, "naive_matched": matched,
            "compiled_eps": n / c_wall, "compiled_cpu_eps": n / c_cpu,
            "baseline_eps": n / b_wall, "baseline_cpu_eps": n / b_cpu,
            "replay_eps": n / r_wall, "replay_cpu_eps": n / r_cpu, "replay_created": summary.created}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200_000, help="events for the throughput run (default 200000)")
    parser.add_argument("--config", type=Path, default=ROOT / "config.yaml")
    parser.add_argument("--rules", type=Path, action="append", help="rule file or folder (default: from config)")
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    paths = args.rules or [resolve_path(args.config, p) for p in cfg.rules.paths]
    ruleset = RuleSet.load(paths, cfg)
    rows = load_labelled()

    acc = accuracy(ruleset, rows)
    print(f"labelled texts: {acc['n']}  domain accuracy: {acc['accuracy']:.1%} ({acc['correct']}/{acc['n']})  target ≥ 95%")
    print("confusion matrix (rows: labelled domain, columns: predicted):")
    print(acc["matrix"].to_string())
    bad_traps = [t for t in acc["traps"] if t[1] != t[2]]
    print(f"traps: {len(acc['traps'])}, misclassified: {len(bad_traps)}  target 0")
    for tag, want, got, rule_id, text in acc["traps"]:
        print(f"  {'ok  ' if want == got else 'FAIL'} {tag:<24} want {want:<16} got {got:<16} {rule_id:<26} {text[:30]}")
    by_rule = Counter()
    for i, row in enumerate(rows):
        by_rule[ruleset.evaluate(text_event(i, row))[0].rule_id] += 1
    print(f"rules used by the labelled set: {len(by_rule)}")

    events = mixed_events(rows, args.size)
    naive = NaiveEvaluator(rule_files(paths), cfg.site.timezone)
    tp = throughput(ruleset, naive, events)
    print(f"throughput on {tp['n']:,} mixed events (70% sensor, 30% text); wall clock, and CPU time of this process:")
    print(f"  compiled RuleSet.evaluate : {tp['compiled_eps']:>12,.0f} events/s  (cpu {tp['compiled_cpu_eps']:,.0f}/s, "
          f"{tp['decisions']:,} decisions)  target ≥ 50,000")
    print(f"  baseline naive evaluator  : {tp['baseline_eps']:>12,.0f} events/s  (cpu {tp['baseline_cpu_eps']:,.0f}/s; "
          "re-walks raw YAML dicts per event)")
    print(f"  ratio compiled / baseline : {tp['compiled_eps'] / tp['baseline_eps']:>12.1f}x  "
          f"(cpu {tp['compiled_cpu_eps'] / tp['baseline_cpu_eps']:.1f}x)")
    print(f"  backtest replay           : {tp['replay_eps']:>12,.0f} events/s  (cpu {tp['replay_cpu_eps']:,.0f}/s; "
          f"DataFrame → Events → evaluate → simulated incidents, {tp['replay_created']:,} incidents)  target ≥ 50,000")
    print(f"  load average while running: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
