"""open311_backfill: the GeoReport v2 poller backfilling 100,000 requests from a spec server (≤ 1,000 per call).

A local server that behaves as the spec says (no paging, at most 1,000 requests per call, newest
first) holds N Chicago-shaped requests over 30 days; the poller starts with `backfill_from` 30 days
back and reads until its cursor reaches now, splitting every full window — through the real
pipeline (rules, incidents, closed-at-source transitions) into a fresh DuckDB file. Figure:
requests stored per second, the whole backfill. Baseline (same run, another fresh file): the same
requests parsed and submitted to the pipeline directly — the floor the poller adds HTTP, JSON and
window splitting to. No target was set by the issue; the ratio shows what the paging costs.
"""

from __future__ import annotations

import argparse
import logging
import time
from datetime import UTC, datetime, timedelta

from bench.common import CONFIG, Result, fresh_db, load_cfg, pick_size, size_arg


def _context(cfg, name: str, now: datetime):
    from ops_center.wiring.app import build_context

    ctx = build_context(cfg, CONFIG, db_path=fresh_db(name), clock=lambda: now)
    ctx.pipeline.start()
    return ctx


def _close(ctx) -> None:
    ctx.pipeline.stop()
    ctx.bus.drain()
    ctx.bus.close()
    ctx.store.close()


def main(argv: list[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_arg(parser, default=100_000, quick=3_000)
    args = parser.parse_args(argv)
    n = pick_size(args, 100_000, 3_000)
    logging.getLogger("ingest").setLevel(logging.ERROR)

    from ingest.georeport import parse_records
    from ingest.health import Pending
    from ingest.open311 import Open311Poller
    from ops_center.core.config import SourceConfig
    from tests.fixtures_georeport import GeoReportServer, make_requests

    cfg = load_cfg()
    cfg = cfg.model_copy(update={"simulator": cfg.simulator.model_copy(update={"enabled": False})})
    now = datetime.now(UTC).replace(microsecond=0)
    records = make_requests(n, now, span=timedelta(days=29), busy_every=50)  # 2 % in one hour: windows split
    t_total = time.perf_counter()

    server = GeoReportServer(records, "spec", frozen=True)
    ctx = _context(cfg, "open311_backfill", now)
    try:
        src = SourceConfig(id="hotline_api", kind="open311", name="12345热线(接口)", url=server.url,
                           backfill_from=now - timedelta(days=30))
        poller = Open311Poller(cfg, src, ctx.pipeline, ctx.registry, clock=lambda: now)
        t0 = time.perf_counter()
        handed = poller.poll_once(now)
        seconds = time.perf_counter() - t0
        stored = ctx.store.query("SELECT count(DISTINCT natural_key) FROM events")[0][0]
        calls = len(server.requests)
        full = sum(1 for q in server.requests if len(server.select(q)) >= 1000)
        # requests on a split point are read by both halves: handed over twice, stored once
        assert poller.cursor == now and stored == n <= handed, (poller.cursor, stored, handed)
    finally:
        server.close()
        _close(ctx)
    rate = n / seconds

    # Baseline: the same requests, parsed and submitted straight to the pipeline (no HTTP, no windows).
    ctx = _context(cfg, "open311_direct", now)
    try:
        t0 = time.perf_counter()
        pending = Pending()
        for lo in range(0, n, 1000):
            parsed = parse_records(cfg, ctx.registry, "hotline_api", records[lo:lo + 1000], now, "bench")
            for event in parsed.events:
                ctx.pipeline.submit(event, on_committed=pending.add())
        assert pending.wait(600)
        direct_s = time.perf_counter() - t0
    finally:
        _close(ctx)
    direct = n / direct_s
    return Result(
        bench="open311_backfill", measures="GeoReport v2 backfill, requests stored/s (spec server, ≤ 1,000 per call)",
        figure=rate, unit="requests/s", target="(none set) every request stored once", passed=stored == n,
        baseline=direct, baseline_label="same requests submitted to the pipeline directly, requests/s",
        ratio=rate / direct, size=f"{n:,} requests over 30 days", seconds=time.perf_counter() - t_total,
        details={"backfill seconds": seconds, "HTTP calls": calls, "full answers split": full,
                 "requests handed over (split points read twice)": handed,
                 "direct seconds": direct_s},
    ).show()


if __name__ == "__main__":
    main()
