"""Source health rates do not saturate: the wall showed 100000/分 while ~114 k/min arrived."""

from __future__ import annotations

from datetime import timedelta

from ingest.health import Meter
from tests.factories import FixedClock


def test_rate_counts_every_message_of_the_last_minute_however_many(fixed_now):
    clock = FixedClock(fixed_now)
    meter = Meter(clock)
    for _ in range(60):  # 114,000 a minute in receiver chunks of 1,900 a second
        meter.add(1_900, 0, clock.advance(seconds=1))
    assert meter.rates() == (114_000.0, 0.0)
    meter.dead_letter(clock.now)
    assert meter.rates() == (114_001.0, 1.0)
    clock.advance(seconds=61)
    assert meter.rates() == (0.0, 0.0) and meter.messages_total == 114_001
    late = clock.now - timedelta(seconds=5)  # a chunk stamped a little in the past still counts
    meter.message(clock.now)
    meter.message(late)
    assert meter.rates()[0] == 2.0
