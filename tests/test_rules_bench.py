"""Smoke run of bench/rules_bench.py at a tiny size: it runs end to end and prints its figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "rules_bench.py"


def test_bench_runs_tiny(capsys):
    spec = importlib.util.spec_from_file_location("rules_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--size", "300"]) == 0
    out = capsys.readouterr().out
    assert "domain accuracy: " in out and "confusion matrix" in out
    assert "misclassified: 0" in out
    assert "events/s" in out and "ratio compiled / baseline" in out
