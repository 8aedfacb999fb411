"""Events cross process pipes pickled (receivers, the file parser): the round trip must keep every field."""

import pickle
from datetime import UTC, datetime, timedelta

from ops_center.core.model import Event


def test_an_event_pickles_as_its_constructor_arguments_and_comes_back_equal():
    at = datetime(2026, 12, 6, 8, 30, 15, 123456, tzinfo=UTC)
    ev = Event("sensor", "mqtt_sensors", "SMK-1|2026-12-06T08:30:15", at, at + timedelta(seconds=1), kind="smoke",
               device_id="SMK-1", metric="ppm", value=3.5, event="alarm", text="烟感报警", category="smoke",
               area_code="510108001001001", lat=30.66, lon=104.1, address="猛追湾街1号",
               fields={"battery": 80, "nested": {"a": [1, 2]}})
    back = pickle.loads(pickle.dumps(ev, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == ev and back.fields == {"battery": 80, "nested": {"a": [1, 2]}}
    assert ev.__reduce__()[0] is Event  # rebuilt through __init__, not the slotted dataclass __setstate__
    bare = Event("hotline", "drop", "k", at, at)
    assert pickle.loads(pickle.dumps(bare)) == bare
