"""rules (bench/rules_engine.py; not `rules.py`, which would shadow the rules package): the rules engineer's bench (bench/rules_bench.py) run and its figures picked up for the table.

Figure: compiled `RuleSet.evaluate` events/s on the shipped rule set over a sensor + Chinese text
mix; baseline: its naive evaluator that re-walks the raw YAML per event (same run).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import time

from bench.common import OUT, Result, pick_size, size_arg

_NUM = r"([\d,]+(?:\.\d+)?)"


def main(argv: list[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_arg(parser, default=200_000, quick=2_000)
    args = parser.parse_args(argv)
    n = pick_size(args, 200_000, 2_000)
    from bench import rules_bench

    t0 = time.perf_counter()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = rules_bench.main(["--size", str(n)])
    text = buf.getvalue()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "rules_bench.txt").write_text(text)
    print(text, end="")

    def grab(pattern: str) -> float | None:
        m = re.search(pattern, text)
        return float(m.group(1).replace(",", "")) if m else None

    compiled = grab(r"compiled RuleSet\.evaluate\s*:\s*" + _NUM)
    naive = grab(r"baseline naive evaluator\s*:\s*" + _NUM)
    accuracy = re.search(r"domain accuracy: ([\d.]+%)", text)
    traps = re.search(r"traps: (\d+), misclassified: (\d+)", text)
    if rc not in (0, None) or compiled is None:
        raise RuntimeError(f"bench/rules_bench.py failed or printed no throughput (rc={rc}); see {OUT / 'rules_bench.txt'}")
    return Result(
        bench="rules", measures="events/s through the shipped rule set (sensor + Chinese text), one process",
        figure=compiled, unit="events/s", target="≥ 50,000/s", passed=compiled >= 50_000,
        baseline=naive, baseline_label="naive evaluator re-walking raw YAML (events/s)",
        ratio=compiled / naive if naive else None, size=f"{n:,} mixed events", seconds=time.perf_counter() - t0,
        details={"domain accuracy (labelled texts)": accuracy.group(1) if accuracy else "-",
                 "traps misclassified": f"{traps.group(2)} of {traps.group(1)}" if traps else "-"},
    ).show()


if __name__ == "__main__":
    main()
