"""ingest_mqtt: sustained events/s from a real Mosquitto through parse → rules → commit (QoS 1, ack after
commit, natural-key dedup) into a store already holding 10 M incidents / 12 M events.

Both measurements drain the same backlog of N messages (the demo Scenario's sensor/grid mix, 1 %
malformed, some byte-identical repeats) queued by the broker for a persistent session, so the
publisher never competes for CPU while we measure:
- baseline: one bare paho client receiving QoS 1 and parsing each payload with orjson;
- figure: the product's sources + pipeline, built exactly as run.py builds them, until every
  message is committed (accepted, duplicate or dead letter) and acknowledged.
Targets: ≥ 20,000 events/s and ≥ 0.65 × the raw rate.
"""

from __future__ import annotations

import argparse
import threading
import time

import orjson

from bench import ingest_common as ic
from bench.common import (
    FULL,
    Mosquitto,
    Result,
    cpu_seconds,
    dataset,
    load_cfg,
    pick_size,
    size_arg,
    thread_cpu,
    working_copy,
)
from bench.mqtt_tools import client, connect, create_session, prepare_messages, publish, topics, wait_published
from bench.profiling import Profile


def raw_rate(port: int, messages, subscriptions: list[str], timeout: float) -> float:
    """Bare paho: resume a session with N queued QoS 1 messages, receive and orjson-parse them all."""
    create_session(port, "bench-raw", subscriptions)
    wait_published(publish(port, messages))
    n = len(messages)
    count = 0
    done = threading.Event()
    c = client("bench-raw")

    def on_message(_c, _u, msg) -> None:
        nonlocal count
        try:
            orjson.loads(msg.payload)
        except orjson.JSONDecodeError:
            pass
        count += 1
        if count >= n:
            done.set()

    c.on_message = on_message
    t0 = time.perf_counter()
    connect(c, port, persistent=True)
    c.loop_start()
    if not done.wait(timeout):
        raise TimeoutError(f"raw client got {count:,} of {n:,}")
    seconds = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()
    return n / seconds


def main(argv: list[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_arg(parser, default=300_000, quick=2_000)
    parser.add_argument("--history", type=int, default=None, help=f"incidents already stored (default {FULL:,})")
    parser.add_argument("--profile", action="store_true", help="py-spy the full path (bench/out/profiles)")
    parser.add_argument("--receive-maximum", type=int, default=None,
                        help="experiment: override ingest.mqtt_client.RECEIVE_MAXIMUM (QoS 1 messages in flight)")
    parser.add_argument("--federation", action="store_true",
                        help="as a federated district: every incident change also written to the outbox and published")
    args = parser.parse_args(argv)
    n = pick_size(args, 300_000, 2_000)
    history = args.history or (2_000 if args.quick else FULL)
    cfg = load_cfg()
    if args.federation:
        from ops_center.core.config import FederationConfig

        cfg = cfg.model_copy(update={"federation": FederationConfig(role="district", district_code="510108")})
    if args.receive_maximum:
        import ingest.mqtt_client

        ingest.mqtt_client.RECEIVE_MAXIMUM = args.receive_maximum
    t_total = time.perf_counter()
    messages = prepare_messages(n)
    db = working_copy(dataset(history), "ingest_mqtt")
    timeout = max(60.0, n / 500)
    sources = ic.mqtt_sources(cfg)
    source_ids = [s.id for s in sources]
    with Mosquitto() as broker:
        raw = raw_rate(broker.port, messages, topics(cfg), timeout)
        ctx = ic.build(cfg, db)
        ic.catch_up_sweep(ctx)
        events_before = ctx.store.query("SELECT count(*) FROM events")[0][0]
        from ingest.sources import mqtt_sessions

        for _, client_id, sub in mqtt_sessions(cfg):
            create_session(broker.port, client_id, [sub])
        wait_published(publish(broker.port, messages))
        batches: list[tuple[int, float]] = []  # (inputs, seconds inside BatchWriter.apply)
        apply = ctx.pipeline.writer.apply

        def timed_apply(conn, events, dead, decided=()):
            t = time.perf_counter()
            try:
                return apply(conn, events, dead, decided)
            finally:
                batches.append((len(events) + len(dead), time.perf_counter() - t))

        ctx.pipeline.writer.apply = timed_apply
        hook_seconds: list[float] = []
        read_cpu: list[float] = []
        if args.federation:
            import ops_center.wiring.app as app_wiring

            attach = app_wiring.attach_federation

            def timed_attach(ctx, **kw):  # time the outbox hook on the writer thread
                attach(ctx, **kw)
                hook = ctx.store.change_hook

                def timed_hook(conn, ids):
                    t = time.perf_counter()
                    try:
                        return hook(conn, ids)
                    finally:
                        hook_seconds.append(time.perf_counter() - t)

                ctx.store.change_hook = timed_hook
                outbox = ctx.store.change_hook and hook.__self__  # the Outbox the hook is bound to
                read = outbox.read

                def timed_read(*a, **kw):  # the publisher thread's own CPU in outbox reads (DuckDB workers aside)
                    t = time.thread_time()
                    try:
                        return read(*a, **kw)
                    finally:
                        read_cpu.append(time.thread_time() - t)

                outbox.read = timed_read

            app_wiring.attach_federation = timed_attach
        running = None
        try:
            with Profile("ingest_mqtt", enabled=args.profile) as prof:
                t0, cpu0, threads0 = time.perf_counter(), cpu_seconds(), thread_cpu()
                running = ic.start(ctx, broker.url)
                t1 = ic.wait_handled(ctx, source_ids, n, timeout)
                cpu = {"writer process": cpu_seconds() - cpu0, **ic.receiver_cpu(ctx)}
                threads = {k: v - threads0.get(k, 0.0) for k, v in thread_cpu().items()}
            rate = n / (t1 - t0)
            stats = {sid: ctx.pipeline.stats(sid) for sid in source_ids}
        finally:
            if running is not None:
                running.stop()
            else:
                ctx.store.close()
        from ops_center.store.store import Store

        with Store(db) as store:
            events_after = store.query("SELECT count(*) FROM events")[0][0]
            incidents = store.query("SELECT count(*) FROM incidents")[0][0]
    accepted = sum(s.accepted for s in stats.values())
    ratio = rate / raw
    details = {
        "accepted / duplicates / dead letters": " / ".join(
            f"{sum(getattr(s, k) for s in stats.values()):,}" for k in ("accepted", "duplicates", "dead_letters")),
        "events stored before → after": f"{events_before:,} → {events_after:,}",
        "incidents stored after": f"{incidents:,}",
        "target ≥ 0.65 × raw": "met" if ratio >= 0.65 else "missed",
    }
    if args.receive_maximum:
        details["EXPERIMENT receive maximum"] = args.receive_maximum
    if args.federation:
        with Store(db) as store:
            outbox_rows = store.query("SELECT count(*) FROM fed_outbox")[0][0]
        details["federation outbox rows written"] = f"{outbox_rows:,}"
        details["outbox hook: calls / total s / ms per call"] = (
            f"{len(hook_seconds):,} / {sum(hook_seconds):.2f} / {1000 * sum(hook_seconds) / max(1, len(hook_seconds)):.1f}")
    if batches:
        sizes = [b for b, _ in batches]
        busy = sum(t for _, t in batches)
        details["writer batches: count / mean size / mean ms / writer busy"] = (
            f"{len(batches):,} / {sum(sizes) / len(sizes):,.0f} / {1000 * busy / len(batches):.1f} / "
            f"{100 * busy / (t1 - t0):.0f}%")
    details["CPU µs per message: " + " / ".join(cpu)] = " / ".join(f"{1e6 * c / n:.0f}" for c in cpu.values())
    if args.federation:
        details["publisher's outbox reads: calls / CPU µs per message (its own thread)"] = (
            f"{len(read_cpu):,} / {1e6 * sum(read_cpu) / n:.0f}")
    top = sorted(((v, k) for k, v in threads.items() if v > 0), reverse=True)[:8]
    details["writer-process threads, CPU µs per message"] = ", ".join(f"{k} {1e6 * v / n:.0f}" for v, k in top)
    if events_after - events_before != accepted:
        details["WARNING"] = f"events grew by {events_after - events_before:,} but {accepted:,} were accepted"
    details.update({f"profile {k}": v for k, v in prof.summary().items()})
    return Result(
        bench="ingest_mqtt", measures="sustained events/s, Mosquitto → parse → rules → commit → ack",
        figure=rate, unit="events/s", target="≥ 20,000/s and ≥ 0.65 × raw", passed=rate >= 20_000 and ratio >= 0.65,
        baseline=raw, baseline_label="bare paho QoS 1 receive + orjson parse (msg/s)", ratio=ratio,
        size=f"{n:,} messages into {history:,} incidents", seconds=time.perf_counter() - t_total, details=details,
    ).show()


if __name__ == "__main__":
    main()
