"""The product's ingest, in this process: build_context + start against a private Mosquitto."""

from __future__ import annotations

import time

from bench.common import CONFIG


def mqtt_sources(cfg) -> list:
    return [s for s in cfg.sources if s.enabled and s.kind in ("mqtt_sensor", "mqtt_grid")]


def build(cfg, db):
    """The application context exactly as run.py builds it (store, pipeline, rules, service …)."""
    from ops_center.wiring.app import build_context

    return build_context(cfg, CONFIG, db_path=db)


def start(ctx, broker_url: str, *, scheduler: bool = True):
    from ops_center.wiring.app import start as start_app

    return start_app(ctx, mqtt_url=broker_url, simulator=False, scheduler=scheduler)


def handled(ctx, source_ids: list[str]) -> int:
    """Inputs the pipeline has committed for these sources: accepted + duplicates + dead letters."""
    total = 0
    for sid in source_ids:
        s = ctx.pipeline.stats(sid)
        total += s.accepted + s.duplicates + s.dead_letters
    return total


def wait_handled(ctx, source_ids: list[str], n: int, timeout: float) -> float:
    """Block until n inputs are committed; returns the monotonic time it happened."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if handled(ctx, source_ids) >= n:
            return time.perf_counter()
        time.sleep(0.01)
    raise TimeoutError(f"only {handled(ctx, source_ids):,} of {n:,} inputs committed within {timeout:.0f} s")


def wait_subscribed(ctx, timeout: float = 20) -> None:
    wanted = {s.id for s in mqtt_sources(ctx.cfg)}
    for source in ctx.sources:
        if getattr(source, "source_id", None) in wanted and not source.wait_subscribed(timeout):
            raise TimeoutError(f"{source.source_id} did not subscribe")


def receiver_cpu(ctx) -> dict[str, float]:
    """CPU seconds used so far by each receiver process (mqtt.receivers), by source."""
    from bench.common import cpu_seconds

    out: dict[str, float] = {}
    for source in ctx.sources:
        for child in getattr(source, "_children", ()):
            if child.process is not None:
                key = f"{source.source_id} receivers"
                out[key] = out.get(key, 0.0) + cpu_seconds(child.process.pid)
    return out


def catch_up_sweep(ctx) -> int:
    """The SLA sweep's catch-up on the stale bench store (tens of thousands of overdue actions, seconds of
    writing), done before measuring: the benches measure a center in steady state, not its first sweep."""
    from ops_center.wiring.scheduler import run_sweep

    return len(run_sweep(ctx))
