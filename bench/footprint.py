"""footprint: resident memory of the running process (run.py: ingest + scheduler + web) with 10 M incidents
stored, and the DuckDB file's bytes per incident.

RSS: run.py on a copy of the 10 M store; after its first HTTP 200 the wall's refresh callback is
called over HTTP (kiosk token) a few times and two SLA sweeps pass; then VmRSS and the peak VmHWM
are read from /proc. Baseline: the same on an empty store. File: size of the generated store
(incidents + their events + timelines) / incidents; baseline: the same tables as zstd Parquet.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import (
    FULL,
    Mosquitto,
    ReadOnlyStore,
    Result,
    dataset,
    fresh_db,
    load_cfg,
    pick_size,
    size_arg,
    working_copy,
)
from bench.dash_client import DashClient
from bench.serve import App

TABLES = ("incidents", "events", "incident_timeline")


def vm(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0]) * 1024
    return out


def exercise(app: App, cfg, calls: int, settle: float) -> None:
    """What a wall in front of people does: refresh callbacks; and let the scheduler sweep meanwhile."""
    from layouts import ids

    client = DashClient(app.base)
    client.kiosk(cfg.web.kiosk_tokens[0]) if cfg.web.kiosk_tokens else client.login("admin", "admin2026")
    dep = client.callback(ids.WALL_TOTALS)
    seen = None
    for i in range(calls):
        status, _, data = client.call(dep, {f"{ids.WALL_TICK}.n_intervals": i},
                                      {f"{ids.WALL_SEEN}.data": seen})
        if status != 200:
            raise RuntimeError(f"wall refresh gave HTTP {status}")
        seen = None  # always a full redraw: the worst case for memory
    time.sleep(settle)


def table_bytes(store: ReadOnlyStore) -> dict[str, int]:
    """Bytes per table from DuckDB's block usage (distinct blocks × block size)."""
    size = store.query("SELECT block_size FROM pragma_database_size()")[0][0]
    return {t: store.query(f"SELECT count(DISTINCT block_id) FROM pragma_storage_info('{t}') "  # noqa: S608
                           "WHERE block_id >= 0")[0][0] * size for t in TABLES}


def main(argv: list[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_arg(parser, default=FULL, quick=2_000)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args(argv)
    n = pick_size(args, FULL, 2_000)
    settle = 1.0 if args.quick else 11.0  # two sweeps at the demo's 5 s interval
    cfg = load_cfg()
    t_total = time.perf_counter()
    source = dataset(n)
    mem: dict[str, dict[str, int]] = {}
    with Mosquitto() as broker:
        for label, db in (("empty", fresh_db("footprint_empty")), ("full", working_copy(source, "footprint"))):
            with App(db, broker.url) as app:
                app.wait_ready()
                exercise(app, cfg, 3 if args.quick else args.calls, settle)
                mem[label] = vm(app.proc.pid)
    file_bytes = source.stat().st_size
    with ReadOnlyStore(source) as store:
        incidents = store.query("SELECT count(*) FROM incidents")[0][0]
        per_table = table_bytes(store)
        rows = {t: store.query(f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}  # noqa: S608
        with tempfile.TemporaryDirectory(prefix="bench-parquet-") as tmp:
            parquet = 0
            for t in TABLES:
                out = Path(tmp) / f"{t}.parquet"
                store.query(f"COPY {t} TO '{out}' (FORMAT parquet, COMPRESSION zstd)")  # noqa: S608
                parquet += out.stat().st_size
    rss = mem["full"]["VmRSS"]
    per_incident = file_bytes / incidents
    passed = rss <= 1.5e9 and per_incident <= 150
    return Result(
        bench="footprint", measures="RSS of run.py with the store loaded (MB); file bytes/incident in details",
        figure=rss / 1e6, unit="MB RSS", target="≤ 1.5 GB RSS; ≤ 150 B/incident", passed=passed,
        baseline=mem["empty"]["VmRSS"] / 1e6, baseline_label="same process on an empty store (MB RSS)",
        ratio=rss / mem["empty"]["VmRSS"], size=f"{incidents:,} incidents", seconds=time.perf_counter() - t_total,
        details={"peak RSS VmHWM (MB)": mem["full"]["VmHWM"] / 1e6,
                 "file bytes / incident": per_incident,
                 "file size (MB)": file_bytes / 1e6,
                 "per table MB (rows)": ", ".join(f"{t} {per_table[t] / 1e6:,.0f} ({rows[t]:,})" for t in TABLES),
                 "per table bytes / incident": ", ".join(f"{t} {per_table[t] / incidents:.0f}" for t in TABLES),
                 "zstd Parquet of the same tables, bytes / incident": parquet / incidents,
                 "RSS target": "met" if rss <= 1.5e9 else "missed",
                 "bytes/incident target": "met" if per_incident <= 150 else "missed"},
    ).show()


if __name__ == "__main__":
    main()
