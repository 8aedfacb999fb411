"""py-spy sampling of this very process, summarised as the functions that hold the most samples."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

from bench.common import OUT

PROFILES = OUT / "profiles"


class Profile:
    """`with Profile("ingest_mqtt"):` records py-spy raw stacks of this process (all threads, idle excluded)."""

    def __init__(self, name: str, *, enabled: bool = True, rate: int = 200, native: bool = False):
        self.name, self.rate, self.native = name, rate, native
        self.enabled = enabled and shutil.which("py-spy") is not None
        self.path = PROFILES / f"{name}.txt"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Profile:
        if self.enabled:
            PROFILES.mkdir(parents=True, exist_ok=True)
            cmd = ["py-spy", "record", "--pid", str(os.getpid()), "--rate", str(self.rate), "--format", "raw",
                   "--output", str(self.path), "--nonblocking", "--subprocesses"]
            if self.native:
                cmd.append("--native")
            if os.environ.get("BENCH_PYSPY_GIL"):  # sample only the thread holding the GIL
                cmd.append("--gil")
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def summary(self, top: int = 12) -> dict[str, str]:
        return summarise(self.path, top) if self.enabled and self.path.exists() else {}


def summarise(path: Path, top: int = 12) -> dict[str, str]:
    """Share of samples per thread, and the top frames by self and by inclusive samples."""
    self_count: Counter = Counter()
    incl: Counter = Counter()
    threads: Counter = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        n = int(n)
        total += n
        frames = stack.split(";")
        threads[frames[0].split(" ")[0] if frames else "?"] += n
        frames = [f for f in frames[1:]] or frames
        self_count[_short(frames[-1])] += n
        for f in {_short(f) for f in frames}:
            incl[f] += n
    if not total:
        return {}
    pct = lambda c: f"{100 * c / total:.1f}%"  # noqa: E731
    return {
        "samples": str(total),
        "threads": ", ".join(f"{t} {pct(c)}" for t, c in threads.most_common(6)),
        "top self": "; ".join(f"{f} {pct(c)}" for f, c in self_count.most_common(top)),
        "top inclusive": "; ".join(f"{f} {pct(c)}" for f, c in incl.most_common(top + 8)),
    }


def _short(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    file = where.rsplit("/", 1)[-1].split(":")[0] if where else ""
    return f"{name}@{file}" if file else name
