"""12345 hotline drop folder: `.json` GeoReport request lists and `.csv` exports (UTF-8 or GBK).

A file is read only when complete: its name is not in-progress (`*.tmp`, `*.part`, …) and its size and
modification time have not changed for `ingest.file_settle`. It is read in chunks of
`ingest.file_chunk_rows` (ingest/file_chunks.py), submitted in pieces through a window of
PIECES_IN_FLIGHT, and each chunk's end offset is saved once its last piece commits, so a big file neither
floods the pipeline nor is re-read from the top after a restart. A started source parses CSV chunks in a process of its own, one chunk ahead
(ingest/file_parser.py). A file that grew while it was read is read on from its offset at the next scan. It moves to
`processed/` (or `rejected/` when nothing in it was usable) only after everything in it is committed.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ingest.file_chunks import Progress, ProgressStore, spans
from ingest.file_parser import FileParser, ParseContext, ParserDown
from ingest.georeport import UNSUPPORTED_FILE, Parsed, load_csv_document, load_json_document, mapping_for, parse_records
from ingest.health import Pending
from ingest.payloads import OVERSIZED, Invalid
from ingest.polled import PolledSource
from ops_center.core.clock import utc_now
from ops_center.core.config import Config, SourceConfig, resolve_path
from ops_center.core.model import Ahead, DeadLetter

log = logging.getLogger(__name__)

IN_PROGRESS = (".tmp", ".part", ".crdownload", ".swp")
MAX_RAW_KEPT = 1024 * 1024  # a rejected file's first MiB goes into the dead letter; the file itself is kept
COMMIT_TIMEOUT_S = 60
STOP_GRACE_S = 2.0
LOUD_REJECTS_PER_FILE = 10  # rejected records logged at WARNING per file; the rest at DEBUG plus a summary
PIECES_IN_FLIGHT = 4  # pieces of a file queued or committing: the writer never waits for the next chunk,
# and another source's input waits behind at most this many pieces (sensors ack only what is committed)


@dataclass(frozen=True)
class Piece:
    """A submitted piece of a chunk; the last piece of a chunk carries its end offset and event count."""

    pending: Pending
    end: int | None = None
    events: int = 0


class DropFolder(PolledSource):
    """One `drop_folder` source: start() scans every `poll_interval`; `scan_once()` is the unit of work."""

    thread_prefix = "drop"
    stop_timeout_s = 10.0

    def __init__(self, cfg: Config, source: SourceConfig, path: Path, pipeline, registry,
                 clock: Callable[[], datetime] = utc_now, *, settle_s: float | None = None,
                 rule_paths: tuple[Path, ...] = ()):
        super().__init__(source, clock, cfg.ingest.stall_after.total_seconds())
        self.cfg = cfg
        self.path = Path(path)
        self.settle_s = cfg.ingest.file_settle.total_seconds() if settle_s is None else settle_s
        self.chunk_rows = cfg.ingest.file_chunk_rows
        self._pipeline = pipeline
        self._registry = registry
        self._progress = ProgressStore(self.path)
        # the window of pieces in flight fills one batch: one transaction's fixed cost (≈ 12 ms of DuckDB
        # statements) spread over 4,000 rows instead of 2,000, and other sources' inputs queue between batches
        self._piece = max(1, cfg.store.batch_max_rows // PIECES_IN_FLIGHT)
        self._parser = FileParser(ParseContext(cfg, self.source_id, rule_paths))  # classifies ahead with them

    @property
    def processed_dir(self) -> Path:
        return self.path / "processed"

    @property
    def rejected_dir(self) -> Path:
        return self.path / "rejected"

    # --- lifecycle (PolledSource) ---

    def prepare(self) -> None:
        for folder in (self.path, self.processed_dir, self.rejected_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._parser.start()

    def stop(self) -> None:
        super().stop()
        self._parser.stop()

    def work_once(self) -> None:
        self.scan_once()
        self._state = "polling"

    # --- one scan ---

    def ready_files(self) -> list[Path]:
        """Files to read now, oldest name first; hidden, in-progress and still-changing ones wait."""
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
        """Read every ready file; returns (file, 'processed' | 'rejected' | 'retry' | 'stopped') for each."""
        out = []
        for file in self.ready_files():
            if self._stop.is_set():
                break
            out.append((file, self.process(file)))
        return out

    def process(self, file: Path) -> str:
        """Read what is left of one file chunk by chunk, then move it if it did not change meanwhile."""
        before = file.stat()
        progress = self._progress.load(file, before.st_ino)
        if progress.offset:
            log.info("%s: %s: resuming at offset %d", self.source_id, file.name, progress.offset)
        try:
            result = self._read(file, progress)
        except ParserDown:  # logged by the parser; shown in health like a restarted receiver
            self._fault, self._fault_at = "文件解析进程异常退出，已重启", time.monotonic()
            return "retry"
        except Invalid as exc:
            if progress.accepted:  # chunks of it are committed already: keep them, dead-letter the rest
                self._reject_file(file, exc, progress)
                return self._finish(file, progress, self.processed_dir)
            return self._finish(file, progress, self.rejected_dir) if self._reject_file(file, exc, progress) \
                else "retry"
        if result != "done":
            return result
        after = file.stat()
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            log.info("%s: %s changed while read; reading on from offset %d next scan", self.source_id, file.name,
                     progress.offset)
            return "retry"
        target = self.processed_dir if progress.accepted or not progress.rejected else self.rejected_dir
        log.info("%s: %s: %d requests, %d rejected", self.source_id, file.name, progress.accepted, progress.rejected)
        return self._finish(file, progress, target)

    def _read(self, file: Path, progress: Progress) -> str:
        suffix = file.suffix.lower()
        if suffix == ".csv":
            layout = self._parser.layout(file, self.chunk_rows, first_rows=self._piece)  # ramps up to chunk_rows
            self._csv_records(layout.header)  # an empty file or a header without the required columns
            todo = spans(layout.bounds, progress.offset)
            return self._commit_chunks(file, progress, self._parser.chunks(file, layout.header, todo, self._clock,
                                                                           file.name))
        if suffix == ".json":
            size = file.stat().st_size
            limit = self.cfg.ingest.max_json_file_bytes
            if size > limit:
                raise Invalid(OVERSIZED, f"JSON file is {size} bytes, limit {limit} (send CSV for big exports)")
            records = load_json_document(file.read_bytes())

            def parsed_chunks() -> Iterator[tuple[int, Parsed, Ahead | None]]:
                for start in range(progress.offset, len(records), self.chunk_rows):
                    end = min(start + self.chunk_rows, len(records))
                    yield end, parse_records(self.cfg, self._registry, self.source_id, records[start:end],
                                             self._clock(), file.name), None

            return self._commit_chunks(file, progress, parsed_chunks())
        raise Invalid(UNSUPPORTED_FILE, f"expected .json or .csv, got {file.name!r}")

    def _commit_chunks(self, file: Path, progress: Progress,
                       chunks: Iterator[tuple[int, Parsed, Ahead | None]]) -> str:
        """Submit the file's pieces through a window of PIECES_IN_FLIGHT, across chunk boundaries.

        The pipeline commits in submission order, so a chunk's end offset is saved, in order, once its last
        piece commits; whatever ends the read (a stop, a dead parser, a bad record) first settles the pieces
        in flight. A chunk is submitted only while the window has room, so the one after it is parsed meanwhile.
        """
        window: deque[Piece] = deque()
        outcome, settled = "done", True  # settled: False once a piece did not commit (the rest is read again)
        try:
            for end, parsed, ahead in chunks:
                if self._stop.is_set():
                    outcome = "stopped"
                    break
                items = self._chunk_items(file, parsed, progress)
                starts = range(0, len(items), self._piece) or range(1)  # an empty chunk still saves its offset
                for start in starts:
                    while len(window) >= PIECES_IN_FLIGHT and settled:
                        outcome = self._settle(file, progress, window.popleft())
                        settled = outcome == "done"
                    if not settled:
                        break
                    pending = Pending()
                    piece = items[start : start + self._piece]
                    if piece:
                        self._pipeline.submit_many(piece, on_committed=pending.add(),
                                                   ahead=ahead.piece(start, start + self._piece) if ahead else None)
                    last = start + self._piece >= len(items)
                    window.append(Piece(pending, end, len(parsed.events)) if last else Piece(pending))
                if not settled:
                    break
        finally:
            while window and settled:
                settled = self._settle(file, progress, window.popleft()) == "done"
                if not settled and outcome == "done":
                    outcome = "stopped" if self._stop.is_set() else "retry"
        return outcome

    def _csv_records(self, raw: bytes) -> list[dict]:
        """The header check: the same row → record call the chunks go through."""
        return load_csv_document(raw, mapping_for(self.cfg, self.source_id))

    def _chunk_items(self, file: Path, parsed: Parsed, progress: Progress) -> list:
        """A chunk's events and, as dead letters, its rejected records (the first few logged loudly)."""
        received = self._clock()
        items: list = list(parsed.events)
        for reject, raw in parsed.rejects:
            loud = progress.rejected < LOUD_REJECTS_PER_FILE
            progress.rejected += 1
            log.log(logging.WARNING if loud else logging.DEBUG, "%s: %s: rejected record (%s): %s",
                    self.source_id, file.name, reject.reason, reject.detail)
            items.append(DeadLetter(self.source_id, file.name, reject.reason, raw, reject.detail, received))
        self.meter.add(len(items), len(parsed.rejects), received)
        return items

    def _settle(self, file: Path, progress: Progress, piece: Piece) -> str:
        """Wait for one piece's commit; the last piece of a chunk saves the chunk's end offset."""
        if not self._wait(piece.pending, file):
            return "stopped" if self._stop.is_set() else "retry"
        if piece.end is not None:
            progress.offset = piece.end
            progress.accepted += piece.events
            self._progress.save(file, progress)
            self.beat()
        return "done"

    def _wait(self, pending: Pending, file: Path) -> bool:
        """Wait for the commit, but give up at once on stop: the saved offset is where a restart resumes."""
        deadline = time.monotonic() + COMMIT_TIMEOUT_S
        while time.monotonic() < deadline:
            if pending.wait(0.2):
                return True
            if self._stop.is_set():  # the pipeline stops after the sources: a chunk in flight may still land
                if pending.wait(STOP_GRACE_S):
                    return True
                log.info("%s: %s: stopping before a chunk committed; it is read again next start",
                         self.source_id, file.name)
                return False
        log.warning("%s: %s: a chunk was not committed within %ss; it is read again next scan", self.source_id,
                    file.name, COMMIT_TIMEOUT_S)
        return False

    def _reject_file(self, file: Path, exc: Invalid, progress: Progress) -> bool:
        """Dead-letter a file (or its unreadable rest) with its first MiB; True once that is committed."""
        log.warning("%s: rejecting %s (%s: %s)", self.source_id, file.name, exc.reason, exc.detail)
        received = self._clock()
        with file.open("rb") as f:
            raw = f.read(MAX_RAW_KEPT)
        pending = Pending()
        where = "file kept in rejected/" if not progress.accepted else f"{progress.accepted} requests before it stored"
        self.meter.dead_letter(received)
        self._pipeline.dead_letter(self.source_id, file.name, exc.reason, raw, f"{exc.detail} ({where})",
                                   on_committed=pending.add())
        progress.rejected += 1
        return self._wait(pending, file)

    def _finish(self, file: Path, progress: Progress, target: Path) -> str:
        target.mkdir(parents=True, exist_ok=True)
        dest = target / file.name
        if dest.exists():
            stamp = self._clock().strftime("%Y%m%dT%H%M%S%f")
            dest = target / f"{file.stem}.{stamp}{file.suffix}"
        shutil.move(str(file), str(dest))
        self._progress.forget(file)
        return target.name


def build(cfg: Config, source: SourceConfig, pipeline, registry, clock=utc_now, *, config_path=None, **_) -> DropFolder:
    path = resolve_path(config_path, source.path or "") if config_path else Path(source.path or "")
    # the rule files as the writer's RulesHolder names them (build_context), so their digests agree
    rules = tuple(resolve_path(config_path, p) if config_path else Path(p) for p in cfg.rules.paths)
    return DropFolder(cfg, source, path, pipeline, registry, clock, rule_paths=rules)



