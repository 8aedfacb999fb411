"""MQTT helpers for the ingest benches: realistic messages, a separate publisher process, sessions.

Messages come from the product's own demo `Scenario` (sensor readings and alarms, grid reports,
1 % malformed, byte-identical repeats), so the bench sends what the simulator would, only faster.
The publisher runs in its own process so it never shares the GIL with what is measured.
"""

from __future__ import annotations

import argparse
import pickle
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.common import BENCH_END, ROOT, WORK, load_cfg

# The paced publisher sleeps only when at least this far ahead: a sleep per message (2,000 a second) cost the
# load generator ≈ 0.1 core of the 2 it shares with the product under test; the rate over any 2 ms is unchanged.
SLEEP_MIN_S = 0.002


def prepare_messages(n: int, *, seed: int = 7, per_second: float = 20_000) -> list[tuple[str, bytes]]:
    """n MQTT (topic, payload) pairs from the demo Scenario at `per_second` simulated events/s."""
    from ingest.simulator import Scenario
    from ops_center.core.devices import load_devices

    cfg = load_cfg()
    registry = load_devices(cfg.path_of(cfg.devices.path), cfg)
    scenario = Scenario(cfg, registry, seed=seed, events_per_minute=per_second * 60, malformed_ratio=0.01)
    out: list[tuple[str, bytes]] = []
    start = BENCH_END
    step = timedelta(seconds=max(1.0, n / per_second / 4))
    while len(out) < n:
        for msg in scenario.generate(start, start + step, flush=False):
            if msg.channel == "mqtt":
                out.append((msg.target, msg.payload))
                if len(out) >= n:
                    break
        start += step
    return out


def topics(cfg) -> list[str]:
    from ingest.grid import grid_topic
    from ingest.mqtt_intake import subscription
    from ingest.sensors import sensor_topic

    return [subscription(cfg, sensor_topic(cfg)), subscription(cfg, grid_topic(cfg))]


def client(client_id: str, *, manual_ack: bool = False) -> mqtt.Client:
    return mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                       protocol=mqtt.MQTTv5, manual_ack=manual_ack)


def connect(c: mqtt.Client, port: int, *, persistent: bool, receive_maximum: int | None = None) -> None:
    props = Properties(PacketTypes.CONNECT)
    if persistent:
        props.SessionExpiryInterval = 3600
    if receive_maximum:
        props.ReceiveMaximum = receive_maximum
    c.connect("127.0.0.1", port, 60, clean_start=not persistent, properties=props)


def create_session(port: int, client_id: str, subscriptions: list[str]) -> None:
    """Open a persistent session with QoS 1 subscriptions and leave, so the broker queues for it."""
    c = client(client_id)
    done = threading.Event()
    c.on_subscribe = lambda *a: done.set()
    connect(c, port, persistent=True)
    c.loop_start()
    c.subscribe([(t, 1) for t in subscriptions])
    if not done.wait(10):
        raise TimeoutError("subscribe not acknowledged")
    c.disconnect()
    c.loop_stop()


def publish(port: int, messages: list[tuple[str, bytes]], *, rate: float | None = None, stamp: bool = False,
            timeout: float = 600) -> dict:
    """Publish in a child process (QoS 1, all acknowledged by the broker); returns its timing report."""
    WORK.mkdir(parents=True, exist_ok=True)
    data = WORK / f"messages-{port}.pickle"
    report = WORK / f"publish-{port}.json"
    data.write_bytes(pickle.dumps(messages))
    cmd = [sys.executable, "-m", "bench.mqtt_tools", "--port", str(port), "--data", str(data), "--report", str(report)]
    if rate:
        cmd += ["--rate", str(rate)]
    if stamp:
        cmd += ["--stamp"]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    return {"proc": proc, "report": report, "data": data, "timeout": timeout}


def wait_published(handle: dict) -> dict:
    proc = handle["proc"]
    try:
        proc.wait(handle["timeout"])
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise
    handle["data"].unlink(missing_ok=True)
    if proc.returncode != 0:
        raise RuntimeError(f"publisher exited with {proc.returncode}")
    return orjson.loads(handle["report"].read_bytes())


def _publisher(argv: list[str] | None = None) -> int:
    """Child process: publish the pickled messages at --rate (or flat out), wait for every PUBACK."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=None)
    parser.add_argument("--stamp", action="store_true", help="add the send time (bench_t) to each JSON payload")
    args = parser.parse_args(argv)
    messages = pickle.loads(args.data.read_bytes())  # noqa: S301 - our own file, written just before
    c = client(f"bench-pub-{args.port}")
    c.max_inflight_messages_set(2000)
    c.max_queued_messages_set(0)
    acked = 0
    lock = threading.Lock()
    all_acked = threading.Event()

    def on_publish(*_a) -> None:
        nonlocal acked
        with lock:
            acked += 1
            if acked == len(messages):
                all_acked.set()

    c.on_publish = on_publish
    connect(c, args.port, persistent=False)
    c.loop_start()
    t0 = time.perf_counter()
    for i, (topic, payload) in enumerate(messages):
        if args.rate:
            due = t0 + i / args.rate
            delay = due - time.perf_counter()
            if delay > SLEEP_MIN_S:  # ahead of schedule: the messages due meanwhile go out together after it
                time.sleep(delay)
        if args.stamp and payload[:1] == b"{":
            try:
                body = orjson.loads(payload)
                body["bench_t"] = time.time()
                payload = orjson.dumps(body)
            except orjson.JSONDecodeError:
                pass
        while True:
            info = c.publish(topic, payload, qos=1)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                break
            time.sleep(0.001)
    sent = time.perf_counter() - t0
    ok = all_acked.wait(300)
    total = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()
    args.report.write_bytes(orjson.dumps({"messages": len(messages), "sent_s": sent, "acked_s": total,
                                          "all_acked": ok, "rate": len(messages) / total}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(_publisher())
