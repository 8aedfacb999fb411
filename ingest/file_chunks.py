"""Drop-folder files in bounded chunks: where each chunk starts and ends, and the offset saved after its commit.

A 100,000-row export must not be parsed, submitted and awaited as one piece (issue 11.2): a CSV file is
first scanned once, streaming, for its encoding, its syntax and the byte offsets of record boundaries
every `chunk_rows` records; each chunk is then read alone (the header line in front of it) and goes
through the same `georeport.load_csv_document` as a whole small file would. A JSON document is parsed
whole (it has to be; its size is capped) and cut by request index. After a chunk commits, its end
offset is written to `.progress/<file name>.json` in the drop folder, so a restart resumes there.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from ingest.georeport import INVALID_ENCODING, MALFORMED_CSV
from ingest.payloads import Invalid

log = logging.getLogger(__name__)

BOM = b"\xef\xbb\xbf"
ENCODINGS = ("utf-8", "gb18030")  # GBK exports are read as GB18030, its superset
CHUNK_BYTES = 4 * 1024 * 1024  # a chunk also ends after this many bytes: long texts must not make it huge


@dataclass(frozen=True, slots=True)
class CsvLayout:
    """What one streaming pass learned about a CSV file."""

    encoding: str
    header: bytes  # the raw header line, put in front of every chunk
    bounds: tuple[int, ...]  # byte offsets: header end, then the end of every chunk; the last is the file's end


def csv_layout(path: Path, chunk_rows: int, chunk_bytes: int = CHUNK_BYTES, *,
               first_rows: int | None = None) -> CsvLayout:
    """One streaming pass per candidate encoding; raises Invalid for bad encoding or CSV syntax.

    With `first_rows` the chunks ramp up: the first has that many records, each next one twice as many, up to
    `chunk_rows`. The writer then starts on the first rows while the parser is still on the next chunk, instead
    of waiting for a whole chunk (≈ 0.2 s of a 100,000-row export's 10 s with 5,000-row chunks).
    """
    for encoding in ENCODINGS:
        try:
            return _scan(path, encoding, chunk_rows, chunk_bytes, first_rows or chunk_rows)
        except UnicodeDecodeError:
            continue
    raise Invalid(INVALID_ENCODING, f"{path.name}: neither UTF-8 nor GBK")


def _scan(path: Path, encoding: str, chunk_rows: int, chunk_bytes: int, first_rows: int) -> CsvLayout:
    pos = 0

    def lines(f) -> Iterator[str]:
        nonlocal pos
        for i, line in enumerate(f):
            pos += len(line)
            yield (line[3:] if i == 0 and line.startswith(BOM) else line).decode(encoding)

    with path.open("rb") as f:
        header = f.readline()
        f.seek(0)
        reader = csv.reader(lines(f), strict=True)
        bounds: list[int] = []
        rows = 0
        limit = min(first_rows, chunk_rows)
        try:
            for _ in reader:
                if not bounds:
                    bounds.append(pos)  # the header record ends here
                    continue
                rows += 1
                if rows >= limit or pos - bounds[-1] >= chunk_bytes:
                    bounds.append(pos)
                    rows = 0
                    limit = min(chunk_rows, 2 * limit)
        except csv.Error as exc:
            raise Invalid(MALFORMED_CSV, f"CSV syntax error on line {reader.line_num}: {exc}") from None
    if not bounds:
        bounds.append(pos)
    if bounds[-1] != pos:
        bounds.append(pos)
    return CsvLayout(encoding, header, tuple(bounds))


def read_span(path: Path, header: bytes, start: int, end: int) -> bytes:
    """The header line and the bytes of one chunk: a small CSV document of its own."""
    with path.open("rb") as f:
        f.seek(start)
        return header + f.read(end - start)


def spans(bounds: tuple[int, ...], resume_at: int) -> list[tuple[int, int]]:
    """(start, end) of every chunk not yet committed; `resume_at` is a saved offset (0: from the top)."""
    pairs = list(zip(bounds, bounds[1:], strict=False))
    return [(a, b) for a, b in pairs if b > resume_at]


@dataclass
class Progress:
    """How far one file was read and committed; identifies the file so a replaced one starts over."""

    inode: int = 0
    offset: int = 0  # bytes (CSV) or requests (JSON) committed
    accepted: int = 0
    rejected: int = 0


class ProgressStore:
    """`.progress/<name>.json` files next to the data (hidden, so the scan never reads them as input)."""

    def __init__(self, folder: Path):
        self.dir = folder / ".progress"

    def _path(self, file: Path) -> Path:
        return self.dir / f"{file.name}.json"

    def load(self, file: Path, inode: int) -> Progress:
        """The saved progress of this very file (same inode), else a fresh start."""
        path = self._path(file)
        try:
            data = orjson.loads(path.read_bytes())
            saved = Progress(**data)
        except FileNotFoundError:
            return Progress(inode=inode)
        except (orjson.JSONDecodeError, TypeError, ValueError):
            log.warning("progress file %s unreadable; reading %s from the start", path, file.name)
            return Progress(inode=inode)
        return saved if saved.inode == inode else Progress(inode=inode)

    def save(self, file: Path, progress: Progress) -> None:
        """Write-then-rename, so a crash leaves the old offset or the new one, never half a file."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self._path(file).with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(asdict(progress)))
        os.replace(tmp, self._path(file))

    def forget(self, file: Path) -> None:
        self._path(file).unlink(missing_ok=True)
