"""The session-signing key: the shipped demo key is refused outside the demo, and the demo gets its own random one.

Anyone who has read config.yaml knows the shipped key and can sign a cookie `{"_user_id": "admin"}`.
So the shipped key is never used to sign anything: in demo mode (embedded broker, loopback host,
simulator on) a random key is generated once and kept next to the store; outside demo mode the
center refuses to start until `web.secret_key` is set to a secret of the site's own.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from pathlib import Path

from ops_center.core.config import Config

log = logging.getLogger(__name__)

# The value config.yaml ships with, and a marker any copy-pasted placeholder carries.
SHIPPED_KEYS = frozenset({"demo-only-change-me-in-production-0001"})
PLACEHOLDER_MARKERS = ("change-me", "changeme")
KEY_FILE = "web_secret_key"
ENV_KEY = "OPS_CENTER_SECRET_KEY"  # a key kept out of config.yaml (service manager, container secret)


class InsecureSecretKey(Exception):
    """Start-up refused: the configured key is public and this is not the demo."""


def is_placeholder(key: str) -> bool:
    lowered = key.lower()
    return key in SHIPPED_KEYS or any(marker in lowered for marker in PLACEHOLDER_MARKERS)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def non_demo_reasons(cfg: Config, *, host: str, mqtt_url: str | None, simulator: bool) -> list[str]:
    """Why this start is not the demo (empty list: it is): a real broker, a reachable host, or no simulator."""
    reasons = []
    if mqtt_url is not None or not cfg.mqtt.embedded:
        reasons.append(f"a real MQTT broker ({mqtt_url or cfg.mqtt.url})")
    if not is_loopback(host):
        reasons.append(f"web host {host} is not loopback")
    if not simulator:
        reasons.append("the simulator is off")
    return reasons


def session_key(cfg: Config, key_dir: Path, *, host: str, mqtt_url: str | None, simulator: bool) -> str:
    """The key to sign sessions with ($OPS_CENTER_SECRET_KEY before web.secret_key); raises InsecureSecretKey
    outside the demo with a placeholder key."""
    key = os.environ.get(ENV_KEY) or cfg.web.secret_key
    if len(key) < 16:
        raise InsecureSecretKey(f"${ENV_KEY} is shorter than 16 characters")
    if not is_placeholder(key):
        return key
    reasons = non_demo_reasons(cfg, host=host, mqtt_url=mqtt_url, simulator=simulator)
    if reasons:
        raise InsecureSecretKey(
            "web.secret_key is the shipped demo key (or a placeholder); refusing to start outside demo mode ("
            + "; ".join(reasons) + "). Set web.secret_key to a random secret of your own, e.g. "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    return demo_key(key_dir)


def demo_key(key_dir: Path) -> str:
    """A random key made on the first demo start and kept (mode 0600) so sessions survive a restart."""
    path = Path(key_dir) / KEY_FILE
    try:
        existing = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        existing = ""
    if len(existing) >= 32:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    log.warning("demo mode: web.secret_key is the shipped placeholder; signing sessions with a random key "
                "kept in %s instead", path)
    return key
