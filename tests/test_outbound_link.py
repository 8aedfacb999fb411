"""The outbound Publisher while the broker is away: messages paho queues offline never crash the publisher."""

from __future__ import annotations

from ingest.outbound_link import KEEP_INFOS, Publisher


def test_messages_queued_offline_beyond_the_kept_receipts_do_not_raise(cfg):
    publisher = Publisher(cfg.mqtt, "outbound-offline-test", url="mqtt://127.0.0.1:9", mqtt5=False)  # never started
    # paho queues each (rc 4, no connection); its receipt raises on is_published(), which once killed the child
    assert all(publisher.publish("ops/out/test", b"{}") for _ in range(KEEP_INFOS + 5))
    publisher.stop()
