"""Run every bench of issue 6 at full size, each in its own process, and write the summary table.

    python3 -m bench.run_all            # full size (≈ 9 min on 2 cores, + ≈ 3 min a day to build bench/out/data)
    python3 -m bench.run_all --quick    # tiny sizes (5 min on a loaded 2-core VM)
    python3 -m bench.run_all --only ingest_mqtt,wall_refresh

Durations per bench: docs/bench.md, "How long it takes".

Writes bench/out/summary.md and bench/out/summary.json (bench/out is git-ignored) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime

from bench.common import FULL, OUT, ROOT, WORK, dataset, fmt

# (table row, module in bench/, extra args at full size): the table, in its order.
BENCHES = (
    ("ingest_mqtt", "ingest_mqtt", []),
    ("ingest_latency", "ingest_latency", []),
    ("insert_path", "insert_path", []),
    ("rules", "rules_engine", []),
    ("wall_refresh", "wall_refresh", []),
    ("drilldown", "drilldown", []),
    ("weekly_report", "weekly_report", []),
    ("sla_sweep", "sla_sweep", []),
    ("backtest", "backtest", []),
    ("classify", "classify", []),
    ("footprint", "footprint", []),
    ("startup", "startup", []),
    ("open311_backfill", "open311_backfill", []),
    ("ingest_file", "ingest_file", []),
    ("retention", "retention", []),
    ("archived_refs", "archived_refs", []),
    ("federation", "federation", []),
)


def run_one(module: str, argv: list[str], timeout: float) -> tuple[dict | None, str]:
    out = OUT / "results" / f"{module}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench._one", module, str(out), *argv]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    if proc.returncode != 0 or not out.exists():
        return None, f"exit code {proc.returncode}"
    return json.loads(out.read_text()), ""


def table(rows: list[dict]) -> str:
    head = ("| bench | measures | figure | target | baseline (same run) | ratio | result | size | s |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        if r.get("error"):
            lines.append(f"| {r['bench']} | — | — | — | — | — | **ERROR** {r['error']} | — | — |")
            continue
        verdict = {True: "PASS", False: "**MISS**", None: "n/a"}[r["passed"]]
        base = f"{fmt(r['baseline'])} ({r['baseline_label']})" if r.get("baseline") is not None else "—"
        ratio = f"{r['ratio']:.2f}×" if r.get("ratio") is not None else "—"
        lines.append(f"| {r['bench']} | {r['measures']} | {fmt(r['figure'])} {r['unit']} | {r['target']} | {base} "
                     f"| {ratio} | {verdict} | {r['size']} | {r['seconds']:.0f} |")
    return head + "\n".join(lines) + "\n"


def details(rows: list[dict]) -> str:
    out = []
    for r in rows:
        if r.get("details"):
            out.append(f"\n**{r['bench']}**\n")
            for k, v in r["details"].items():
                out.append(f"- {k}: {fmt(v) if isinstance(v, float) else v}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (what the smoke test runs)")
    parser.add_argument("--only", help="comma-separated bench names")
    parser.add_argument("--profile", action="store_true", help="py-spy the ingest path (bench/out/profiles)")
    parser.add_argument("--keep-work", action="store_true", help="keep the benches' working copies (bench/out/work)")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    t0 = time.perf_counter()
    if not args.quick:  # build (or reuse) the cached stores first, so no bench's time includes them
        for size in (FULL, 1_000_000, 20_000):
            dataset(size)
    rows = []
    for name, module, extra in BENCHES:
        if only and name not in only:
            continue
        argv_one = ["--quick"] if args.quick else list(extra)
        if args.profile and name == "ingest_mqtt":
            argv_one.append("--profile")
        print(f"\n=== {name} ===", flush=True)
        result, error = run_one(module, argv_one, timeout=300 if args.quick else 900)
        rows.append(result or {"bench": name, "error": error})
    total = time.perf_counter() - t0
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    machine = f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    md = (f"# Bench summary ({'quick' if args.quick else 'full size'})\n\n{stamp} · {machine} · "
          f"{total / 60:.1f} min · `python3 -m bench.run_all{' --quick' if args.quick else ''}`\n\n"
          + table(rows) + "\n## Details\n" + details(rows))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "summary.md").write_text(md)
    (OUT / "summary.json").write_text(json.dumps({"at": stamp, "machine": machine, "minutes": total / 60,
                                                  "quick": args.quick, "results": rows},
                                                 ensure_ascii=False, indent=2, default=str))
    print("\n" + md)
    print(f"written: {OUT / 'summary.md'}, {OUT / 'summary.json'}")
    if not args.keep_work:  # working copies of the 10 M store are 2.4 GB each; the cached originals stay
        shutil.rmtree(WORK, ignore_errors=True)
    return 0 if all(not r.get("error") for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
