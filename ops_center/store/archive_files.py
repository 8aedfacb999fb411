"""The archive folder's housekeeping: replaced file sets kept for older backups, orphans, the last run's summary.

ops_center/store/retention.py decides what is live (its `archive_months` table); this module only moves, prunes
and deletes files by the names it is given, and writes `last-run.json`, which `run.py archive` waits for.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

SUFFIX = ".parquet"
LAST_RUN = "last-run.json"  # what the latest run did; `run.py archive` waits for it to change
REPLACED = "replaced"  # subfolder of file sets a later run or a restore replaced, kept for older backups
KEEP_REPLACED = timedelta(days=30)


def set_aside(directory: Path, names: Iterable[str], now: datetime) -> None:
    """Move a replaced file set to `replaced/`, stamped with `now` for the pruning."""
    kept = directory / REPLACED
    kept.mkdir(exist_ok=True)
    for name in names:
        if (directory / name).is_file():
            os.replace(directory / name, kept / name)
            os.utime(kept / name, (now.timestamp(), now.timestamp()))


def prune_replaced(directory: Path, now: datetime, keep: timedelta) -> int:
    """Delete replaced sets set aside more than `keep` before `now` (older than any backup a site restores)."""
    kept = directory / REPLACED
    if not kept.is_dir():
        return 0
    old = [p for p in kept.iterdir() if p.is_file() and p.stat().st_mtime < (now - keep).timestamp()]
    for path in old:
        path.unlink()
    return len(old)


def set_aside_unnamed(directory: Path, prefixes: tuple[str, ...], live: set[str], now: datetime) -> int:
    """Our files in `directory` whose names are not in `live` leave it: a `.part` is deleted, a whole file set aside.

    A whole file nobody names is either a new set whose commit never happened or an old set replaced just before
    a crash; set aside, it is still there for a restored backup that names it, and pruned like any replaced set.
    """
    if not directory.is_dir():
        return 0
    unnamed = [p for p in directory.iterdir() if p.is_file() and p.name.startswith(prefixes)
               and p.name.endswith((SUFFIX, SUFFIX + ".part")) and p.name not in live]
    for path in unnamed:
        if path.name.endswith(".part"):
            path.unlink()
    set_aside(directory, [p.name for p in unnamed if p.name.endswith(SUFFIX)], now)
    return len(unnamed)


def read_last_run(directory: Path) -> dict | None:
    """The latest run's summary, or None before the first one."""
    try:
        return json.loads((directory / LAST_RUN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_last_run(directory: Path, summary: dict) -> None:
    """Replace `last-run.json` whole, stamped with the wall time a waiting `run.py archive` compares with."""
    part = directory / (LAST_RUN + ".part")
    part.write_text(json.dumps({**summary, "run": time.time()}, ensure_ascii=False), encoding="utf-8")
    os.replace(part, directory / LAST_RUN)


def fsync_dir(directory: Path) -> None:
    """Make the renames in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
