"""drilldown: one drill step — KPIs for all children of a street over 30 days — at 10 M incidents.

Figure: `layouts.areas.load_drill` (what the /areas page runs per click: children KPI table,
area summary, domain mix; three grouped queries through ops_center.read.kpis), for every street of
the district, repeated; p95. Baseline, same run: the naive way — one `kpis.kpi_summary` query per
child community (what a per-area loop in a callback would do).
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from bench.common import (
    BENCH_END,
    FULL,
    ReadOnlyStore,
    Result,
    dataset,
    load_cfg,
    page_module,
    percentiles,
    pick_size,
    size_arg,
)


def main(argv: list[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_arg(parser, default=FULL, quick=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    n = pick_size(args, FULL, 2_000)
    repeat = 1 if args.quick else args.repeat

    from ops_center.core import geo
    from ops_center.read import kpis

    load_drill = page_module("layouts.areas").load_drill
    cfg = load_cfg()
    t_total = time.perf_counter()
    end = BENCH_END
    start = end - timedelta(days=30)
    streets = [a.code for a in geo.children(cfg, cfg.site.default_area) if a.level == "street"]
    with ReadOnlyStore(dataset(n)) as store:
        t0 = time.perf_counter()
        load_drill(store, cfg, streets[0], start, end, None)
        cold = time.perf_counter() - t0
        samples, naive = [], []
        children = 0
        for _ in range(repeat):
            for code in streets:
                t0 = time.perf_counter()
                drill = load_drill(store, cfg, code, start, end, None)
                samples.append(time.perf_counter() - t0)
                children += len(drill.rows)
        for code in streets:
            t0 = time.perf_counter()
            for child in geo.children(cfg, code):
                kpis.kpi_summary(store, start, end, area=child.code, as_of=end)
            kpis.kpi_summary(store, start, end, area=code, as_of=end)
            naive.append(time.perf_counter() - t0)
        in_range = store.query("SELECT count(*) FROM incidents WHERE created_at >= ? AND created_at < ?",
                               [start.replace(tzinfo=None), end.replace(tzinfo=None)])[0][0]
    p = percentiles(samples)
    nb = percentiles(naive)
    return Result(
        bench="drilldown", measures="load_drill(street, 30 days), p95 over all streets",
        figure=p["p95_ms"], unit="ms", target="≤ 150 ms", passed=p["p95_ms"] <= 150,
        baseline=nb["p95_ms"], baseline_label="naive: one kpi_summary query per child community, p95 (ms)",
        ratio=nb["p95_ms"] / p["p95_ms"],
        size=f"{n:,} incidents, {in_range:,} in the 30 days", seconds=time.perf_counter() - t_total,
        details={"p50 (ms)": p["p50_ms"], "max (ms)": p["max_ms"], "cold first call (ms)": cold * 1000,
                 "drill steps": len(samples), "children per step (mean)": children / max(1, len(samples))},
    ).show()


if __name__ == "__main__":
    main()
