"""Fixtures every test may use: the demo config, a fresh DuckDB file, a fixed clock, Chromium options."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ops_center.core.config import Config, load_config
from ops_center.service.bus import Bus
from ops_center.store.store import Store

pytest_plugins = ["tests.fixtures_mqtt", "tests.fixtures_web", "tests.fixtures_ingest", "tests.fixtures_rules",
                  "tests.fixtures_phone", "tests.fixtures_work_orders"]

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    "--window-size=1600,1000",
)


@pytest.fixture(scope="session")
def config_path() -> Path:
    return ROOT / "config.yaml"


@pytest.fixture(scope="session")
def cfg(config_path: Path) -> Config:
    return load_config(config_path)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ops.duckdb"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    """A fresh store on a DuckDB file, closed (and checkpointed) after the test."""
    with Store(db_path) as s:
        yield s


@pytest.fixture
def districts(cfg: Config, tmp_path: Path, fixed_now: datetime) -> Iterator[dict[str, Store]]:
    """The federated districts' stores (tests/fixtures_city.py) for the city tests, from their module's city `cfg`."""
    from tests.fixtures_city import district_stores  # only the city tests pay for importing the federation world

    stores = district_stores(cfg, tmp_path, fixed_now)
    yield stores
    for store in stores.values():
        store.close()


@pytest.fixture
def bus() -> Iterator[Bus]:
    b = Bus()
    yield b
    b.close()


@pytest.fixture
def events(bus: Bus) -> list:
    """Every domain event published on `bus`, in order (call bus.drain() before reading)."""
    seen: list = []
    bus.subscribe(seen.append)
    return seen


@pytest.fixture
def fixed_now() -> datetime:
    """Tuesday 2026-11-24 10:00 Asia/Shanghai (02:00 UTC): a plain working day."""
    return datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def pytest_setup_options():
    """dash[testing] hook: headless Debian Chromium that can reach nothing but loopback."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    return options


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """pytest-xdist (`--dist loadgroup`): every browser test on one worker, one Chromium at a time on a 2-core
    machine; every other test file whole on whichever worker is free (its module fixtures built once)."""
    for item in items:
        group = "browser" if item.get_closest_marker("browser") else item.path.name
        item.add_marker(pytest.mark.xdist_group(group))
