"""Garbage-collector settings for long-running processes: start-up objects are never garbage."""

from __future__ import annotations

import gc

# Allocations before a young collection (CPython's default is 700, 10, 10). A committing batch keeps ~2,400 events
# and their rows alive until its commit: at 20,000 the writer ran a young collection every ~3,600 file rows (28 of
# them, 0.36 s of CPU, with a 100,000-row export); at 100,000 none ran while the file was read.
GC_THRESHOLDS = (100_000, 20, 20)


def settle_gc() -> None:
    """Freeze what start-up built so collections skip it, and collect less often.

    A full collection otherwise walks every Dash, rules and config object again, and the write path
    allocates enough to trigger one every few batches (≈ 9 % of the writer's time, measured).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
