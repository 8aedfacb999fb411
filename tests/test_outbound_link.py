"""The outbound publisher while its broker is away: paho queues, and nothing we keep may raise."""

from __future__ import annotations

from ingest.outbound_link import KEEP_INFOS, Publisher
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
