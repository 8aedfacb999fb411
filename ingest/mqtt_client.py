"""The paho-mqtt 2.x wrapper every MQTT part uses: persistent QoS 1 session, manual ack, safe callbacks.

Callbacks run on paho's network thread: they never block, never raise and never touch the database.
A message is acknowledged to the broker only when the pipeline reports its commit (`acker`).
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ops_center.core.config import MqttConfig

log = logging.getLogger(__name__)

# CONNACK reason codes that no retry will fix (v5 codes; paho maps 3.1.1's 4 and 5 onto 134 and 135).
AUTH_FAILURES = {134: "bad user name or password", 135: "not authorized", 138: "banned", 140: "bad auth method"}
# In-flight QoS 1 messages we accept before acking (the broker may cap it lower). Acks wait for the
# commit, so throughput is at most this window / (receive → commit → ack time): 1,000 over ≈ 0.2 s
# capped a receiver process at ≈ 5 k/s. 10,000 lets the writer, not the window, set the pace.
RECEIVE_MAXIMUM = 10_000


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool


def parse_url(url: str) -> BrokerAddress:
    """`mqtt://host:port` or `mqtts://host:port` (ports default to 1883 / 8883)."""
    parts = urlparse(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"expected mqtt://host:port or mqtts://host:port, got {url!r}")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(parts.hostname, parts.port or (8883 if tls else 1883), tls)


class MqttLink:
    """One broker connection with a fixed client id.

    `persistent=True` keeps the session on the broker (MQTT 5 clean_start=False with a session
    expiry, or 3.1.1 clean_session=False for brokers without MQTT 5), so QoS 1 messages that
    arrive while we are down are queued for us and unacknowledged ones are redelivered.
    """

    def __init__(
        self,
        cfg: MqttConfig,
        client_id: str,
        *,
        url: str | None = None,
        subscriptions: Sequence[str] = (),
        on_message: Callable[[mqtt.MQTTMessage, Callable[[], None]], None] | None = None,
        on_published: Callable[[ReasonCode], None] | None = None,
        persistent: bool = True,
        mqtt5: bool = True,
        name: str = "",
    ):
        self.cfg = cfg
        self.client_id = client_id
        self.address = parse_url(url or cfg.url)
        self.subscriptions = tuple(subscriptions)
        self.name = name or client_id
        self._on_message_cb = on_message
        self._on_published_cb = on_published
        self._persistent = persistent
        self._mqtt5 = mqtt5
        self._state = "stopped"
        self._generation = 0  # bumped when the broker lost our session: older acks must not be sent
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._client = self._make_client()

    # --- set-up ---

    def _make_client(self) -> mqtt.Client:
        if self._mqtt5:
            client = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=self.client_id,
                protocol=mqtt.MQTTv5,
                manual_ack=True,
            )
        else:
            client = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=self.client_id,
                protocol=mqtt.MQTTv311,
                clean_session=not self._persistent,
                manual_ack=True,
            )
        if self.cfg.username:
            client.username_pw_set(self.cfg.username, self.cfg.password)
        if self.address.tls or self.cfg.tls is not None:
            tls = self.cfg.tls
            client.tls_set(
                ca_certs=tls.ca_file if tls else None,
                certfile=tls.cert_file if tls else None,
                keyfile=tls.key_file if tls else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
            if tls is not None and tls.insecure:
                client.tls_insecure_set(True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_queued_messages_set(0)  # outgoing QoS 1 publishes wait in memory while offline
        client.max_inflight_messages_set(100)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        if self._on_published_cb is not None:
            client.on_publish = self._on_publish
        return client

    @property
    def state(self) -> str:
        return self._state

    def start(self) -> None:
        """Connect in the background; paho's thread reconnects with back-off (1 s doubling to 30 s)."""
        props = None
        clean_start: mqtt.CleanStartOption = mqtt.MQTT_CLEAN_START_FIRST_ONLY
        if self._mqtt5:
            props = Properties(PacketTypes.CONNECT)
            props.ReceiveMaximum = RECEIVE_MAXIMUM
            if self._persistent:
                props.SessionExpiryInterval = self.cfg.session_expiry_s
                clean_start = False
            else:
                clean_start = True
        self._state = "connecting"
        self._client.connect_async(
            self.address.host, self.address.port, self.cfg.keepalive_s, clean_start=clean_start, properties=props
        )
        self._client.loop_start()

    def stop(self) -> None:
        self._state = "stopped"
        try:
            self._client.disconnect()
        except Exception:  # noqa: BLE001 - stopping must always finish
            log.debug("%s: disconnect failed", self.name, exc_info=True)
        self._client.loop_stop()
        self.connected.clear()

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self._client.publish(topic, payload, qos=qos, retain=retain)

    # --- acknowledgement after commit ---

    def acker(self, msg: mqtt.MQTTMessage) -> Callable[[], None]:
        """The on_committed callback for one message: a PUBACK, unless the session was lost meanwhile."""
        mid, qos, generation = msg.mid, msg.qos, self._generation
        if qos == 0:
            return _noop
        client = self._client

        def ack() -> None:
            if generation != self._generation:
                return  # a fresh session reuses packet ids; this one now means another message
            try:
                client.ack(mid, qos)
            except Exception:  # noqa: BLE001 - runs on the writer thread; the broker will redeliver
                log.debug("%s: ack of mid %s failed", self.name, mid, exc_info=True)

        return ack

    # --- paho callbacks (network thread) ---

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        try:
            if reason_code.is_failure:
                code = reason_code.value
                if code in AUTH_FAILURES:
                    self._state = "auth_failed"
                    log.error(
                        "%s: broker %s:%s refused the login (%s); not retrying - fix mqtt.username/password",
                        self.name, self.address.host, self.address.port, AUTH_FAILURES[code],
                    )
                    client.disconnect()
                else:
                    self._state = "connecting"
                    log.warning("%s: connection refused (%s); retrying", self.name, reason_code)
                return
            if not flags.session_present:
                with self._lock:
                    self._generation += 1
            self._state = "connected"
            self.connected.set()
            log.info(
                "%s: connected to %s:%s (session %s)",
                self.name, self.address.host, self.address.port, "resumed" if flags.session_present else "new",
            )
            for topic in self.subscriptions:
                client.subscribe(topic, qos=1)
        except Exception:  # noqa: BLE001 - never raise into paho's thread
            log.exception("%s: on_connect failed", self.name)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            log.error("%s: subscription refused: %s", self.name, failed)
        else:
            log.info("%s: subscribed to %s", self.name, ", ".join(self.subscriptions))
            self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if self._state in ("stopped", "auth_failed"):
            return
        self._state = "disconnected"
        log.warning("%s: disconnected (%s); reconnecting with back-off", self.name, reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        """One of our QoS 1 messages is done: the broker acknowledged it (or, MQTT 5, refused it by reason code)."""
        callback = self._on_published_cb
        try:
            if callback is not None:
                callback(reason_code)
        except Exception:  # noqa: BLE001 - never raise into paho's thread
            log.exception("%s: on_published failed", self.name)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        if self._on_message_cb is None:
            return
        try:
            self._on_message_cb(msg, self.acker(msg))
        except Exception:  # noqa: BLE001 - a bug in a handler must not kill the network thread
            log.exception("%s: message handler failed on mid %s", self.name, msg.mid)


def _noop() -> None:
    return None


def use_mqtt5(cfg: MqttConfig, url_override: str | None) -> bool:
    """MQTT 5 for real brokers (Mosquitto, EMQX); 3.1.1 for the embedded amqtt demo broker."""
    return not (cfg.embedded and url_override is None)
