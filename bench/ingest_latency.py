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
        original = ctx.pipeline.submit

        def submit(event, on_committed=None):
            t = event.fields.get("bench_t") if event.fields else None
            if t is None:
                return original(event, on_committed)

            def committed() -> None:
                lat.append((t, time.time() - t))
                if on_committed is not None:
                    on_committed()

            return original(event, committed)

        ctx.pipeline.submit = submit
        running = ic.start(ctx, broker.url)
        try:
            ic.wait_subscribed(ctx)
            report = wait_published(publish(broker.port, messages, rate=rate, stamp=True))
            ic.wait_handled(ctx, source_ids, len(messages), timeout=60 + seconds)
        finally:
            running.stop()
    start = min(t for t, _ in lat) + warmup if lat else 0
    samples = [d for t, d in lat if t >= start]
    p = percentiles(samples)
    rp = percentiles(raw)
    return Result(
        bench="ingest_latency", measures=f"publish → committed at {rate:,.0f} msg/s, p99",
        figure=p["p99_ms"], unit="ms", target="p99 ≤ 250 ms", passed=p["p99_ms"] <= 250,
        baseline=rp["p99_ms"], baseline_label="bare paho publish → receive, p99 (ms)",
        ratio=p["p99_ms"] / rp["p99_ms"] if rp["p99_ms"] else None,
        size=f"{len(messages):,} messages over {seconds} s into {history:,} incidents",
        seconds=time.perf_counter() - t_total,
        details={"p50 / p95 / max (ms)": f"{p['p50_ms']:.1f} / {p['p95_ms']:.1f} / {p['max_ms']:.1f}",
                 "raw p50 (ms)": rp["p50_ms"], "stamped events measured": len(samples),
                 "publisher achieved msg/s": report["rate"]},
    ).show()


if __name__ == "__main__":
    main()
