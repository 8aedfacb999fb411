"""The outbound publisher while its broker is away: paho queues, and nothing we keep may raise."""

from __future__ import annotations

import multiprocessing
import os
import time

from ingest.outbound_link import KEEP_INFOS, Publisher
from ingest.outbound_process import NICE, ProcessPublisher
from tests.fixtures_mqtt import free_port


def test_publishing_more_than_the_kept_receipts_while_offline_does_not_kill_the_publisher(cfg):
    """paho's receipt of a message queued offline (rc 4) raises on is_published(); pruning the kept receipts
    past KEEP_INFOS asked every one of them, and the publisher process died of 'not connected'."""
    publisher = Publisher(cfg.mqtt, "ops-test-offline-out", url=f"mqtt://127.0.0.1:{free_port()}", mqtt5=True)
    try:
        assert all(publisher.publish("ops/out/test", b"{}") for _ in range(KEEP_INFOS + 50))
        assert not publisher.connected.is_set()
    finally:
        publisher.stop()


class _Receipt:
    """A paho receipt whose PUBACK has not come: the worst case for the kept receipts."""

    asked = 0
    rc = 0

    def is_published(self) -> bool:
        _Receipt.asked += 1
        return False


class _UnackedLink:
    name = "mqtt_out"

    def publish(self, topic, payload, qos):
        return _Receipt()


def test_a_backlog_of_unacknowledged_publishes_costs_constant_receipt_checks_per_publish(cfg):
    """Past KEEP_INFOS every publish rescanned every kept receipt: O(backlog) per message, 71 µs a message with
    a 100,000-incident export (bench.ingest_file) and the writer's outbound queue growing behind it."""
    publisher = Publisher(cfg.mqtt, "ops-test-backlog-out", url=f"mqtt://127.0.0.1:{free_port()}", mqtt5=True)
    publisher.link = _UnackedLink()
    n = 4 * KEEP_INFOS
    _Receipt.asked = 0
    assert all(publisher.publish("ops/out/test", b"{}") for _ in range(n))
    assert _Receipt.asked <= 4 * n  # before: ≈ (n - KEEP_INFOS) × n / 2


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
