"""retention: the weekly report of an archived week (Parquet) against the same week in DuckDB, the archive job's
rows/s, and the store's footprint before and after.

On a working copy of the 1 M store (100 days): the report of a complete week 60 days back is built (median of
warm runs, `build_weekly_report`, the queries and frames every report file comes from) while it is still in
DuckDB — the baseline — then `retention.archive` moves every finished incident older than 30 days (with timeline
and events) to zstd Parquet, and the same report is built again — the figure; the ratio is figure / baseline.
The two reports must be identical (their csv text is compared). Details: the archive run (rows/s over the three
tables), the current week's report before/after (not archived: the views' bound keeps the files out of it), the
DuckDB file in place after a checkpoint, a compacted copy (what `run.py backup` writes) and the Parquet bytes.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from datetime import timedelta

from bench.common import BENCH_END, WORK, Result, dataset, history_shape, load_cfg, pick_size, size_arg, working_copy

SIZE = 1_000_000


def warm_build(store, cfg, week: str, repeat: int) -> tuple[float, str]:
    """Median seconds of warm builds (after one untimed call) and the report's csv text."""
    from ops_center.read.weekly_report import build_weekly_report, csv_text

    report = build_weekly_report(store, cfg, week)
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        build_weekly_report(store, cfg, week)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), csv_text(report, cfg)


def file_mb(path) -> float:
    return path.stat().st_size / 1e6


def main(argv: list[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_arg(parser, default=SIZE, quick=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    n = pick_size(args, SIZE, 2_000)
    repeat = 1 if args.quick else args.repeat

    from ops_center.read.weekly_report import week_of
    from ops_center.store.backup import backup
    from ops_center.store.retention import archive
    from ops_center.store.store import Store

    cfg = load_cfg()
    t_total = time.perf_counter()
    days, _ = history_shape(n)
    after = timedelta(days=max(1, round(days * 0.3)))  # 30 days of 100
    week = week_of(BENCH_END - timedelta(days=max(2, round(days * 0.6))), cfg.site.timezone)
    current = week_of(BENCH_END - timedelta(days=1), cfg.site.timezone)
    db = working_copy(dataset(n), "retention")
    directory, compact_dir = WORK / "retention-archive", WORK / "retention-compact"
    for folder in (directory, compact_dir):
        shutil.rmtree(folder, ignore_errors=True)
    size_before = file_mb(db)
    with Store(db) as store:
        in_db, text_before = warm_build(store, cfg, week, repeat)
        live_before, _ = warm_build(store, cfg, current, repeat)
        result = archive(store, directory, BENCH_END, after)
        moved = sum(result.rows.values())
        cur = store.cursor()
        cur.execute("CHECKPOINT")
        cur.close()
        size_after = file_mb(db)
        archived, text_after = warm_build(store, cfg, week, repeat)
        live_after, _ = warm_build(store, cfg, current, repeat)
        cur = store.cursor()
        try:
            compact = backup(cur, compact_dir, BENCH_END, keep=1).path
        finally:
            cur.close()
    if text_after != text_before:
        raise AssertionError(f"the report of {week} changed when its incidents were archived")
    parquet_mb = sum(p.stat().st_size for p in directory.glob("*.parquet")) / 1e6
    ratio = archived / in_db
    return Result(
        bench="retention", measures=f"build_weekly_report({week}) archived to Parquet, median warm",
        figure=archived, unit="s", target="≤ 1.5 s and ≤ 2× DuckDB", passed=archived <= 1.5 and ratio <= 2.0,
        baseline=in_db, baseline_label="the same week still in DuckDB (s)", ratio=ratio,
        size=f"{n:,} incidents over {days} days; after {after.days} d", seconds=time.perf_counter() - t_total,
        details={
            "archive run": f"{result.rows['incidents']:,} incidents + {result.rows['incident_timeline']:,} timeline "
                           f"+ {result.rows['events']:,} events in {result.seconds:.1f} s "
                           f"({moved / result.seconds:,.0f} rows/s, {result.rows['incidents'] / result.seconds:,.0f} "
                           f"incidents/s), months {', '.join(result.months)}",
            "report identical before/after": "yes (csv text compared)",
            f"current week {current} report s (before / after)": f"{live_before:.3f} / {live_after:.3f}",
            "DuckDB file MB: before / in place after checkpoint / compacted copy": (
                f"{size_before:,.0f} / {size_after:,.0f} / {file_mb(compact):,.0f}"),
            "Parquet archive MB": f"{parquet_mb:,.1f}",
        },
    ).show()


if __name__ == "__main__":
    main()
