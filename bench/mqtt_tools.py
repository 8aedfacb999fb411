"""MQTT helpers for the ingest benches: realistic messages, a separate publisher process, sessions.

Messages come from the product's own demo `Scenario` (sensor readings and alarms, grid reports,
1 % malformed, byte-identical repeats), so the bench sends what the simulator would, only faster.
The publisher runs in its own process so it never shares the GIL with what is measured.
"""

from __future__ import annotations

import argparse
import pickle
import socket
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

from bench.common import BENCH_END, ROOT, WORK, end_process, load_cfg

# The paced publisher sleeps at least this long when ahead: a sleep per message (2,000 a second) cost the load
# generator ≈ 0.1 core of the 2 it shares with the product under test; the rate over any 2 ms is unchanged.
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


class Subscriber:
    """A real QoS 1 subscriber (Mosquitto's own `mosquitto_sub`, in C) writing each message's arrival time.

    What an SMS gateway on the center's outbound topics would see; C, so it takes next to no CPU from what is
    measured. Each line of its output is `<unix time with ns> <payload>`.
    """

    PROBE = b'{"bench_probe":true}'

    def __init__(self, port: int, topic: str, out: Path):
        self.port, self.topic, self.out = port, topic, out
        self._sink = out.open("wb")
        self.proc = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5", "-q", "1",
                                      "-t", topic, "-F", "%U %p"], stdout=self._sink, stderr=subprocess.PIPE)
        self._read_at = 0
        self.count = 0  # messages seen so far (probes excluded), lines counted as `wait_for` reads them
        deadline = time.monotonic() + 10
        while not self._probe_seen():  # subscribed once a probe published after the start comes back
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto_sub did not subscribe: {self.proc.stderr.read().decode()[-500:]}")
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic,
                            "-m", self.PROBE.decode()], check=True, timeout=10)
            time.sleep(0.1)

    def _probe_seen(self) -> bool:
        return self.out.exists() and self.PROBE in self.out.read_bytes()

    def wait_for(self, n: int, contains: bytes, *, timeout: float, quiet: float = 10.0) -> int:
        """Until `n` messages containing `contains` arrived, or none for `quiet` s, or `timeout`; how many came."""
        deadline, last_change = time.monotonic() + timeout, time.monotonic()
        with self.out.open("rb") as f:
            while self.count < n and time.monotonic() < deadline and time.monotonic() - last_change < quiet:
                f.seek(self._read_at)
                data = f.read()
                whole = data[: data.rfind(b"\n") + 1]
                if whole:
                    self._read_at += len(whole)
                    self.count += sum(contains in line for line in whole.splitlines())
                    last_change = time.monotonic()
                else:
                    time.sleep(0.05)
        return self.count

    def arrivals(self, contains: bytes) -> list[tuple[float, bytes]]:
        """(arrival unix time, payload) of every message containing `contains`, in arrival order."""
        out = []
        for line in self.out.read_bytes().splitlines():
            at, _, payload = line.partition(b" ")
            if contains in payload:
                out.append((float(at), payload))
        return out

    def stop(self) -> None:
        end_process(self.proc)
        self._sink.close()


def _varint(n: int) -> bytes:
    """MQTT variable byte integer (remaining length, property length)."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _text(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


class WirePublisher:
    """The load generator's MQTT 5 client, QoS 1 packets written straight to the socket, PUBACKs counted.

    Not the product's code: it only puts standard MQTT 5 packets on the wire (Mosquitto checks them and drops the
    connection on a malformed one, which fails the bench). paho spends ≈ 35 µs of Python on every publish and its
    PUBACK; at 2,000 messages a second that was ≈ 0.1 core of the 2 the product under test shares with it. Here a
    due batch is encoded and written in one call.
    """

    WINDOW = 1_000  # QoS 1 messages in flight at most (the bench brokers allow any number)

    def __init__(self, port: int, client_id: str):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # CONNECT: protocol "MQTT" v5, clean start, keep alive 0 (off), no properties
        body = _text(b"MQTT") + bytes([5, 0x02]) + (0).to_bytes(2, "big") + _varint(0) + _text(client_id.encode())
        self.sock.sendall(b"\x10" + _varint(len(body)) + body)
        self.acked = 0
        self.sent = 0
        self._cond = threading.Condition()
        self._connack = threading.Event()
        self._error: str | None = None
        self._reader = threading.Thread(target=self._read, name="bench-pub-acks", daemon=True)
        self._reader.start()
        if not self._connack.wait(10) or self._error:
            raise ConnectionError(self._error or "no CONNACK")

    def publish(self, messages: list[tuple[str, bytes]]) -> None:
        """Write QoS 1 PUBLISH packets, waiting while WINDOW are unacknowledged."""
        packets = []
        for topic, payload in messages:
            with self._cond:
                if not self._cond.wait_for(lambda: self.sent - self.acked < self.WINDOW or self._error, 60):
                    raise TimeoutError("no PUBACK for 60 s")
                if self._error:
                    raise ConnectionError(self._error)
            self.sent += 1
            packet_id = (self.sent - 1) % 65_535 + 1
            body = _text(topic.encode()) + packet_id.to_bytes(2, "big") + b"\x00" + payload  # no properties
            packets.append(b"\x32" + _varint(len(body)) + body)  # PUBLISH, QoS 1
            if len(packets) >= 256:
                self.sock.sendall(b"".join(packets))
                packets.clear()
        if packets:
            self.sock.sendall(b"".join(packets))

    def wait_acked(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.acked >= self.sent or self._error is not None, timeout) \
                and self._error is None

    def close(self) -> None:
        try:
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT, normal
        except OSError:
            pass
        self.sock.close()

    def _read(self) -> None:
        buf = b""
        self.sock.settimeout(None)
        try:
            while True:
                data = self.sock.recv(65_536)
                if not data:
                    raise ConnectionError("broker closed the connection")
                buf += data
                acks = 0
                while len(buf) >= 2:
                    length, used, shift, more = 0, 1, 0, True
                    while more and used < len(buf):  # the remaining length, after the first byte
                        byte = buf[used]
                        length |= (byte & 0x7F) << shift
                        used, shift, more = used + 1, shift + 7, bool(byte & 0x80)
                    if more or used + length > len(buf):
                        break  # the rest of the packet is still on its way
                    kind, packet = buf[0] >> 4, buf[used:used + length]
                    buf = buf[used + length:]
                    if kind == 2:  # CONNACK: session present, reason code
                        if packet[1] != 0:
                            raise ConnectionError(f"CONNACK reason code {packet[1]}")
                        self._connack.set()
                    elif kind == 4:  # PUBACK: packet id, then a reason code when not success
                        if length > 2 and packet[2] >= 0x80:
                            raise ConnectionError(f"PUBACK reason code {packet[2]:#x}")
                        acks += 1
                    elif kind == 14:  # DISCONNECT from the server
                        raise ConnectionError(f"server DISCONNECT {packet[:1].hex()}")
                if acks:
                    with self._cond:
                        self.acked += acks
                        self._cond.notify_all()
        except (OSError, ConnectionError) as exc:
            with self._cond:
                self._error = self._error or str(exc)
                self._cond.notify_all()
            self._connack.set()


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
    pub = WirePublisher(args.port, f"bench-pub-{args.port}")
    t0 = time.perf_counter()
    done = 0
    while done < len(messages):
        if args.rate:
            due = min(len(messages), int((time.perf_counter() - t0) * args.rate) + 1)
            if due <= done:  # ahead of schedule: sleep until the next message is due
                time.sleep(max(SLEEP_MIN_S, t0 + done / args.rate - time.perf_counter()))
                continue
        else:
            due = min(len(messages), done + 500)
        batch = messages[done:due]
        if args.stamp:
            batch = [(topic, _stamped(payload)) for topic, payload in batch]
        pub.publish(batch)
        done = due
    sent = time.perf_counter() - t0
    ok = pub.wait_acked(300)
    total = time.perf_counter() - t0
    pub.close()
    args.report.write_bytes(orjson.dumps({"messages": len(messages), "sent_s": sent, "acked_s": total,
                                          "all_acked": ok, "rate": len(messages) / total}))
    return 0 if ok else 1


def _stamped(payload: bytes) -> bytes:
    """The payload with its send time (bench_t) added, when it is a JSON object."""
    if payload[:1] != b"{":
        return payload
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload
    body["bench_t"] = time.time()
    return orjson.dumps(body)


if __name__ == "__main__":
    raise SystemExit(_publisher())
