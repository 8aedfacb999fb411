"""`python3 run.py screenshots [--out DIR]`: PNGs of every screen on demo data, via headless Chromium.

Builds a throw-away store with synthetic history (ops_center.demo.synth), serves the real app on a
free loopback port, logs in as the demo admin and photographs each screen; the wall at 1920×1080,
3840×2160, 1440×900 and a 390×844 phone; console, areas (district and a grid) and reports also at 1440×900. Chromium may reach nothing but loopback, so the pictures prove the offline promise.
The output folder (default `out/screenshots/`) is outside git (.gitignore has /out/).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from ops_center.core.config import load_config
from ops_center.demo.synth import generate_history
from ops_center.store.store import to_db
from ops_center.web.server import create_app
from ops_center.wiring.app import build_context

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "out" / "screenshots"
CHROMIUM_ARGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
)
# (file name, path, width, height): every screen; the wall at 1080p and 4K.
SHOTS = (
    ("wall-1920x1080.png", "/wall", 1920, 1080),
    ("wall-3840x2160.png", "/wall", 3840, 2160),
    ("console.png", "/console", 1920, 1080),
    ("areas.png", "/areas", 1920, 1080),
    ("areas-street.png", "/areas?code=510108002&kpi=resolved_on_time_rate&range=30d", 1920, 1080),
    ("reports.png", "/reports", 1920, 1200),
    ("admin.png", "/admin", 1920, 1080),
    # A leader's laptop and an officer's phone (issue 16).
    ("wall-1440x900.png", "/wall", 1440, 900),
    ("wall-phone-390x844.png", "/wall", 390, 844),
    ("console-1440x900.png", "/console", 1440, 900),
    ("areas-1440x900.png", "/areas", 1440, 900),
    ("areas-grid-1440x900.png", "/areas?code=510108002005001&kpi=created&range=30d", 1440, 900),
    ("reports-1440x900.png", "/reports", 1440, 900),
    ("login.png", "/login", 1600, 900),
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_demo(config_path: Path, workdir: Path, *, days: int, per_day: int, seed: int):
    """An AppContext on a fresh DuckDB file with synthetic history ending now, plus a couple of dead letters."""
    cfg = load_config(config_path)
    ctx = build_context(cfg, config_path, db_path=workdir / "demo.duckdb")
    now = ctx.clock()
    generate_history(ctx.store, cfg, days=days, incidents_per_day=per_day, seed=seed, end=now)
    samples = [("mqtt_sensors", "ops/sensor/smoke/SMK-0001", "bad_json", b'{"ts": 17, "value": '),
               ("mqtt_grid", "ops/grid/510108999001001/report", "unknown_grid", b'{"report_id": "r1", "text": "x"}')]

    def dead_letters(conn):
        first = ctx.store.allocate_ids(conn, "dead_letters", len(samples))
        for i, (src, topic, reason, raw) in enumerate(samples):
            conn.execute("INSERT INTO dead_letters VALUES (?, ?, ?, ?, ?, NULL, ?)",
                         [first + i, to_db(now - timedelta(minutes=5 * (i + 1))), src, topic, reason, raw])

    ctx.store.write(dead_letters)
    return ctx


def _serve(app, port: int):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", port, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="screenshots-web", daemon=True)
    thread.start()
    return server


def missing_tools() -> str:
    """What screenshots need beyond the runtime dependencies, said before any demo data is built."""
    if importlib.util.find_spec("selenium") is None:
        return ("selenium, which is not a runtime dependency (pyproject.toml's `screenshots` extra): "
                "pip install -r requirements-dev.txt, or just selenium==4.2.0")
    if shutil.which("chromium") is None and not Path("/usr/bin/chromium").exists():
        return "Chromium (apt-get install chromium chromium-driver, as bash .ci/setup does)"
    return ""


def _driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    return webdriver.Chrome(options=options)


def _settle(driver, timeout: float = 20) -> None:
    """Wait until Dash has no callback in flight, then give maps/charts a moment to paint."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.25).until(
        lambda d: d.execute_script(
            "return document.readyState === 'complete' && !!document.querySelector('#react-entry-point *') && "
            "document.querySelectorAll('[data-dash-is-loading=\"true\"]').length === 0"))
    time.sleep(2.5)  # not a test: WebGL maps and transitions finish drawing on their own clock


def _viewport(driver, width: int, height: int) -> None:
    """Exactly width×height CSS pixels of page, whatever the browser's own chrome takes."""
    driver.set_window_size(width, height + 200)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def _wait_for_fitted_map(driver, timeout: float = 20) -> None:
    """assets/ops.js marks the wall map once it has fitted the district to the panel's real size."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.25).until(
        lambda d: d.execute_script("return !!document.querySelector('#wall-map .js-plotly-plot[data-fitted]')"))
    time.sleep(1.5)  # not a test: the relayout animates


def take(base_url: str, out: Path, username: str = "admin", password: str = "admin2026") -> list[Path]:
    """Log in through the real form, then photograph every screen in SHOTS."""
    from selenium.webdriver.common.by import By

    out.mkdir(parents=True, exist_ok=True)
    driver = _driver()
    written = []
    try:
        driver.set_window_size(1600, 900)
        driver.get(base_url + "/login")
        _settle(driver)
        driver.save_screenshot(str(out / "login.png"))
        written.append(out / "login.png")
        driver.find_element(By.ID, "login-username").send_keys(username)
        driver.find_element(By.ID, "login-password").send_keys(password)
        driver.find_element(By.ID, "login-submit").click()
        _settle(driver)
        for name, path, width, height in SHOTS:
            if path == "/login":
                continue
            _viewport(driver, width, height)
            driver.get(base_url + path)
            _settle(driver)
            if path.startswith("/wall"):
                _wait_for_fitted_map(driver)
            target = out / name
            driver.save_screenshot(str(target))
            written.append(target)
            log.info("wrote %s", target)
    finally:
        driver.quit()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run.py screenshots", description="PNG screenshots of every screen")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (default out/screenshots/)")
    parser.add_argument("--config", default=str(ROOT / "config.yaml"))
    parser.add_argument("--days", type=int, default=35, help="days of synthetic history (default 35)")
    parser.add_argument("--per-day", type=int, default=400, help="incidents per day (default 400)")
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args(argv)
    missing = missing_tools()
    if missing:
        print(f"run.py screenshots needs {missing}", file=sys.stderr)  # noqa: T201 - the CLI's answer
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    out = Path(args.out).resolve()
    with tempfile.TemporaryDirectory(prefix="ops-shots-") as tmp:
        ctx = build_demo(Path(args.config), Path(tmp), days=args.days, per_day=args.per_day, seed=args.seed)
        app = create_app(ctx)
        port = _free_port()
        server = _serve(app, port)
        try:
            written = take(f"http://127.0.0.1:{port}", out)
        finally:
            server.shutdown()
            ctx.bus.close()
            ctx.store.close()
    log.info("%d screenshots in %s", len(written), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
