"""Start `run.py` as a child process on a free port and wait for its first HTTP 200."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.common import CONFIG, ROOT, free_port
from ops_center.web.web_secret import ENV_KEY


class App:
    """run.py on a store, against a given broker, no simulator; stopped by its own PID."""

    def __init__(self, db: Path, mqtt_url: str, *, web: bool = True, log_path: Path | None = None):
        self.port = free_port()
        self.log_path = log_path or db.with_suffix(".log")
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        cmd = [sys.executable, str(ROOT / "run.py"), "--config", str(CONFIG), "--db", str(db),
               "--mqtt-url", mqtt_url, "--no-simulator", "--log-level", "WARNING"]
        cmd += ["--port", str(self.port)] if web else ["--no-web"]
        self.t0 = time.perf_counter()
        # Not the demo (a given broker, no simulator): run.py refuses the shipped web.secret_key.
        env = {**os.environ, ENV_KEY: secrets.token_urlsafe(32)}
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, timeout: float = 10) -> int:
        try:
            with urllib.request.urlopen(self.base + path, timeout=timeout) as resp:  # noqa: S310 - loopback only
                resp.read()
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def wait_ready(self, path: str = "/login", timeout: float = 120) -> float:
        """Seconds from launch to the first HTTP 200 on `path`."""
        deadline = self.t0 + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"run.py exited with {self.proc.returncode}; see {self.log_path}:\n"
                                   + self.log_path.read_text(errors="replace")[-3000:])
            try:
                if self.get(path, timeout=2) == 200:
                    return time.perf_counter() - self.t0
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.05)
        raise TimeoutError(f"run.py gave no HTTP 200 on {path} within {timeout} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
