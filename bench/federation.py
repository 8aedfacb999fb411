"""federation: district → city lag at 1,000 changes/s, and replay speed after a simulated 10-minute outage.

One Mosquitto, a district store with the outbox hook and its publisher, a city store with the consumer
(ingest/fed_publisher.py, ingest/fed_consumer.py), in one process like a center runs them.
- lag: a writer commits incident changes at `--rate` per second (what is due, every ≥ 10 ms, in one
  commit through `store.incidents_changed`, as the pipeline's batches do); the lag of a change is the time from its commit at the
  district to the commit of the city's transaction that applied it. Baseline: bare paho, the same message
  rate and size (one message per 10 ms batch), publish → receive on the same broker.
- replay: the outage left `--outage-minutes` × rate changes in the district's outbox that the city never
  received (the publisher believes the broker took them, as when a bridge drops its queue); the city sees
  the gap in a heartbeat and asks for replays (`replay_max` per request) until it has caught up.
  Figure: changes/s from the first heartbeat to the watermark at the head. Baseline: bare paho throughput
  of the same messages (batch_changes rows each), publish → receive.
Targets: lag p99 ≤ 1 s at 1,000 changes/s; replay ≥ 5,000 changes/s (a 10-minute outage at 1,000/s
caught up in under two minutes).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from datetime import UTC, datetime

from bench.common import WORK, Mosquitto, Result, fresh_db, load_cfg
from bench.mqtt_tools import client, connect
from ingest.fed_consumer import FedConsumer
from ingest.fed_publisher import FedPublisher
from ingest.fed_wire import changes
from ops_center.core.config import FederationConfig
from ops_center.core.sla import SlaPolicy
from ops_center.service.bus import Bus
from ops_center.service.fed_apply import FederatedIncidents
from ops_center.service.fed_commands import CityCommands
from ops_center.service.incidents import IncidentService
from ops_center.service.outbox import Outbox
from ops_center.service.pipeline import Pipeline
from ops_center.service.work_orders import WorkOrderService
from ops_center.store.store import Store
from rules.holder import RulesHolder

CODE = "510108"
TICK_S = 0.01


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def seed_incidents(store: Store, n: int) -> None:
    """n plain incidents written straight to the table (not through the hook: they are the district's past)."""
    store.write(lambda conn: conn.execute(
        "INSERT INTO incidents (incident_id, status, domain, severity, title, area_code, street_code, district_code, "
        "level, created_at, updated_at) SELECT i, 'new', 'city_management', 'P3', '占道经营', '510108002005', "
        "'510108002', '510108', 'community', now()::TIMESTAMP, now()::TIMESTAMP FROM range(1, ? + 1) r(i)",
        [n]).fetchall())


def change(store: Store, ids: list[int]) -> None:
    """One committed change of these incidents, reported to the outbox like every writer does."""
    def fn(conn):
        conn.execute("UPDATE incidents SET report_count = report_count + 1, updated_at = now()::TIMESTAMP "
                     "WHERE incident_id IN (SELECT unnest(?::BIGINT[]))", [ids]).fetchall()
        store.incidents_changed(conn, ids)
    store.write(fn)


class Parts:
    """District and city halves on one broker, each with its own store and bus."""

    def __init__(self, broker: Mosquitto, name: str, fed: dict):
        cfg = load_cfg()
        self.dcfg = cfg.model_copy(update={"federation": FederationConfig.model_validate(
            {"role": "district", "district_code": CODE, **fed})})
        self.ccfg = cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update={"client_id": f"bench-city-{name}"}),
                                           "federation": FederationConfig.model_validate(
            {"role": "city", "districts": [{"code": CODE, "name": "成华区"}], **fed})})
        self.dstore, self.cstore = Store(fresh_db(f"fed-{name}-district")), Store(fresh_db(f"fed-{name}-city"))
        self.dbus, self.cbus = Bus(), Bus()
        self.outbox = Outbox(self.dstore, CODE, lambda: datetime.now(UTC)).install()
        service = IncidentService(self.dstore, self.dbus, self.dcfg, lambda: datetime.now(UTC))
        work_orders = WorkOrderService(self.dstore, self.dbus, self.dcfg, lambda: datetime.now(UTC), incidents=service)
        self.publisher = FedPublisher(self.dcfg, self.outbox, service, work_orders, url=broker.url)
        rules = RulesHolder([], self.ccfg)
        self.pipeline = Pipeline(self.cstore, self.cbus, self.ccfg, rules, SlaPolicy(self.ccfg),
                                 lambda: datetime.now(UTC)).start()
        self.incidents = FederatedIncidents(self.cstore, (CODE,), lambda: datetime.now(UTC))
        self.consumer = FedConsumer(self.ccfg, self.incidents, self.pipeline, self.cbus,
                                    CityCommands(self.cstore, lambda: datetime.now(UTC)), url=broker.url)
        self.applied_at: list[tuple[int, float]] = []  # (watermark after a city commit, monotonic time)
        apply = self.incidents.apply

        def timed(messages):
            result = apply(messages)
            self.applied_at.append((self.incidents.watermarks[CODE].seq, time.monotonic()))
            return result

        self.incidents.apply = timed  # type: ignore[method-assign]

    def close(self) -> None:
        for stop in (self.publisher.stop, self.consumer.stop, self.pipeline.stop, self.dbus.close, self.cbus.close,
                     self.dstore.close, self.cstore.close):
            stop()

    def applied_time(self, seq: int) -> float | None:
        for mark, at in self.applied_at:
            if mark >= seq:
                return at
        return None


def measure_lag(broker: Mosquitto, rate: int, seconds: float) -> tuple[list[float], dict]:
    per_tick = max(1, round(rate * TICK_S))
    parts = Parts(broker, "lag", {"heartbeat": "1s", "batch_changes": 200})
    try:
        seed_incidents(parts.dstore, 5_000)
        parts.consumer.start()
        parts.consumer.link.subscribed.wait(10)
        parts.publisher.start()
        parts.publisher.link.connected.wait(10)
        committed: list[tuple[int, float]] = []  # (last seq of the commit, monotonic time)
        start = time.monotonic()
        sent = 0
        total = int(seconds * rate)
        while sent < total:
            # what the rate says is due by now, in one commit (a slow write makes the next batch larger, as
            # the pipeline's batches grow under load): the offered rate stays `rate` on average
            due = min(total, int((time.monotonic() - start) * rate) + per_tick) - sent
            if due <= 0:
                time.sleep(TICK_S / 2)
                continue
            ids = [(sent + k) % 5_000 + 1 for k in range(min(due, 5_000))]
            change(parts.dstore, ids)
            sent += len(ids)
            committed.append((sent, time.monotonic()))
        achieved = committed[-1][0] / (time.monotonic() - start)
        head = committed[-1][0]
        deadline = time.monotonic() + 60
        while parts.incidents.watermarks[CODE].seq < head and time.monotonic() < deadline:
            time.sleep(0.01)
        lags = []
        for seq, at in committed:
            done = parts.applied_time(seq)
            if done is not None:
                lags.append(done - at)
        return lags, {"changes sent": head, "changes/s achieved": achieved,
                      "applied at the city": parts.incidents.watermarks[CODE].seq}
    finally:
        parts.close()


def measure_replay(broker: Mosquitto, backlog: int) -> tuple[float, dict]:
    parts = Parts(broker, "replay", {"heartbeat": "0.2s", "gap_wait": "0.2s", "batch_changes": 200,
                                     "replay_max": 20_000, "inflight_messages": 200})
    try:
        seed_incidents(parts.dstore, backlog)
        step = 5_000
        for first in range(1, backlog + 1, step):  # the outage's changes, committed in pipeline-sized batches
            change(parts.dstore, list(range(first, min(backlog, first + step - 1) + 1)))
        head = parts.outbox.head()
        parts.outbox.save_acked(head)  # lost on the way: only a replay can bring them
        parts.consumer.start()
        parts.consumer.link.subscribed.wait(10)
        t0 = time.monotonic()
        parts.publisher.start()
        deadline = t0 + 600
        while parts.incidents.watermarks[CODE].seq < head and time.monotonic() < deadline:
            time.sleep(0.01)
        seconds = time.monotonic() - t0
        rows = parts.cstore.query("SELECT count(*) FROM incidents")[0][0]
        return head / seconds, {"replayed changes": head, "replay requests": parts.consumer.replays_requested,
                                "seconds to catch up (incl. first heartbeat + gap_wait)": seconds,
                                "incidents at the city": rows}
    finally:
        parts.close()


def paho_lag(broker: Mosquitto, rate_msgs: float, seconds: float, payload: bytes) -> list[float]:
    """Bare paho: one QoS 1 message per tick, publish → receive latency."""
    sent: dict[int, float] = {}
    lags: list[float] = []
    done = threading.Event()
    total = int(seconds * rate_msgs)
    sub = client("bench-fed-raw-sub")
    sub.on_message = lambda _c, _u, msg: (lags.append(time.monotonic() - sent[int(msg.payload[:12])]),
                                          len(lags) >= total and done.set())
    connect(sub, broker.port, persistent=False)
    sub.subscribe("bench/raw/lag", qos=1)
    sub.loop_start()
    pub = client("bench-fed-raw-pub")
    connect(pub, broker.port, persistent=False)
    pub.loop_start()
    time.sleep(0.5)
    start = time.monotonic()
    for n in range(total):
        sent[n] = time.monotonic()
        pub.publish("bench/raw/lag", f"{n:012d}".encode() + payload, qos=1)
        delay = start + (n + 1) / rate_msgs - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    done.wait(30)
    for c in (pub, sub):
        c.loop_stop()
        c.disconnect()
    return lags


def paho_throughput(broker: Mosquitto, payload: bytes, n: int) -> float:
    """Bare paho: n QoS 1 messages of this size, publish → receive, messages/s."""
    got = 0
    done = threading.Event()

    def on_message(_c, _u, _msg):
        nonlocal got
        got += 1
        if got >= n:
            done.set()

    sub = client("bench-fed-tp-sub")
    sub.on_message = on_message
    connect(sub, broker.port, persistent=False)
    sub.subscribe("bench/raw/tp", qos=1)
    sub.loop_start()
    pub = client("bench-fed-tp-pub")
    connect(pub, broker.port, persistent=False)
    pub.loop_start()
    time.sleep(0.5)
    t0 = time.monotonic()
    for _ in range(n):
        pub.publish("bench/raw/tp", payload, qos=1)
    done.wait(120)
    seconds = time.monotonic() - t0
    for c in (pub, sub):
        c.loop_stop()
        c.disconnect()
    return got / seconds


def main(argv: list[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for the smoke test")
    parser.add_argument("--rate", type=int, default=1_000, help="changes/s the district commits (1,000)")
    parser.add_argument("--seconds", type=float, default=None, help="length of the lag run (default 30, quick 3)")
    parser.add_argument("--outage-minutes", type=float, default=None, help="outage to replay (default 10, quick 0.1)")
    args = parser.parse_args(argv)
    seconds = args.seconds or (3.0 if args.quick else 30.0)
    outage = args.outage_minutes or (0.1 if args.quick else 10.0)
    backlog = int(outage * 60 * args.rate)
    WORK.mkdir(parents=True, exist_ok=True)
    t_total = time.perf_counter()
    with Mosquitto() as broker:
        lags, lag_details = measure_lag(broker, args.rate, seconds)
        row = '{"incident_id":1,"status":"new","domain":"city_management","title":"占道经营","report_count":2}'
        per_tick = max(1, round(args.rate * TICK_S))
        tick_payload = changes(CODE, 1, [(n, n, row, None, None) for n in range(per_tick)])
        raw_lags = paho_lag(broker, 1 / TICK_S, min(seconds, 10.0), tick_payload)
        replay_rate, replay_details = measure_replay(broker, backlog)
        batch_payload = changes(CODE, 1, [(n, n, row, None, None) for n in range(200)])
        raw_tp = paho_throughput(broker, batch_payload, max(50, backlog // 200)) * 200
    p50, p99 = percentile(lags, 0.5), percentile(lags, 0.99)
    raw_p50, raw_p99 = percentile(raw_lags, 0.5), percentile(raw_lags, 0.99)
    details = {
        "lag p50 / p99 / max (ms)": f"{1000 * p50:.0f} / {1000 * p99:.0f} / {1000 * max(lags):.0f}",
        "bare paho lag p50 / p99 (ms), one message per 10 ms": f"{1000 * raw_p50:.1f} / {1000 * raw_p99:.1f}",
        **{f"lag run: {k}": v for k, v in lag_details.items()},
        "replay changes/s": f"{replay_rate:,.0f}",
        "bare paho changes/s (200 per message)": f"{raw_tp:,.0f}",
        **{f"replay: {k}": v for k, v in replay_details.items()},
        "mean lag (ms)": f"{1000 * statistics.fmean(lags):.0f}",
    }
    passed = p99 <= 1.0 and replay_rate >= 5_000
    return Result(
        bench="federation", measures=f"district → city lag p99 at {args.rate:,} changes/s (replay speed in details)",
        figure=1000 * p99, unit="ms", target="p99 ≤ 1,000 ms; replay ≥ 5,000 changes/s", passed=passed,
        baseline=1000 * raw_p99, baseline_label="bare paho QoS 1 publish → receive p99 (ms)",
        ratio=p99 / raw_p99 if raw_p99 else None,
        size=f"{lag_details['changes sent']:,} changes over {seconds:g} s; replay of {outage:g} min = {backlog:,} changes",
        seconds=time.perf_counter() - t_total, details=details,
    ).show()


if __name__ == "__main__":
    main()
