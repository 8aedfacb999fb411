"""Fixtures the work-order tests share: a fixed clock, the WorkOrderService on the test store, the demo users."""

from __future__ import annotations

import pytest

from ops_center.core.lifecycle import Actor
from ops_center.service.work_orders import WorkOrderService
from tests.factories import FixedClock

JIANHUA = "community:510108002002"  # 建华社区居委会, 猛追湾街道
GRID = "510108002002001"  # 建华社区第1网格
OTHER_STREET_COMMUNITY = "community:510108004003"


@pytest.fixture
def clock(fixed_now):
    return FixedClock(fixed_now)


@pytest.fixture
def wo(store, bus, cfg, clock):
    return WorkOrderService(store, bus, cfg, clock)


@pytest.fixture
def u(cfg):
    """The configured demo users as actors, by username."""
    return {x.username: Actor.of(x) for x in cfg.users}
