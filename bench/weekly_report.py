"""weekly_report: one ISO week's full report (all sheets) at 10 M incidents, xlsx written to disk.

Figure: `ops_center.read.weekly_report.write_weekly_report` for the last complete week of the history,
median of warm runs. Baseline, same run: the cold first call (store just opened), so the ratio
shows what a warm cache buys; details split building (queries) from writing (xlsx).
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.common import BENCH_END, FULL, OUT, ReadOnlyStore, Result, dataset, load_cfg, pick_size, size_arg


def main(argv: list[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_arg(parser, default=FULL, quick=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    n = pick_size(args, FULL, 2_000)
    repeat = 1 if args.quick else args.repeat

    from ops_center.read.weekly_report import build_weekly_report, previous_week, write_weekly_report, xlsx_bytes

    cfg = load_cfg()
    t_total = time.perf_counter()
    week = previous_week(BENCH_END, cfg.site.timezone)
    out = OUT / "reports" / f"weekly-{week}.xlsx"
    path = dataset(n)
    with ReadOnlyStore(path) as store:
        t0 = time.perf_counter()
        write_weekly_report(store, cfg, week, out)
        cold = time.perf_counter() - t0
        warm = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            write_weekly_report(store, cfg, week, out)
            warm.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        report = build_weekly_report(store, cfg, week)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        xlsx_bytes(report, cfg)
        xlsx_s = time.perf_counter() - t0
    figure = statistics.median(warm)
    rows = {name: len(df) for name, df in report.sheets().items()}
    return Result(
        bench="weekly_report", measures=f"write_weekly_report({week}) to xlsx, median warm",
        figure=figure, unit="s", target="≤ 1.5 s", passed=figure <= 1.5,
        baseline=cold, baseline_label="cold first call, store just opened (s)", ratio=cold / figure,
        size=f"{n:,} incidents; sheet rows {rows}", seconds=time.perf_counter() - t_total,
        details={"build (queries + frames) s": build_s, "xlsx write s": xlsx_s,
                 "file": f"{out.relative_to(OUT.parent.parent)} ({out.stat().st_size / 1e6:.1f} MB)"},
    ).show()


if __name__ == "__main__":
    main()
