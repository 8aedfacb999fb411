"""Issue 11 point 3: the shipped web.secret_key never signs a session; outside the demo the center will not start."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import flask
import pytest
import requests
import yaml
from flask.sessions import SecureCookieSessionInterface

from ops_center.web.server import create_app
from ops_center.web.web_secret import KEY_FILE, InsecureSecretKey, non_demo_reasons, session_key
from tests.fixtures_mqtt import free_port
from tests.live_web import serve

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = "demo-only-change-me-in-production-0001"


def forged_cookie(key: str) -> str:
    """What anyone who read config.yaml can make: a session cookie saying "I am admin"."""
    signer = flask.Flask("forger")
    signer.secret_key = key
    return SecureCookieSessionInterface().get_signing_serializer(signer).dumps({"_user_id": "admin"})


def test_the_shipped_key_is_what_config_yaml_ships(cfg):
    assert cfg.web.secret_key == SHIPPED


def test_demo_start_signs_with_a_random_key_kept_next_to_the_store(cfg, tmp_path):
    key = session_key(cfg, tmp_path, host="127.0.0.1", mqtt_url=None, simulator=True)
    assert key != SHIPPED and len(key) >= 32
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert session_key(cfg, tmp_path, host="127.0.0.1", mqtt_url=None, simulator=True) == key  # survives a restart
    assert session_key(cfg, tmp_path / "other", host="localhost", mqtt_url=None, simulator=True) != key


def test_a_key_of_the_sites_own_is_used_as_configured(cfg, tmp_path):
    own = cfg.model_copy(update={"web": cfg.web.model_copy(update={"secret_key": "x" * 40})})
    assert session_key(own, tmp_path, host="0.0.0.0", mqtt_url="mqtt://10.0.0.5:1883", simulator=False) == "x" * 40
    assert not (tmp_path / KEY_FILE).exists()


@pytest.mark.parametrize(("host", "mqtt_url", "simulator", "reason"), [
    ("127.0.0.1", "mqtt://10.0.0.5:1883", True, "real MQTT broker"),
    ("0.0.0.0", None, True, "not loopback"),
    ("ops.example.cn", None, True, "not loopback"),
    ("127.0.0.1", None, False, "simulator is off"),
])
def test_outside_the_demo_the_shipped_key_is_refused(cfg, tmp_path, host, mqtt_url, simulator, reason):
    assert any(reason in r for r in non_demo_reasons(cfg, host=host, mqtt_url=mqtt_url, simulator=simulator))
    with pytest.raises(InsecureSecretKey, match=reason):
        session_key(cfg, tmp_path, host=host, mqtt_url=mqtt_url, simulator=simulator)
    assert not (tmp_path / KEY_FILE).exists()


def test_a_cookie_signed_with_the_shipped_key_opens_nothing(web_ctx, tmp_path):
    """Served over HTTP the way run.py serves the demo: the forged admin cookie is just an anonymous visitor."""
    cookie = {"session": forged_cookie(SHIPPED)}
    shipped_app = create_app(web_ctx, secret_key=SHIPPED)  # what signing with the configured key would allow
    with serve(shipped_app) as base:
        assert requests.get(base + "/admin", cookies=cookie, allow_redirects=False, timeout=30).status_code == 200
    demo = session_key(web_ctx.cfg, tmp_path, host="127.0.0.1", mqtt_url=None, simulator=True)
    with serve(create_app(web_ctx, secret_key=demo)) as base:
        resp = requests.get(base + "/admin", cookies=cookie, allow_redirects=False, timeout=30)
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")


def _site_config(tmp_path: Path) -> Path:
    """The demo config with absolute paths, the sensor source only and no synthetic history."""
    src = ROOT / "config.yaml"
    data = yaml.safe_load(src.read_text(encoding="utf-8"))
    data["devices"]["path"] = str(src.parent / data["devices"]["path"])
    data["rules"]["paths"] = [str(src.parent / p) for p in data["rules"]["paths"]]
    data["sources"] = [s for s in data["sources"] if s["kind"] == "mqtt_sensor"]
    data["reports"]["folder"] = str(tmp_path / "reports")
    data["simulator"]["history_days"] = 0
    if data.get("dispatch_catalogue"):
        data["dispatch_catalogue"] = str(src.parent / data["dispatch_catalogue"])
    if data.get("areas", {}).get("geojson_path"):
        data["areas"]["geojson_path"] = str(src.parent / data["areas"]["geojson_path"])
    out = tmp_path / "config.yaml"
    out.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


def test_run_py_with_a_real_broker_refuses_the_shipped_key(mosquitto, tmp_path):
    """The issue's start: real Mosquitto, --no-simulator, the shipped key. It must exit non-zero, not serve."""
    port = free_port()
    log = tmp_path / "run.log"
    cmd = [sys.executable, str(ROOT / "run.py"), "--config", str(_site_config(tmp_path)), "--db",
           str(tmp_path / "ops.duckdb"), "--mqtt-url", mosquitto.url, "--no-simulator", "--port", str(port)]
    with log.open("wb") as out:
        env = {k: v for k, v in os.environ.items() if k != "OPS_CENTER_SECRET_KEY"}
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        served = requests.get(f"http://127.0.0.1:{port}/admin", cookies={"session": forged_cookie(SHIPPED)},
                              allow_redirects=False, timeout=30).status_code
        proc.terminate()
        proc.wait(timeout=60)
        pytest.fail(f"run.py started with the shipped key; a forged admin cookie got HTTP {served} on /admin")
    text = log.read_text(errors="replace")
    assert code == 2, text
    assert "refusing to start" in text and "web.secret_key" in text and "real MQTT broker" in text
    assert not (tmp_path / KEY_FILE).exists()


def test_check_config_warns_about_the_shipped_key():
    done = subprocess.run([sys.executable, "run.py", "check-config"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "warning: web.secret_key is the shipped placeholder" in done.stderr


def test_the_environment_can_carry_the_key(cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("OPS_CENTER_SECRET_KEY", "k" * 48)
    assert session_key(cfg, tmp_path, host="0.0.0.0", mqtt_url="mqtt://10.0.0.5:1883", simulator=False) == "k" * 48
    monkeypatch.setenv("OPS_CENTER_SECRET_KEY", "short")
    with pytest.raises(InsecureSecretKey, match="shorter than 16"):
        session_key(cfg, tmp_path, host="127.0.0.1", mqtt_url=None, simulator=True)
