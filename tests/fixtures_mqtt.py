"""A real Mosquitto on a free loopback port for the whole session; restartable for the broker-restart test."""

from __future__ import annotations

import getpass
import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

log = logging.getLogger(__name__)

MOSQUITTO = "/usr/sbin/mosquitto"

# The settings a no-loss deployment needs (docs/ingest.md): persistence so queued QoS 1 messages
# survive a broker restart; a queue big enough for everything published while ingest is down (kept
# under 65,535: 2.0.11 stalls past that for one client); a wide in-flight window for throughput;
# $SYS every second for anyone watching the broker's counters. `user` keeps
# Mosquitto from dropping root privileges to `mosquitto`, which could not write the temp dir.
CONF = """\
listener {port} 127.0.0.1
user {user}
persistence true
persistence_location {data}/
autosave_interval 1
max_queued_messages 60000
max_inflight_messages 1000
max_packet_size 1048576
sys_interval 1
log_dest file {data}/mosquitto.log
log_type error
log_type warning
log_type notice
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(host: str, port: int, proc: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            try:
                proc.wait(0.05)  # a short wait on the process itself, so an early exit shows at once
            except subprocess.TimeoutExpired:
                pass
    raise TimeoutError(f"mosquitto did not listen on {host}:{port} within {timeout}s")


@dataclass
class MosquittoBroker:
    """One Mosquitto process; `restart()` stops it cleanly (persisting its state) and starts it again."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    auth: str = "allow_anonymous true"  # or "allow_anonymous false\npassword_file …"

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def log_text(self) -> str:
        path = self.data_dir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        conf = self.data_dir / "mosquitto.conf"
        conf.write_text(CONF.format(port=self.port, data=self.data_dir, user=getpass.getuser()) + self.auth + "\n")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait_listening(self.host, self.port, self.proc)

    def stop(self) -> None:
        """SIGTERM by PID: Mosquitto writes its persistence file on a clean exit."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    """A Mosquitto broker for the session; a missing binary is a failure, never a skip."""
    if not Path(MOSQUITTO).exists() and shutil.which("mosquitto") is None:
        pytest.fail(f"{MOSQUITTO} not found: install it (apt-get install -y mosquitto)")
    broker = MosquittoBroker(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def private_mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A broker of one's own, for tests that restart it or need an empty persistence store."""
    if not Path(MOSQUITTO).exists():
        pytest.fail(f"{MOSQUITTO} not found: install it (apt-get install -y mosquitto)")
    broker = MosquittoBroker(tmp_path / "mosquitto")
    broker.data_dir.mkdir()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
