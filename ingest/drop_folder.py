"""12345 hotline drop folder: `.json` GeoReport request lists and `.csv` exports (UTF-8 or GBK).

A file is moved to `processed/` (or `rejected/` when nothing in it was usable) only after
everything read from it is committed; a crash before that leaves it in place to be read again,
and the natural-key dedup makes the second reading harmless. Writers should write `name.tmp`
and rename, or the file must be left alone for `settle_s` before it is read.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ingest.georeport import UNSUPPORTED_FILE, load_csv_document, load_json_document, mapping_for, parse_records
from ingest.health import Pending
from ingest.payloads import Invalid
from ingest.polled import PolledSource
from ops_center.config import Config, SourceConfig, resolve_path
from ops_center.context import utc_now

log = logging.getLogger(__name__)

IN_PROGRESS = (".tmp", ".part", ".crdownload", ".swp")
MAX_RAW_KEPT = 1024 * 1024  # a rejected file's first MiB goes into the dead letter; the file itself is kept
COMMIT_TIMEOUT_S = 60


class DropFolder(PolledSource):
    """One `drop_folder` source: start() scans every `poll_interval`; `scan_once()` is the unit of work."""

    def __init__(self, cfg: Config, source: SourceConfig, path: Path, pipeline, registry,
                 clock: Callable[[], datetime] = utc_now, *, settle_s: float = 1.0):
        super().__init__(source, clock)
        self.cfg = cfg
        self.path = Path(path)
        self.settle_s = settle_s
        self._pipeline = pipeline
        self._registry = registry

    @property
    def processed_dir(self) -> Path:
        return self.path / "processed"

    @property
    def rejected_dir(self) -> Path:
        return self.path / "rejected"

    # --- lifecycle (PolledSource) ---

    thread_prefix = "drop"
    stop_timeout_s = COMMIT_TIMEOUT_S + 5

    def prepare(self) -> None:
        for folder in (self.path, self.processed_dir, self.rejected_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def work_once(self) -> None:
        self.scan_once()
        self._state = "polling"

    # --- one scan ---

    def ready_files(self) -> list[Path]:
        """Files to read now, oldest name first; hidden, in-progress and still-settling ones wait."""
        if not self.path.is_dir():
            return []
        now = time.time()  # file mtimes are wall-clock; this is the filesystem's clock, not event time
        out = []
        for entry in sorted(self.path.iterdir()):
            name = entry.name
            if not entry.is_file() or name.startswith((".", "~")) or name.lower().endswith(IN_PROGRESS):
                continue
            if self.settle_s and now - entry.stat().st_mtime < self.settle_s:
                continue
            out.append(entry)
        return out

    def scan_once(self) -> list[tuple[Path, str]]:
        """Read every ready file; returns (file, 'processed' | 'rejected' | 'retry') for each."""
        return [(f, self.process(f)) for f in self.ready_files()]

    def process(self, file: Path) -> str:
        raw = file.read_bytes()
        received = self._clock()
        pending = Pending()
        suffix = file.suffix.lower()
        try:
            if suffix == ".json":
                records = load_json_document(raw)
            elif suffix == ".csv":
                records = load_csv_document(raw, mapping_for(self.cfg, self.source_id))
            else:
                raise Invalid(UNSUPPORTED_FILE, f"expected .json or .csv, got {file.name!r}")
        except Invalid as exc:
            log.warning("%s: rejecting %s (%s: %s)", self.source_id, file.name, exc.reason, exc.detail)
            self.meter.dead_letter(received)
            self._pipeline.dead_letter(self.source_id, file.name, exc.reason, raw[:MAX_RAW_KEPT],
                                       f"{exc.detail} (file kept in rejected/)", on_committed=pending.add())
            return self._finish(file, pending, self.rejected_dir)
        parsed = parse_records(self.cfg, self._registry, self.source_id, records, received, file.name)
        for event in parsed.events:
            self.meter.message(received)
            self._pipeline.submit(event, on_committed=pending.add())
        for reject, record_raw in parsed.rejects:
            log.warning("%s: %s: rejected record (%s): %s", self.source_id, file.name, reject.reason, reject.detail)
            self.meter.dead_letter(received)
            self._pipeline.dead_letter(self.source_id, file.name, reject.reason, record_raw, reject.detail,
                                       on_committed=pending.add())
        target = self.processed_dir if parsed.events or not parsed.rejects else self.rejected_dir
        log.info("%s: %s: %d requests, %d rejected", self.source_id, file.name, len(parsed.events), len(parsed.rejects))
        return self._finish(file, pending, target)

    def _finish(self, file: Path, pending: Pending, target: Path) -> str:
        """Move the file only once its content is committed; otherwise leave it for the next scan."""
        if not pending.wait(COMMIT_TIMEOUT_S):
            log.warning("%s: %s not committed within %ss; it stays for the next scan", self.source_id, file.name,
                        COMMIT_TIMEOUT_S)
            return "retry"
        target.mkdir(parents=True, exist_ok=True)
        dest = target / file.name
        if dest.exists():
            stamp = self._clock().strftime("%Y%m%dT%H%M%S%f")
            dest = target / f"{file.stem}.{stamp}{file.suffix}"
        shutil.move(str(file), str(dest))
        return target.name


def build(cfg: Config, source: SourceConfig, pipeline, registry, clock=utc_now, *, config_path=None, **_) -> DropFolder:
    path = resolve_path(config_path, source.path or "") if config_path else Path(source.path or "")
    return DropFolder(cfg, source, path, pipeline, registry, clock)
