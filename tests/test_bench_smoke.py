"""Every bench script runs at a tiny size and reports a figure, so the benches never rot (no timing asserted).

Each runs in its own process (as bench/run_all does) with OPS_BENCH_OUT in a temporary folder; the
MQTT benches start their own Mosquitto on a free loopback port, so a missing broker fails here.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.run_all import BENCHES

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench_out(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench-out")


@pytest.mark.parametrize("name, module", [(name, module) for name, module, _ in BENCHES])
def test_bench_runs_tiny_and_reports_a_figure(name: str, module: str, bench_out: Path) -> None:
    out = bench_out / f"{module}.json"
    env = dict(os.environ, OPS_BENCH_OUT=str(bench_out))
    proc = subprocess.run([sys.executable, "-m", "bench._one", module, str(out), "--quick"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"bench {module} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    result = json.loads(out.read_text())
    assert result["bench"] == name
    assert isinstance(result["figure"], (int, float)) and math.isfinite(result["figure"]) and result["figure"] >= 0
    assert result["passed"] in (True, False)
    assert result["baseline"] is None or result["baseline"] > 0


def test_run_all_writes_the_summary_table(bench_out: Path, tmp_path: Path) -> None:
    """The table writer, on two fake rows (the real run is too long for a test)."""
    from bench.run_all import table

    md = table([
        {"bench": "insert_path", "measures": "rows/s", "figure": 1e5, "unit": "rows/s", "target": "≥ 100×",
         "passed": True, "baseline": 400.0, "baseline_label": "row by row", "ratio": 250.0, "size": "1", "seconds": 1},
        {"bench": "startup", "error": "exit code 1"},
    ])
    assert "| insert_path |" in md and "PASS" in md and "250.00×" in md and "ERROR" in md
