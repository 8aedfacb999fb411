"""backtest: stored events replayed through the shipped rule set (read from DuckDB → Events → rules →
simulated dedup/correlation), as `run.py rules backtest` does.

Figure: events/s end to end — the CLI's query for the latest N stored events of the 10 M store plus
`rules.backtest.replay`. Baseline, same run: the rule engine alone (`RuleSet.evaluate` over the same
events already built), i.e. the ceiling a replay could reach.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from bench.common import CONFIG, FULL, ReadOnlyStore, Result, dataset, load_cfg, pick_size, size_arg

BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)  # an empty store: read everything (that is, nothing)


def main(argv: list[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_arg(parser, default=200_000, quick=2_000)
    parser.add_argument("--history", type=int, default=None, help=f"incidents in the store (default {FULL:,})")
    args = parser.parse_args(argv)
    n = pick_size(args, 200_000, 2_000)
    history = args.history or (20_000 if args.quick else FULL)

    from ops_center.core.config import resolve_path
    from rules.backtest import events_from_arrow, read_events, replay
    from rules.engine import RuleSet, RuleState

    cfg = load_cfg()
    ruleset = RuleSet.load([resolve_path(CONFIG, p) for p in cfg.rules.paths], cfg)
    t_total = time.perf_counter()
    with ReadOnlyStore(dataset(history)) as store:
        since = store.query("SELECT occurred_at FROM events ORDER BY occurred_at DESC LIMIT 1 OFFSET ?",
                            [max(0, n - 1)])
        since = since[0][0].replace(tzinfo=UTC) if since else BEGINNING
        cursor = store.cursor()
        t0 = time.perf_counter()
        table = read_events(cursor, since)  # the CLI's query, open-ended: the latest n events
        read_s = time.perf_counter() - t0
        cursor.close()
    summary = replay(table, ruleset)
    figure = table.num_rows / (read_s + summary.elapsed_s)
    events = events_from_arrow(table)
    state = RuleState()
    t0 = time.perf_counter()
    for ev in events:
        ruleset.evaluate(ev, state)
    engine_rate = len(events) / (time.perf_counter() - t0)
    return Result(
        bench="backtest", measures="stored events → replay (read + rules + simulated incidents), events/s",
        figure=figure, unit="events/s", target="≥ 50,000/s", passed=figure >= 50_000,
        baseline=engine_rate, baseline_label="RuleSet.evaluate alone on built events (events/s)",
        ratio=figure / engine_rate, size=f"{table.num_rows:,} latest events of {history:,} incidents",
        seconds=time.perf_counter() - t_total,
        details={"read (s)": read_s, "replay (s)": summary.elapsed_s, "replay-only events/s": summary.events_per_s,
                 "would create / bumps / correlated": f"{summary.created:,} / {summary.bumped:,} / "
                                                     f"{summary.correlated:,}"},
    ).show()


if __name__ == "__main__":
    main()
