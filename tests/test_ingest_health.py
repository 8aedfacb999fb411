"""Source health and feed_silent, with a fixed clock: raised past the heartbeat, cleared on traffic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.health import FeedWatch, Meter, Pending, SourceHealth

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


class FakeSource:
    def __init__(self, source_id: str, name: str, clock):
        self.source_id, self.name = source_id, name
        self.meter = Meter(clock)

    def health(self) -> SourceHealth:
        return self.meter.health(self.source_id, self.name, "connected")


class Recorder:
    def __init__(self):
        self.events = []

    def submit(self, event, on_committed=None):
        self.events.append(event)


def test_meter_rates_slide_over_one_minute():
    now = [T0]
    m = Meter(lambda: now[0])
    for i in range(30):
        m.message(T0 + timedelta(seconds=i))
    m.dead_letter(T0 + timedelta(seconds=30))
    assert m.rates(T0 + timedelta(seconds=31)) == (31.0, 1.0)
    assert m.rates(T0 + timedelta(seconds=75)) == (16.0, 1.0)
    assert m.rates(T0 + timedelta(minutes=5)) == (0.0, 0.0)
    h = m.health("s", "S", "connected", T0 + timedelta(minutes=5))
    assert (h.last_message_at, h.dead_letters_total) == (T0 + timedelta(seconds=30), 1)


def test_feed_silent_raised_once_and_cleared_when_traffic_returns():
    now = [T0]
    sensors = FakeSource("mqtt_sensors", "物联感知", lambda: now[0])
    grid = FakeSource("mqtt_grid", "网格员上报", lambda: now[0])
    pipe = Recorder()
    watch = FeedWatch([(sensors, timedelta(minutes=5)), (grid, timedelta(minutes=30))], pipe, lambda: now[0])

    sensors.meter.message(T0)
    grid.meter.message(T0)
    assert watch.check(T0 + timedelta(minutes=4)) == []
    raised = watch.check(T0 + timedelta(minutes=6))
    assert [(e.source, e.source_id, e.kind, e.event) for e in raised] == [
        ("system", "mqtt_sensors", "feed_silent", "alarm")]
    alarm = raised[0]
    assert alarm.natural_key.startswith("feed_silent|mqtt_sensors|2026-11-24T02:05:00+00:00")
    assert "物联感知" in alarm.text and alarm.occurred_at == T0 + timedelta(minutes=6)
    assert watch.silent() == {"mqtt_sensors": T0 + timedelta(minutes=5)}
    assert watch.check(T0 + timedelta(minutes=10)) == []  # raised once, not every check

    sensors.meter.message(T0 + timedelta(minutes=11))
    cleared = watch.check(T0 + timedelta(minutes=11, seconds=5))
    assert [(e.source_id, e.event) for e in cleared] == [("mqtt_sensors", "restore")]
    assert cleared[0].natural_key != alarm.natural_key
    assert watch.silent() == {}
    assert pipe.events == raised + cleared

    # the grid feed, quiet since T0, goes silent after its own 30 min heartbeat
    sensors.meter.message(T0 + timedelta(minutes=30))
    assert [e.source_id for e in watch.check(T0 + timedelta(minutes=31))] == ["mqtt_grid"]


def test_a_source_that_never_spoke_is_silent_a_heartbeat_after_start():
    now = [T0]
    quiet = FakeSource("hotline_drop", "12345热线(文件)", lambda: now[0])
    watch = FeedWatch([(quiet, timedelta(minutes=30))], Recorder(), lambda: now[0])
    assert watch.check(T0) == []
    assert watch.check(T0 + timedelta(minutes=29)) == []
    assert [e.event for e in watch.check(T0 + timedelta(minutes=31))] == ["alarm"]


def test_pending_waits_for_every_commit():
    pending = Pending()
    callbacks = [pending.add() for _ in range(3)]
    assert not pending.wait(0)
    for cb in callbacks:
        cb()
    callbacks[0]()  # a second call changes nothing
    assert pending.wait(0)
