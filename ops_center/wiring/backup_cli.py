"""`run.py backup` and `run.py restore`: the operator's side of ops_center.store.backup.

A running center holds the DuckDB file, so `backup` asks it (SIGUSR1 to the PID in `<store>.pid`)
and waits for the verified file to appear; with the center stopped it copies the file itself.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO

import duckdb

from ops_center.core.config import Config, resolve_path
from ops_center.store.backup import BackupError, backup, list_backups, restore

BACKUP_SIGNAL = signal.SIGUSR1


def pid_path(db: Path) -> Path:
    """Where a running center writes its PID, beside the store file it holds."""
    return db.with_name(db.name + ".pid")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    take = sub.add_parser("backup", help="write a verified copy of the store to store.backup.dir (online)")
    take.add_argument("--timeout", type=float, default=600, help="seconds to wait for a running center (600)")
    put = sub.add_parser("restore", help="replace the store with a backup (center stopped; old file kept)")
    put.add_argument("file", type=Path, help="a backup written by `run.py backup`")


def store_file(cfg: Config, config_path: Path, db: str | None) -> Path:
    return Path(db) if db else resolve_path(config_path, cfg.store.path)


def run(args: argparse.Namespace, cfg: Config, config_path: Path, now: Callable[[], datetime],
        out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    """0 with the backup's (or the kept file's) path printed; 1 with the reason."""
    db = store_file(cfg, config_path, args.db)
    try:
        if args.command == "restore":
            aside = restore(args.file, db, now())
            print(f"restored {db} from {args.file}" + (f"; the previous file is kept as {aside}" if aside else ""),
                  file=out)
            return 0
        path = take_backup(db, resolve_path(config_path, cfg.store.backup.dir), cfg.store.backup.keep, now,
                           args.timeout)
    except BackupError as exc:
        print(f"error: {exc}", file=err)
        return 1
    print(f"backup written: {path}", file=out)
    return 0


def take_backup(db: Path, directory: Path, keep: int, now: Callable[[], datetime], timeout: float) -> Path:
    """Copy the store directly when no center holds it, else ask the running center and wait."""
    if not db.exists():
        raise BackupError(f"no store at {db}")
    try:
        conn = duckdb.connect(str(db))
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise BackupError(f"{db}: {exc}") from exc
        return _ask_running_center(db, directory, timeout)
    try:
        return backup(conn.cursor(), directory, now(), keep).path
    finally:
        conn.close()


def _ask_running_center(db: Path, directory: Path, timeout: float) -> Path:
    try:
        pid = int(pid_path(db).read_text().strip())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{db} is held by another process and {pid_path(db)} names no center ({exc})") from exc
    before = set(list_backups(directory)) if directory.exists() else set()
    try:
        os.kill(pid, BACKUP_SIGNAL)
    except ProcessLookupError as exc:
        raise BackupError(f"{pid_path(db)} names process {pid}, which is not running") from exc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = [p for p in list_backups(directory) if p not in before] if directory.exists() else []
        if new:
            return new[-1]
        time.sleep(0.2)
    raise BackupError(f"the center (pid {pid}) wrote no backup to {directory} within {timeout:.0f} s; see its log")
