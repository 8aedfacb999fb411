"""Fixtures for the phone screens' browser tests: the real context with a running pipeline on a clock the test
moves (`live_ctx`), the app in dash_duo (`live_duo`), a second browser with its own cookie jar (`second_browser`),
a real PNG, a 390×844 phone viewport and a fixed geolocation."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from tests.factories import FixedClock

PHONE = (390, 844)
DESK = (1440, 900)


def png_bytes(width: int = 64, height: int = 48, rgb: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    """A real (decodable) PNG of one colour, written without an imaging library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


def png_file(folder: Path, name: str = "现场.png", **kwargs) -> Path:
    path = folder / name
    path.write_bytes(png_bytes(**kwargs))
    return path


def as_phone(driver, size: tuple[int, int] = PHONE) -> None:
    """Emulate a phone screen (touch, device pixels) of `size` CSS pixels."""
    width, height = size
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True})
    driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})


def as_desk(driver, size: tuple[int, int] = DESK) -> None:
    width, height = size
    driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": False})
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def place_at(driver, origin: str, lat: float, lon: float, accuracy: float = 12) -> None:
    """Grant geolocation to the app's origin and put the browser at (lat, lon)."""
    driver.execute_cdp_cmd("Browser.grantPermissions", {"origin": origin, "permissions": ["geolocation"]})
    driver.execute_cdp_cmd("Emulation.setGeolocationOverride",
                           {"latitude": lat, "longitude": lon, "accuracy": accuracy})


def horizontal_overflow(driver) -> int:
    """CSS pixels the page is wider than its viewport (0: no horizontal scroll)."""
    return int(driver.execute_script(
        "return Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - document.documentElement.clientWidth;"))


def map_drawn(driver, graph_id: str, timeout: float = 10) -> None:
    """Wait until the plotly map in `graph_id` has loaded its style and drawn its layers (for a screenshot)."""
    from selenium.webdriver.support.wait import WebDriverWait

    script = ("const gd = document.querySelector(arguments[0] + ' .js-plotly-plot');"
              "const sub = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;"
              "return !!(sub && sub.map && sub.map.loaded() && sub.map.isStyleLoaded());")
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script, f"#{graph_id}"), f"{graph_id} not drawn")


@pytest.fixture
def live_ctx(cfg, config_path, db_path, fixed_now):
    """build_context on a test store with its pipeline running; `live_ctx.clock` is a FixedClock to advance."""
    from ops_center.web.context import set_context
    from ops_center.wiring.app import build_context

    ctx = build_context(cfg, config_path, db_path=db_path, clock=FixedClock(fixed_now))
    ctx.pipeline.start()
    set_context(ctx)
    yield ctx
    ctx.pipeline.stop()
    ctx.bus.drain()
    ctx.bus.close()
    if ctx.hot_incidents is not None:
        ctx.hot_incidents.close()
    ctx.store.close()


@pytest.fixture
def live_duo(dash_duo, live_ctx):
    """dash_duo serving the app on live_ctx."""
    from ops_center.web.server import create_app
    from tests.fixtures_web import start_on_free_port

    return start_on_free_port(dash_duo, create_app(live_ctx))


@pytest.fixture
def second_browser(request, live_duo):
    """Another Chromium with its own cookies (another person's session) on the same server."""
    from dash.testing.browser import Browser

    with Browser(browser=request.config.getoption("webdriver"), headless=request.config.getoption("headless"),
                 options=request.config.hook.pytest_setup_options()) as other:
        other.server_url = live_duo.server_url
        yield other
