"""Outbound: what the center decides, published as JSON on `<prefix>/out/incident/<event>` at QoS 1.

SMS gateways and radio dispatch subscribe there. Messages are published from the bus thread after
commit; paho queues them in memory while the broker is unreachable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from ingest.health import Meter, SourceHealth
from ingest.mqtt_client import use_mqtt5
from ingest.outbound_link import Publisher
from ingest.outbound_process import ProcessPublisher
from ingest.outbound_wire import published
from ops_center.core.clock import utc_now
from ops_center.core.config import Config

log = logging.getLogger(__name__)


class Outbound:
    """Bus subscriber that mirrors incident created / escalated / transitioned / overdue / merged to MQTT."""

    source_id = "mqtt_out"
    name = "对外推送"
    stop_last = True  # stopped after the pipeline and the bus drained, so the last decisions still go out

    def __init__(self, cfg: Config, bus, *, url: str | None = None, mqtt5: bool | None = None,
                 clock: Callable[[], datetime] = utc_now):
        self.cfg = cfg
        self.meter = Meter(clock)
        mqtt5 = use_mqtt5(cfg.mqtt, url) if mqtt5 is None else mqtt5
        client_id = f"{cfg.mqtt.client_id}-out"
        # One publishing path (ingest/outbound_link.py): here, or in a child process with the receivers.
        kind: type[ProcessPublisher] | type[Publisher] = ProcessPublisher if cfg.mqtt.receivers else Publisher
        self.link: ProcessPublisher | Publisher = kind(cfg.mqtt, client_id, url=url, mqtt5=mqtt5)
        bus.subscribe_batch(self.handle)

    @classmethod
    def attach(cls, ctx, *, mqtt_url: str | None = None) -> Outbound:
        """Build it for a running app and add it to ctx.sources, so it starts and stops with them."""
        out = cls(ctx.cfg, ctx.bus, url=mqtt_url, clock=ctx.clock)
        ctx.sources.append(out)
        return out

    def start(self) -> None:
        self.link.start()

    def stop(self) -> None:
        self.link.stop()

    def health(self, now: datetime | None = None) -> SourceHealth:
        return self.meter.health(self.source_id, self.name, self.link.state, now)

    def wait_connected(self, timeout: float) -> bool:
        return self.link.connected.wait(timeout)

    def handle(self, events: list) -> None:
        """Bus handler (bus thread): hand a committed batch's published events over in one call; never blocks on the
        network. Per batch, not per event: the lock, the clock read and the health count per message were half of
        this handler's time with a 100,000-row export. The publisher serialises them (ingest/outbound_wire.py)."""
        out = published(events)
        if out:
            queued = self.link.publish_events(out)  # a refusal is logged by the publisher
            if queued:
                self.meter.add(queued, 0, None)
