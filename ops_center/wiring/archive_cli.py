"""`run.py archive`: the operator's side of ops_center.store.retention, alike `run.py backup`.

A running center holds the DuckDB file, so `archive` asks it (SIGUSR2 to the PID in `<store>.pid`) and waits
for the archive folder's last-run.json to be rewritten; with the center stopped it opens the store and runs the
job itself. `--restore YYYY-MM` puts an archived month back into the store (center stopped).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

import duckdb

from ops_center.core.config import Config, parse_duration, resolve_path
from ops_center.store.archive_files import read_last_run
from ops_center.store.retention import ArchiveError, archive, unarchive
from ops_center.store.store import Store
from ops_center.wiring.backup_cli import pid_path, store_file

ARCHIVE_SIGNAL = signal.SIGUSR2


def add_parsers(sub: argparse._SubParsersAction) -> None:
    move = sub.add_parser("archive", help="move finished incidents older than store.retention.after to Parquet now")
    move.add_argument("--after", type=parse_duration, default=None,
                      help="age to archive from, e.g. 180d (overrides store.retention.after; center stopped)")
    move.add_argument("--restore", metavar="YYYY-MM", default=None,
                      help="put an archived month back into the store instead (center stopped)")
    move.add_argument("--timeout", type=float, default=600, help="seconds to wait for a running center (600)")


def run(args: argparse.Namespace, cfg: Config, config_path: Path, now: Callable[[], datetime],
        out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    """0 with what moved printed; 1 with the reason."""
    db = store_file(cfg, config_path, args.db)
    directory = resolve_path(config_path, cfg.store.retention.dir)
    try:
        if not db.exists():
            raise ArchiveError(f"no store at {db}")
        if args.restore:
            with _open(db, "--restore") as store:
                rows = unarchive(store, directory, args.restore, now())
            print(f"month {args.restore} put back into {db}: {_rows(rows)}", file=out)
            return 0
        after = _age(args.after, cfg)
        try:
            store = Store(db)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise ArchiveError(f"{db}: {exc}") from exc
            if args.after is not None:
                raise ArchiveError("--after needs the center stopped (the running center archives by its config)") from None
            summary = _ask_running_center(db, directory, args.timeout)
            print(f"archived to {directory}: {_rows(summary['rows'])} (months {', '.join(summary['months']) or 'none'})",
                  file=out)
            return 0
        with store:
            result = archive(store, directory, now(), after, cfg.store.retention.keep_replaced)
    except ArchiveError as exc:
        print(f"error: {exc}", file=err)
        return 1
    print(f"archived to {directory}: {_rows(result.rows)} (months {', '.join(result.months) or 'none'})"
          + (f"; changed during export, left for the next run: {', '.join(result.skipped)}" if result.skipped else ""),
          file=out)
    return 0


def _age(override: timedelta | None, cfg: Config) -> timedelta:
    after = override or cfg.store.retention.after
    if after is None:
        raise ArchiveError("store.retention.after is not set (retention is off); set it or pass --after, e.g. 180d")
    if after < cfg.store.dedup_horizon:
        raise ArchiveError(f"--after {after} is shorter than store.dedup_horizon ({cfg.store.dedup_horizon})")
    return after


def _open(db: Path, what: str) -> Store:
    try:
        return Store(db)
    except duckdb.IOException as exc:
        raise ArchiveError(f"{db} is in use: stop the center before {what} ({exc})") from exc


def _rows(rows: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {table}" for table, n in rows.items())


def _ask_running_center(db: Path, directory: Path, timeout: float) -> dict:
    try:
        pid = int(pid_path(db).read_text().strip())
    except (OSError, ValueError) as exc:
        raise ArchiveError(f"{db} is held by another process and {pid_path(db)} names no center ({exc})") from exc
    asked = time.time()
    try:
        os.kill(pid, ARCHIVE_SIGNAL)
    except ProcessLookupError as exc:
        raise ArchiveError(f"{pid_path(db)} names process {pid}, which is not running") from exc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        summary = read_last_run(directory)
        if summary is not None and summary.get("run", 0) >= asked:
            return summary
        time.sleep(0.2)
    raise ArchiveError(f"the center (pid {pid}) finished no archive run in {directory} within {timeout:.0f} s; "
                       "see its log")
