"""The outbound publisher while its broker is away: paho queues, and nothing we keep may raise."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import time

import pytest

from ingest.outbound_link import EXIT_GRACE_S, Publisher
from ingest.outbound_process import NICE, ProcessPublisher
from tests.fixtures_mqtt import free_port


def test_publishing_while_offline_queues_and_stopping_does_not_wait_for_a_broker_that_is_away(cfg):
    """paho's receipt of a message queued offline (rc 4) raises on is_published(); asking it killed the publisher
    process of 'not connected'. Now nothing asks, and stop() gives up at once without a connection."""
    publisher = Publisher(cfg.mqtt, "ops-test-offline-out", url=f"mqtt://127.0.0.1:{free_port()}", mqtt5=True)
    publisher.start()
    try:
        assert all(publisher.publish("ops/out/test", b"{}") for _ in range(2_000))
        assert not publisher.connected.is_set()
        assert publisher.pending == 2_000
    finally:
        started = time.monotonic()
        publisher.stop()
        assert time.monotonic() - started < EXIT_GRACE_S


@pytest.mark.parametrize("mqtt5", [True, False], ids=["mqtt5", "mqtt311"])  # 3.1.1: the embedded demo broker's
def test_more_messages_than_paho_can_number_are_all_delivered_after_the_broker_stalled(private_mosquitto, cfg, mqtt5):
    """paho numbers QoS 1 messages 1..65535 and refused (rc 15) every one past that while the first were unacknowledged:
    a 100,000-row export opens 100,000 incidents, and bench.ingest_file's subscriber got 89,560 of 99,972 when the
    publisher process fell behind. A stalled broker (SIGSTOP, as a hung or overloaded one) shows it every time."""
    n = 70_000
    topic = "ops/out/incident/created"
    out = private_mosquitto.data_dir / "received.txt"
    with out.open("wb") as sink:
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(private_mosquitto.port), "-V", "mqttv5",
                                "-q", "1", "-t", topic], stdout=sink, stderr=subprocess.PIPE)
    publisher = Publisher(cfg.mqtt, "ops-test-held-out", url=private_mosquitto.url, mqtt5=mqtt5)
    publisher.start()
    try:
        assert publisher.connected.wait(10)
        while b"probe" not in out.read_bytes():  # subscribed once a probe published after its start comes back
            assert publisher.publish(topic, b"probe") and sub.poll() is None
            time.sleep(0.1)
        private_mosquitto.proc.send_signal(signal.SIGSTOP)
        try:
            refused = [i for i in range(n) if not publisher.publish(topic, b"%d" % i)]
            held = publisher.pending
        finally:
            private_mosquitto.proc.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 60
        while publisher.pending and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # the broker's last deliveries to the subscriber
    finally:
        publisher.stop()
        sub.terminate()
        sub.wait(5)
    assert refused == []
    assert held >= n
    received = [int(x) for x in out.read_bytes().splitlines() if x != b"probe"]
    assert sorted(received) == list(range(n))


def test_the_publisher_process_yields_the_cpu_to_the_writer(cfg):
    """Telling others is second to storing what came in: the child runs NICE steps below the writer."""
    publisher = ProcessPublisher(cfg.mqtt, "ops-test-nice-out", url=f"mqtt://127.0.0.1:{free_port()}", mqtt5=True)
    publisher.start()
    try:
        child = next(p for p in multiprocessing.active_children() if p.name == "outbound-publisher")
        expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICE)
        deadline = time.monotonic() + 30  # the child renices itself first thing, once spawned
        while os.getpriority(os.PRIO_PROCESS, child.pid) != expected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == expected
    finally:
        publisher.stop()
