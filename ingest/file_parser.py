"""Drop-folder CSV parsing in a process of its own, one chunk ahead of the commits.

Parsing a 12345 row (CSV cells → request → located Event) costs about as much CPU as writing it, and
both need the GIL; like the MQTT receivers (ingest/receiver_process.py) the parsing runs in a child
process, so the writer keeps the GIL and the parse of chunk n+1 overlaps the commit of chunk n.
The child only reads the file and returns Events; nothing there touches the store, the offsets or
the file's place, so a crash of either side loses nothing: the saved offset is where reading resumes.
The same functions run on the caller's thread when the parser is not started (tests, one-off scans).

The child also classifies what it parsed (`RuleSet.decide_ahead`, with the rule files and text model it loads
and reloads as the writer's RulesHolder does): the writer takes those decisions when its own rule set is
the one they were made with, and decides again itself when an adopt or a rule change came in between.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from operator import attrgetter
from pathlib import Path

from ingest.file_chunks import CsvLayout, csv_layout, read_span
from ingest.georeport import Parsed, load_csv_document, mapping_for, parse_records
from ingest.payloads import Invalid
from ingest.receiver_process import ignore_stop_signals
from ops_center.core.config import Config
from ops_center.core.gc_tuning import settle_gc
from ops_center.core.model import Ahead, Event
from rules.holder import RulesHolder

log = logging.getLogger(__name__)

EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(Event))  # Event(*row) rebuilds one, in this order
_EVENT_ROW = attrgetter(*EVENT_FIELDS)  # one C call per event (a getattr per field was ~2 µs of the child's row)


class ParserDown(RuntimeError):
    """The parser process died; the file is read again from its saved offset at the next scan."""


@dataclass(frozen=True)
class ParseContext:
    """What parsing needs besides the bytes; picklable, sent to the child once.

    No device registry: a 12345 request names no device, and `locate` consults the registry only for one.
    """

    cfg: Config
    source_id: str
    rule_paths: tuple[Path, ...] = ()  # the writer's rule files (resolved as it resolves them); () decides nothing


def parse_csv_span(ctx: ParseContext, path: Path, header: bytes, start: int, end: int, received: datetime,
                   origin: str) -> Parsed:
    """One chunk of a CSV file (its header line in front) → events and per-record rejects."""
    mapping = mapping_for(ctx.cfg, ctx.source_id)
    records = load_csv_document(read_span(path, header, start, end), mapping)
    return parse_records(ctx.cfg, None, ctx.source_id, records, received, origin, mapping)


# --- the child's side ---------------------------------------------------------------------------

_child: ParseContext | None = None
_rules: RulesHolder | None = None


def _init_child(ctx: ParseContext) -> None:
    global _child, _rules
    ignore_stop_signals()  # the source stops the child, in order
    _child = ctx
    if ctx.rule_paths:
        try:
            _rules = RulesHolder(ctx.rule_paths, ctx.cfg)
        except Exception:  # noqa: BLE001 - the writer decides every row then, as it does without this process
            log.exception("%s: the file parser cannot load the rules; the writer classifies the rows", ctx.source_id)
    settle_gc()


def _decide_ahead(events: list[Event]) -> Ahead | None:
    """The chunk's decisions with the rule files and model in force now (reloaded when they changed)."""
    if _rules is None:
        return None
    try:
        _rules.reload_if_changed()  # a rejected change keeps the set in force, as in the writer
        return _rules.current.decide_ahead(events)
    except Exception:  # noqa: BLE001 - the chunk is still parsed; the writer decides its rows
        log.exception("%s: deciding a chunk ahead failed; the writer classifies its rows", _child_source())
        return None


def _child_source() -> str:
    return _child.source_id if _child is not None else "?"


def _parse_in_child(path: Path, header: bytes, start: int, end: int, received: datetime,
                    origin: str) -> tuple[list[tuple], list, Ahead | None]:
    """Events travel as plain tuples: unpickled as frozen slotted dataclasses they cost ~50 % more CPU
    in the writer's process (dataclasses' __setstate__ looks up the fields for every object)."""
    if _child is None:  # _init_child runs first in every worker of the pool
        raise RuntimeError("file parser process used before its context was set")
    parsed = parse_csv_span(_child, path, header, start, end, received, origin)
    rows = list(map(_EVENT_ROW, parsed.events))
    return rows, parsed.rejects, _decide_ahead(parsed.events)


def _from_child(value: tuple[list[tuple], list, Ahead | None]) -> tuple[Parsed, Ahead | None]:
    rows, rejects, ahead = value
    return Parsed([Event(*row) for row in rows], rejects), ahead


def _run_in_child(fn: Callable, *args) -> tuple[str, object]:
    """Invalid travels back as data: its constructor does not fit pickle's reconstruction."""
    try:
        return "ok", fn(*args)
    except Invalid as exc:
        return "invalid", (exc.reason, exc.detail)


def _warm() -> None:
    """Submitted at start, so the child's imports are done before the first file arrives."""


# --- the source's side --------------------------------------------------------------------------

class FileParser:
    """Parses a drop folder's CSV files: in a child process once started, else on the caller's thread."""

    def __init__(self, ctx: ParseContext):
        self.ctx = ctx
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        if self._pool is not None:
            return
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_init_child, initargs=(self.ctx,))
        self._pool.submit(_warm)

    def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def layout(self, path: Path, chunk_rows: int, first_rows: int | None = None) -> CsvLayout:
        """Encoding, header and chunk boundaries (one streaming pass over the whole file)."""
        if self._pool is None:
            return csv_layout(path, chunk_rows, first_rows=first_rows)
        return self._result(self._submit(partial(csv_layout, first_rows=first_rows), path, chunk_rows))

    def chunks(self, path: Path, header: bytes, todo: list[tuple[int, int]], clock: Callable[[], datetime],
               origin: str) -> Iterator[tuple[int, Parsed, Ahead | None]]:
        """(end offset, parsed chunk, its decisions made ahead) for each (start, end) in order; the next chunk is
        parsed meanwhile. Parsed on the caller's thread, nothing is decided ahead: the writer decides."""
        if self._pool is None:
            for start, end in todo:
                yield end, parse_csv_span(self.ctx, path, header, start, end, clock(), origin), None
            return
        pending: list[tuple[int, Future]] = []
        spans = iter(todo)
        try:
            self._queue(pending, spans, path, header, clock, origin)
            while pending:
                end, parsed, ahead = self._take(pending.pop(0))
                # one chunk ahead: parsed while this one commits (a chunk parses ≈ 3× faster than it commits)
                self._queue(pending, spans, path, header, clock, origin)
                yield end, parsed, ahead
                del parsed, ahead  # gone before the next one arrives: the caller holds its own references
        finally:
            for _, future in pending:  # stopped or failed halfway: what was read ahead is dropped
                future.cancel()

    def _take(self, job: tuple[int, Future]) -> tuple[int, Parsed, Ahead | None]:
        """The chunk's result, with the future (and the plain rows it keeps) dropped at once."""
        end, future = job
        parsed, ahead = _from_child(self._result(future))
        return end, parsed, ahead

    def _queue(self, pending: list, spans: Iterator, path: Path, header: bytes, clock, origin: str) -> None:
        span = next(spans, None)
        if span is not None:
            start, end = span
            pending.append((end, self._submit(_parse_in_child, path, header, start, end, clock(), origin)))

    def _submit(self, fn: Callable, *args) -> Future:
        pool = self._pool
        if pool is None:
            raise self._down(RuntimeError("the parser process is not started"))
        try:
            return pool.submit(_run_in_child, fn, *args)
        except (BrokenProcessPool, RuntimeError) as exc:
            raise self._down(exc) from None

    def _result(self, future: Future):
        try:
            status, value = future.result()
        except BrokenProcessPool as exc:
            raise self._down(exc) from None
        if status == "invalid":
            raise Invalid(*value)
        return value

    def _down(self, exc: BaseException) -> ParserDown:
        """Log, start a fresh child for the next scan, and say so to the caller."""
        log.error("%s: the file parser process died (%s); starting it again", self.ctx.source_id, exc)
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        self.start()
        return ParserDown(str(exc))
