"""startup: `run.py` to its first HTTP 200 with 10 M incidents stored; baseline: the same on an empty store."""

from __future__ import annotations

import argparse
import time

from bench.common import FULL, Mosquitto, Result, dataset, fresh_db, pick_size, size_arg, working_copy
from bench.serve import App


def main(argv: list[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_arg(parser, default=FULL, quick=2_000)
    parser.add_argument("--repeat", type=int, default=2, help="launches per store (the best and all are shown)")
    args = parser.parse_args(argv)
    n = pick_size(args, FULL, 2_000)
    t_total = time.perf_counter()
    full = working_copy(dataset(n), "startup")
    empty = fresh_db("startup_empty")
    times: dict[str, list[float]] = {"full": [], "empty": []}
    with Mosquitto() as broker:
        for _ in range(max(1, args.repeat)):
            for label, db in (("empty", empty), ("full", full)):
                with App(db, broker.url) as app:
                    times[label].append(app.wait_ready())
    figure, baseline = max(times["full"]), min(times["empty"])
    return Result(
        bench="startup", measures="run.py launch → first HTTP 200 (/login), slowest launch",
        figure=figure, unit="s", target="≤ 10 s", passed=figure <= 10,
        baseline=baseline, baseline_label="same launch on an empty store (s)", ratio=figure / baseline,
        size=f"{n:,} incidents", seconds=time.perf_counter() - t_total,
        details={"launches with history (s)": ", ".join(f"{t:.2f}" for t in times["full"]),
                 "launches empty (s)": ", ".join(f"{t:.2f}" for t in times["empty"])},
    ).show()


if __name__ == "__main__":
    main()
