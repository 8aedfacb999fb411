"""Shared bench plumbing: cached synthetic stores, results, a private Mosquitto, small timers."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# Everything a run writes (cached stores, working copies, profiles, the summary) lives here, outside git;
# OPS_BENCH_OUT moves it (the smoke test uses a temporary folder so parallel test runs never collide).
OUT = Path(os.environ.get("OPS_BENCH_OUT") or ROOT / "bench" / "out")
DATA = OUT / "data"
WORK = OUT / "work"
CONFIG = ROOT / "config.yaml"
# Synthetic history ends at the start of the current UTC day: reproducible within a day (the cache key
# carries the date), and close enough to the real clock that run.py's wall and sweep see live-looking data.
BENCH_END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
SEED = 20261123
FULL = 10_000_000  # incidents in the full-size store

log = logging.getLogger("bench")


@dataclass
class Result:
    """One bench row: the figure, its same-run baseline, the ratio and whether the target is met."""

    bench: str
    measures: str
    figure: float
    unit: str
    target: str
    passed: bool | None
    baseline: float | None = None
    baseline_label: str = ""
    ratio: float | None = None
    size: str = ""
    seconds: float = 0.0
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def show(self) -> Result:
        verdict = {True: "PASS", False: "MISS", None: "n/a"}[self.passed]
        print(f"[{self.bench}] {self.measures}: {fmt(self.figure)} {self.unit} (target {self.target}) {verdict}")
        if self.baseline is not None:
            print(f"[{self.bench}]   baseline {self.baseline_label}: {fmt(self.baseline)}; ratio {fmt(self.ratio)}")
        for key, value in self.details.items():
            print(f"[{self.bench}]   {key}: {fmt(value) if isinstance(value, float) else value}")
        return self


def fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and (abs(x) >= 100 or x == 0):
        return f"{x:,.0f}"
    if isinstance(x, float):
        return f"{x:.3g}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def load_cfg():
    from ops_center.core.config import load_config

    return load_config(CONFIG)


def _fingerprint() -> str:
    """Caches are keyed by the generator and schema sources, so a change regenerates them."""
    h = hashlib.sha1()
    generator = sorted((ROOT / "ops_center/demo").glob("synth*.py"))  # synth.py and the modules it is split into
    for p in (*generator, ROOT / "ops_center/store/schema.py", ROOT / "config/devices.csv"):
        if p.exists():
            h.update(p.read_bytes())
    cfg = load_cfg()  # only the config sections the generator reads
    parts = cfg.model_dump(mode="json", include={"areas", "sla", "calendar", "domains", "departments", "sources",
                                                 "users", "site"})
    for key in ("holidays", "makeup_workdays"):  # frozensets: their order changes from process to process
        parts["calendar"][key] = sorted(parts["calendar"][key])
    h.update(json.dumps(parts, sort_keys=True).encode())
    return h.hexdigest()[:10]


def history_shape(incidents: int) -> tuple[int, int]:
    """(days, per_day) for a store of about `incidents`: 10 k/day for big stores (years of history)."""
    per_day = 10_000 if incidents >= 1_000_000 else max(1, min(incidents, 400))
    return max(1, -(-incidents // per_day)), per_day


def dataset(incidents: int, *, seed: int = SEED) -> Path:
    """Path of a cached store holding `incidents` synthetic incidents (+ events, timeline); built once."""
    days, per_day = history_shape(incidents)
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"synth_{days}x{per_day}_s{seed}_{BENCH_END:%Y%m%d}_{_fingerprint()}.duckdb"
    if path.exists():
        return path
    from ops_center.demo.synth import generate_history
    from ops_center.store.store import Store

    for stale in DATA.glob(f"synth_{days}x{per_day}_s{seed}_*.duckdb*"):  # older generator/schema: replace
        stale.unlink()
    tmp = path.with_suffix(".building")
    for stale in (tmp, Path(f"{tmp}.wal")):
        stale.unlink(missing_ok=True)
    t0 = time.perf_counter()
    print(f"[data] generating {days * per_day:,} incidents into {path.name} (cached for later runs) …", flush=True)
    with Store(tmp) as store:
        generate_history(store, load_cfg(), days=days, incidents_per_day=per_day, seed=seed, end=BENCH_END)
    tmp.rename(path)
    print(f"[data] generated in {time.perf_counter() - t0:.0f} s, {path.stat().st_size / 1e6:,.0f} MB", flush=True)
    return path


def working_copy(src: Path, name: str) -> Path:
    """A private copy of a cached store, for benches that write to it."""
    WORK.mkdir(parents=True, exist_ok=True)
    dst = WORK / f"{name}.duckdb"
    for p in (dst, Path(f"{dst}.wal")):
        p.unlink(missing_ok=True)
    shutil.copyfile(src, dst)
    return dst


def fresh_db(name: str) -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    dst = WORK / f"{name}.duckdb"
    for p in (dst, Path(f"{dst}.wal")):
        p.unlink(missing_ok=True)
    return dst


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """A private Mosquitto on a free loopback port; stopped by its own PID."""

    def __init__(self, binary: str = "/usr/sbin/mosquitto"):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="bench-mosq-"))
        conf = self.dir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 0\nmax_inflight_messages 0\nmax_queued_bytes 0\nlog_dest none\n"
            "set_tcp_nodelay true\n")
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("mosquitto did not start listening")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def stop(self) -> None:
        end_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def end_process(proc: subprocess.Popen) -> None:
    """Stop a process this bench started, by its own PID: SIGTERM, then SIGKILL after 5 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size from /proc (no psutil needed)."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def thread_cpu() -> dict[str, float]:
    """User + system CPU of each thread of this process by Python thread name (threads Python did not start, such
    as DuckDB's workers, summed as "native"): where a process's CPU goes, not just how much."""
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        name = names.get(int(task.name), "native")
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process from /proc: contention-proof cost, unlike a wall-clock rate."""
    try:
        fields = Path(f"/proc/{pid or os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles(samples_s: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds."""
    a = np.asarray(samples_s) * 1000
    if not len(a):
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)),
            "p99_ms": float(np.percentile(a, 99)), "max_ms": float(a.max())}


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def write_json(name: str, data: object) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    p = OUT / name
    p.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    return p


def size_arg(parser, default: int, quick: int) -> None:
    """Every bench takes --size N and --quick (tiny sizes for the smoke test)."""
    parser.add_argument("--size", type=int, default=None, help=f"problem size (default {default:,})")
    parser.add_argument("--quick", action="store_true", help=f"tiny run for the smoke test (size {quick:,})")


def pick_size(args, default: int, quick: int) -> int:
    return args.size if args.size is not None else (quick if args.quick else default)


class ReadOnlyStore:
    """The read side of `Store` (query_df / query / cursor) on a read-only connection to a cached file."""

    def __init__(self, path: Path):
        import duckdb

        self.path = path
        self._conn = duckdb.connect(str(path), read_only=True)

    def cursor(self):
        return self._conn.cursor()

    def query_df(self, sql: str, params=None):
        cur = self.cursor()
        try:
            return cur.execute(sql, params or []).df()
        finally:
            cur.close()

    def query(self, sql: str, params=None) -> list[tuple]:
        cur = self.cursor()
        try:
            return cur.execute(sql, params or []).fetchall()
        finally:
            cur.close()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ReadOnlyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_DASH = None


def page_module(name: str):
    """Import a Dash page module (layouts.*) outside the web app: pages need an app with use_pages first."""
    import importlib

    global _DASH
    if _DASH is None:
        import dash

        empty = Path(tempfile.mkdtemp(prefix="bench-pages-"))
        _DASH = dash.Dash("bench", use_pages=True, pages_folder=str(empty))
    return importlib.import_module(name)
