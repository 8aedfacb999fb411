"""Receiver processes (mqtt.receivers): every message stored once, acked only after commit, survivors of a kill."""

from __future__ import annotations

import os
import signal
import time

import pytest

from ingest.mqtt_intake import subscription
from ingest.receiver_pool import ReceiverPool
from ingest.sources import mqtt_source
from tests.fixtures_ingest import Publisher, isolated_cfg, make_app, wait_until
from tests.test_ingest_noloss import paced, readings

pytestmark = pytest.mark.mqtt


def pool_for(app, config_path) -> ReceiverPool:
    source = mqtt_source(app.cfg, config_path, app.cfg.source("mqtt_sensors"), app.pipeline, app.registry,
                         url=app.cfg.mqtt.url)
    assert isinstance(source, ReceiverPool)
    return source


def stored(app) -> tuple[int, int]:
    return app.rows("SELECT count(*), count(DISTINCT natural_key) FROM events WHERE device_id = 'AQI-0001'")[0]


def test_subscription_is_shared_only_when_several_receivers_split_a_topic(cfg):
    def sub(**changes) -> str:
        return subscription(cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update=changes)}), "ops/sensor/+/+")

    assert sub(receivers=1) == "ops/sensor/+/+"
    assert sub(receivers=2) == f"$share/{cfg.mqtt.client_id}/ops/sensor/+/+"
    assert sub(receivers=1, shared_group="g") == "$share/g/ops/sensor/+/+"


def test_two_receivers_store_every_message_once_and_ack_only_what_committed(mosquitto, cfg, config_path, db_path):
    app = make_app(isolated_cfg(cfg, mosquitto.url, receivers=2), config_path, db_path)
    prefix = app.cfg.mqtt.topic_prefix
    pub = Publisher(mosquitto.host, mosquitto.port, f"{app.cfg.mqtt.client_id}-pub")
    try:
        pool = app.run(pool_for(app, config_path))
        assert pool.wait_subscribed(30)
        bad = [(f"{prefix}/sensor/aqi/AQI-0001", b"{not json")] * 3
        pub.publish_all(readings(prefix, 0, 2000) + bad)
        wait_until(lambda: app.pipeline.stats("mqtt_sensors").accepted >= 2000
                   and app.pipeline.stats("mqtt_sensors").dead_letters >= 3, 60, "2,000 accepted, 3 dead letters")
        assert stored(app) == (2000, 2000)
        health = pool.health()
        assert health.state == "connected" and health.dead_letters_total == 3
        assert pool.meter.messages_total == 2003
        pool.stop()
        app.started.remove(pool)
        assert pool.health().state == "stopped"
        assert all(not c.process.is_alive() for c in pool._children)  # noqa: SLF001 - every receiver exited

        # Everything was acked after its commit: the same sessions resumed get nothing again but what is new.
        again = app.run(pool_for(app, config_path))
        assert again.wait_subscribed(30)
        pub.publish_all(readings(prefix, 2000, 2010))
        wait_until(lambda: app.pipeline.stats("mqtt_sensors").accepted >= 2010, 30, "10 more accepted")
        time.sleep(0.5)
        assert app.pipeline.stats("mqtt_sensors").duplicates == 0
        assert stored(app) == (2010, 2010)
    finally:
        pub.close()
        app.close()


def test_a_killed_receiver_is_restarted_and_nothing_is_lost(mosquitto, cfg, config_path, db_path):
    app = make_app(isolated_cfg(cfg, mosquitto.url, receivers=1), config_path, db_path)
    prefix = app.cfg.mqtt.topic_prefix
    pub = Publisher(mosquitto.host, mosquitto.port, f"{app.cfg.mqtt.client_id}-pub")
    n = 3000
    try:
        pool = app.run(pool_for(app, config_path))
        assert pool.wait_subscribed(30)
        child = pool._children[0]  # noqa: SLF001 - the test kills the real process
        first_pid = child.process.pid
        feed = paced(pub, readings(prefix, 0, n))  # ≈ 1,000 a second
        wait_until(lambda: app.pipeline.stats("mqtt_sensors").accepted > 200, 30, "first commits")
        os.kill(first_pid, signal.SIGKILL)
        wait_until(lambda: child.process.pid != first_pid and child.state == "connected", 30, "receiver restarted")
        feed.join(30)
        wait_until(lambda: app.pipeline.stats("mqtt_sensors").accepted >= n, 60, f"{n} accepted")
        assert stored(app) == (n, n)
        assert child.restarts == 1
    finally:
        pub.close()
        app.close()


def test_a_commit_report_goes_back_on_the_pipe_its_chunk_came_in_on(cfg, config_path):
    """A restarted receiver numbers chunks from 1 again: the dead one's "committed 1" must not reach it."""

    class Pipe:
        def __init__(self):
            self.sent, self.closed = [], False

        def send(self, message):
            if self.closed:
                raise OSError("handle is closed")
            self.sent.append(message)

    class Pipeline:
        def __init__(self):
            self.callbacks = []

        def submit_many(self, items, on_committed=None):
            self.callbacks.append(on_committed)

    pipeline = Pipeline()
    pool = ReceiverPool(cfg, cfg.source("mqtt_sensors"), "ops/sensor/+/+", None, pipeline, config_path)
    child = pool._children[0]  # noqa: SLF001 - the pipe bookkeeping under test
    old, new = Pipe(), Pipe()
    child.conn = old
    pool.on_message(child, old, ("chunk", 1, [], 0, 0, None))
    old.closed, child.conn = True, new  # the receiver died and was started again
    pool.on_message(child, new, ("chunk", 1, [], 0, 0, None))
    pipeline.callbacks[0]()  # the dead receiver's chunk commits: nobody is told
    assert new.sent == []
    pipeline.callbacks[1]()
    assert new.sent == [("committed", 1)]
