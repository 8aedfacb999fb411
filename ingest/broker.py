"""The demo's embedded MQTT broker: amqtt on loopback, in its own thread and event loop.

Only for the demo (`mqtt.embedded: true`); it keeps sessions in memory, so it is no substitute for
Mosquitto/EMQX with persistence in a deployment (docs/ingest.md).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING

from ingest.mqtt_client import parse_url
from ops_center.core.config import Config

if TYPE_CHECKING:
    from amqtt.broker import Broker

log = logging.getLogger(__name__)

START_TIMEOUT_S = 15


class EmbeddedBroker:
    """A running amqtt broker; `stop()` shuts it down and ends its thread."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._broker: Broker | None = None  # made on the broker's own loop, once it runs
        self._started: Future = Future()
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> EmbeddedBroker:
        self._thread.start()
        self._started.result(START_TIMEOUT_S)  # re-raises a failed start-up (e.g. port in use)
        log.info("embedded MQTT broker listening on %s:%s", self.host, self.port)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that called start()
            self._started.set_exception(exc)
            self._loop.close()
            return
        self._started.set_result(True)
        self._loop.run_forever()
        self._loop.close()

    async def _start(self) -> None:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 200}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        broker = Broker(config, loop=self._loop)
        self._broker = broker
        await broker.start()

    def stop(self) -> None:
        if not self._thread.is_alive() or self._broker is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
        try:
            future.result(10)
        except Exception:  # noqa: BLE001 - stopping carries on
            log.warning("embedded broker did not shut down cleanly", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def start_embedded(cfg: Config) -> EmbeddedBroker:
    """Start amqtt on the host:port of `mqtt.url`, which must be a loopback address."""
    for noisy in ("amqtt", "transitions"):  # both log every connection at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)
    address = parse_url(cfg.mqtt.url)
    host = "127.0.0.1" if address.host == "localhost" else address.host
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the embedded broker only listens on loopback; mqtt.url is {cfg.mqtt.url}")
    return EmbeddedBroker(host, address.port).start()
