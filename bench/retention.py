"""retention: the weekly report of an archived week (Parquet) against the same week in DuckDB, the archive job's
rows/s, and the store's footprint before and after.

On a working copy of the 1 M store (100 days) `retention.archive` moves every finished incident older than 30 days
(with timeline and events) to zstd Parquet: rows/s over the three tables. Then the report of a complete week 60
days back (`build_weekly_report`: every query and frame a report file is made of) is built alternately on the
untouched cached store (all in DuckDB: the baseline) and on the archived copy (the figure), warm, median; the
ratio is figure / baseline, and CPU seconds of both are compared too (the machine is shared: alternating and CPU
time keep load swings out of the ratio). The two reports must be identical (csv text compared). Details: the
current week (not archived) the same way, the DuckDB file in place after a checkpoint (DuckDB reuses freed
blocks but does not shrink the file), a compacted copy (what `run.py backup` writes) and the Parquet bytes.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from datetime import timedelta

from bench.common import (
    BENCH_END,
    WORK,
    ReadOnlyStore,
    Result,
    cpu_seconds,
    dataset,
    history_shape,
    load_cfg,
    pick_size,
    size_arg,
    working_copy,
)

SIZE = 1_000_000


def alternate(base, archived, cfg, week: str, repeat: int) -> dict[str, float | str]:
    """Warm builds of one week on both stores in turn: median wall seconds and CPU seconds of each, csv texts."""
    from ops_center.read.weekly_report import build_weekly_report, csv_text

    texts = [csv_text(build_weekly_report(store, cfg, week), cfg) for store in (base, archived)]  # also warms up
    wall: dict[int, list[float]] = {0: [], 1: []}
    cpu: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(repeat):
        for i, store in enumerate((base, archived)):
            c0, t0 = cpu_seconds(), time.perf_counter()
            build_weekly_report(store, cfg, week)
            wall[i].append(time.perf_counter() - t0)
            cpu[i].append(cpu_seconds() - c0)
    return {"base": statistics.median(wall[0]), "archived": statistics.median(wall[1]),
            "base_cpu": statistics.median(cpu[0]), "archived_cpu": statistics.median(cpu[1]),
            "same": texts[0] == texts[1]}


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
    source = dataset(n)
    db = working_copy(source, "retention")
    directory, compact_dir = WORK / "retention-archive", WORK / "retention-compact"
    for folder in (directory, compact_dir):
        shutil.rmtree(folder, ignore_errors=True)
    size_before = file_mb(db)
    with Store(db) as archived, ReadOnlyStore(source) as base:
        result = archive(archived, directory, BENCH_END, after)
        moved = sum(result.rows.values())
        cur = archived.cursor()
        try:
            cur.execute("CHECKPOINT")
            size_after = file_mb(db)
            compact = backup(cur, compact_dir, BENCH_END, keep=1).path
        finally:
            cur.close()
        old = alternate(base, archived, cfg, week, repeat)
        live = alternate(base, archived, cfg, current, repeat)
    if not (old["same"] and live["same"]):
        raise AssertionError(f"a report changed when its incidents were archived ({week}: {old['same']}, "
                             f"{current}: {live['same']})")
    parquet_mb = sum(p.stat().st_size for p in directory.glob("*.parquet")) / 1e6
    figure, in_db = float(old["archived"]), float(old["base"])
    ratio = figure / in_db
    return Result(
        bench="retention", measures=f"build_weekly_report({week}) archived to Parquet, median warm",
        figure=figure, unit="s", target="≤ 1.5 s; CPU ≤ 2× DuckDB's",
        passed=figure <= 1.5 and float(old["archived_cpu"]) <= 2.0 * float(old["base_cpu"]),
        baseline=in_db, baseline_label="the same week all in DuckDB (s)", ratio=ratio,
        size=f"{n:,} incidents over {days} days; after {after.days} d", seconds=time.perf_counter() - t_total,
        details={
            "archive run": f"{result.rows['incidents']:,} incidents + {result.rows['incident_timeline']:,} timeline "
                           f"+ {result.rows['events']:,} events in {result.seconds:.1f} s "
                           f"({moved / result.seconds:,.0f} rows/s, {result.rows['incidents'] / result.seconds:,.0f} "
                           f"incidents/s), months {', '.join(result.months)}",
            "archived week CPU s (DuckDB / archived)": f"{old['base_cpu']:.2f} / {old['archived_cpu']:.2f}",
            f"current week {current} s, CPU s (DuckDB / archived store)": (
                f"{live['base']:.3f} / {live['archived']:.3f}, {live['base_cpu']:.2f} / {live['archived_cpu']:.2f}"),
            "reports identical": "yes (csv text of both weeks compared)",
            "DuckDB file MB: before / in place after checkpoint / compacted copy": (
                f"{size_before:,.0f} / {size_after:,.0f} / {file_mb(compact):,.0f}"),
            "Parquet archive MB": f"{parquet_mb:,.1f}",
        },
    ).show()


if __name__ == "__main__":
    main()
