"""ingest_latency: publish → committed latency at 5,000 events/s (QoS 1, ack after commit), 10 M stored.

A separate publisher process sends the demo Scenario's mix at a steady 5,000 msg/s for --seconds,
stamping each JSON payload with its send time (`bench_t`, kept by the sensor parser in the event's
fields). The product runs in this process exactly as run.py builds it; `pipeline.submit` is wrapped
to note when each stamped event's `on_committed` fires (that is when its PUBACK goes out).
Baseline, same run: a bare paho subscriber's publish → receive latency at the same rate.
"""

from __future__ import annotations

import argparse
import threading
import time

import orjson

from bench import ingest_common as ic
from bench.common import FULL, Mosquitto, Result, dataset, load_cfg, percentiles, pick_size, size_arg, working_copy
from bench.mqtt_tools import client, connect, prepare_messages, publish, topics, wait_published

WARMUP_S = 2.0  # the first seconds (connections, first batches, caches) are not steady state


def raw_latency(port: int, messages, subscriptions, rate: float, warmup: float) -> list[float]:
    """publish → on_message latency of a bare paho QoS 1 subscriber."""
    lat: list[float] = []
    c = client("bench-raw-latency")
    got = threading.Event()
    c.on_subscribe = lambda *a: got.set()

    def on_message(_c, _u, msg) -> None:
        now = time.time()
        try:
            t = orjson.loads(msg.payload).get("bench_t")
        except (orjson.JSONDecodeError, AttributeError):
            return
        if t:
            lat.append(now - t)

    c.on_message = on_message
    connect(c, port, persistent=False)
    c.loop_start()
    c.subscribe([(t, 1) for t in subscriptions])
    got.wait(10)
    wait_published(publish(port, messages, rate=rate, stamp=True))
    time.sleep(0.5)
    c.disconnect()
    c.loop_stop()
    return lat[int(warmup * rate * 0.7):]


def _size(path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def main(argv: list[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_arg(parser, default=30, quick=2)
    parser.add_argument("--rate", type=float, default=5_000)
    parser.add_argument("--history", type=int, default=None, help=f"incidents already stored (default {FULL:,})")
    args = parser.parse_args(argv)
    seconds = pick_size(args, 30, 2)
    history = args.history or (2_000 if args.quick else FULL)
    rate = args.rate
    warmup = min(WARMUP_S, seconds / 4)
    cfg = load_cfg()
    t_total = time.perf_counter()
    messages = prepare_messages(int(seconds * rate), seed=11)
    db = working_copy(dataset(history), "ingest_latency")
    source_ids = [s.id for s in ic.mqtt_sources(cfg)]
    lat: list[tuple[float, float]] = []
    with Mosquitto() as broker:
        raw = raw_latency(broker.port, messages, topics(cfg), rate, warmup)
        ctx = ic.build(cfg, db)
        original, original_many = ctx.pipeline.submit, ctx.pipeline.submit_many

        def stamps(items) -> list[float]:
            return [t for ev in items if (t := (getattr(ev, "fields", None) or {}).get("bench_t")) is not None]

        def noting(items, on_committed):
            """on_committed (the PUBACKs) wrapped to note each stamped event's latency when it fires."""
            sent = stamps(items)
            if not sent:
                return on_committed

            def committed() -> None:
                now = time.time()
                lat.extend((t, now - t) for t in sent)
                if on_committed is not None:
                    on_committed()

            return committed

        # in-process receiving submits events one by one; receiver processes (mqtt.receivers) whole chunks
        ctx.pipeline.submit = lambda event, on_committed=None: original(event, noting([event], on_committed))
        ctx.pipeline.submit_many = lambda items, on_committed=None, ahead=None: original_many(
            items, noting(items, on_committed), ahead)
        commits: list[float] = []  # seconds per pipeline batch: rules + write + COMMIT (+ any auto-checkpoint)
        commit = ctx.pipeline._commit  # noqa: SLF001 - the bench times the real batch commit

        checkpoints: list[float] = []  # the commits during which DuckDB checkpointed (the WAL shrank)
        wal = db.with_name(db.name + ".wal")

        def timed_commit(batch):
            t, before = time.perf_counter(), _size(wal)
            try:
                return commit(batch)
            finally:
                commits.append(time.perf_counter() - t)
                if _size(wal) < before:
                    checkpoints.append(commits[-1])

        ctx.pipeline._commit = timed_commit  # noqa: SLF001
        running = ic.start(ctx, broker.url)
        try:
            ic.wait_subscribed(ctx)
            ic.catch_up_sweep(ctx)
            report = wait_published(publish(broker.port, messages, rate=rate, stamp=True))
            ic.wait_handled(ctx, source_ids, len(messages), timeout=60 + seconds)
        finally:
            running.stop()
    start = min(t for t, _ in lat) + warmup if lat else 0
    samples = [d for t, d in lat if t >= start]
    p = percentiles(samples)
    rp = percentiles(raw)
    cp = percentiles(commits)
    return Result(
        bench="ingest_latency", measures=f"publish → committed at {rate:,.0f} msg/s, p99",
        figure=p["p99_ms"], unit="ms", target="p99 ≤ 250 ms", passed=p["p99_ms"] <= 250,
        baseline=rp["p99_ms"], baseline_label="bare paho publish → receive, p99 (ms)",
        ratio=p["p99_ms"] / rp["p99_ms"] if rp["p99_ms"] else None,
        size=f"{len(messages):,} messages over {seconds} s into {history:,} incidents",
        seconds=time.perf_counter() - t_total,
        details={"p50 / p95 / max (ms)": f"{p['p50_ms']:.1f} / {p['p95_ms']:.1f} / {p['max_ms']:.1f}",
                 "raw p50 (ms)": rp["p50_ms"], "stamped events measured": len(samples),
                 "batches / commit p50 / p99 / max (ms)": f"{len(commits):,} / " + " / ".join(
                     f"{c:.0f}" for c in (cp["p50_ms"], cp["p99_ms"], cp["max_ms"])),
                 "commits with a WAL checkpoint: count / ms each": f"{len(checkpoints)} / "
                                                                   + ", ".join(f"{1000 * c:.0f}" for c in checkpoints),
                 "publisher achieved msg/s": report["rate"]},
    ).show()


if __name__ == "__main__":
    main()
