"""12345 hotline over Open311 GeoReport v2: poll `requests.json` by time window, as the spec says.

The spec has no paging: a server answers a `start_date`/`end_date` window (matched on
`requested_datetime`) with at most its maximum (1,000 by spec, `max_per_call`). An answer that
full means the window holds more, so it is split in two and each half asked again, earliest first.
`page`/`page_size` are sent only to a server configured with `page_size`; a page that repeats
records already read means the server ignores `page` (then windows are split instead), and a short
page is only the end when a longer one came before it (a server may cap pages below our size).
The cursor moves to the end of each span only once everything read from it is committed, so it
never passes a record not stored. Where a server supports it (`updates_params`, e.g. Chicago's
`updated_after`/`updated_before`) updates of older requests are read in windows of their own.
A broken document is one dead letter per distinct document; the records that still parse are
salvaged; the source then backs off (one, two, four … poll intervals, at most 30 minutes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from ingest.georeport import load_json_document, parse_records, salvage_records
from ingest.health import Pending
from ingest.payloads import OVERSIZED, Invalid, truncate
from ingest.polled import PolledSource
from ops_center.core.clock import utc_now
from ops_center.core.config import Config, SourceConfig

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=5)  # each window re-reads a little, for clock skew and late commits
MIN_SPAN = timedelta(seconds=2)  # query times have whole seconds: a full answer this narrow cannot be split
MAX_PAGES = 100
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
MAX_BACKOFF = timedelta(minutes=30)
SEEN_DOCUMENTS = 256  # digests of broken documents already dead-lettered
HTTP_TIMEOUT_S = 15
COMMIT_TIMEOUT_S = 60
REQUESTED = ("start_date", "end_date")


class Broken(Exception):
    """A document that is not a request list; the span is read again after the back-off."""


class Open311Poller(PolledSource):
    """One `open311` source: start() polls every `poll_interval`; `poll_once(now)` is the unit of work."""

    def __init__(self, cfg: Config, source: SourceConfig, pipeline, registry, clock: Callable[[], datetime] = utc_now,
                 *, page_size: int | None = None, cursor_file: Path | None = None):
        super().__init__(source, clock)
        self.cfg = cfg
        self.source = source
        self.url = source.url or ""
        self.jurisdiction_id = source.jurisdiction_id
        self.max_per_call = source.max_per_call
        self.page_size = page_size if page_size is not None else source.page_size
        self.paging_ignored = False
        self._pipeline = pipeline
        self._registry = registry
        self._tz = ZoneInfo(cfg.site.timezone)
        self.cursor: datetime | None = None  # requested_datetime read and stored up to here
        self.update_cursor: datetime | None = None  # updated_datetime, where the server supports it
        self.handed = 0  # events handed to the pipeline since start
        self.failures = 0
        self.retry_at: datetime | None = None
        self._broken: OrderedDict[bytes, None] = OrderedDict()
        self.cursor_file = cursor_file
        self._load_cursors()

    # --- lifecycle (PolledSource) ---

    thread_prefix = "open311"
    stop_timeout_s = HTTP_TIMEOUT_S + 5

    def work_once(self) -> None:
        self.poll_once(self._clock())

    # --- one poll ---

    def window(self, now: datetime, cursor: datetime | None = None) -> tuple[datetime, datetime]:
        if cursor is not None:
            return cursor - OVERLAP, now
        if self.source.backfill_from is not None:
            return self.source.backfill_from, now
        return now - self.source.lookback, now

    def page_url(self, start: datetime, end: datetime, page: int | None = None,
                 names: tuple[str, str] = REQUESTED) -> str:
        params: dict = {
            names[0]: start.astimezone(self._tz).isoformat(timespec="seconds"),
            names[1]: end.astimezone(self._tz).isoformat(timespec="seconds"),
        }
        if page is not None:
            params["page"] = page
            params["page_size"] = self.page_size
        if self.jurisdiction_id:
            params["jurisdiction_id"] = self.jurisdiction_id
        parts = urlsplit(self.url)
        query = "&".join(q for q in (parts.query, urlencode(params)) if q)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))

    def poll_once(self, now: datetime) -> int:
        """Read the requested window (and the updates window) ending at `now`; returns events handed over."""
        if self.retry_at is not None and now < self.retry_at:
            return 0
        before = self.handed
        ok = self._read_window(now, "cursor", REQUESTED)
        if ok and self.source.updates_params:
            ok = self._read_window(now, "update_cursor", self.source.updates_params)
        if ok:
            self.failures, self.retry_at = 0, None
        else:
            self.failures += 1
            wait = min(self.source.poll_interval * 2 ** (self.failures - 1), MAX_BACKOFF)
            self.retry_at = now + wait
            log.info("%s: window not finished; next try in %s", self.source_id, wait)
        return self.handed - before

    def _read_window(self, now: datetime, cursor_attr: str, names: tuple[str, str]) -> bool:
        """Spans earliest first; the cursor moves to a span's end once all of it is committed."""
        start, end = self.window(now, getattr(self, cursor_attr))
        spans = [(start, end)]
        while spans:
            s, e = spans.pop(0)
            try:
                records, full = self._fetch_span(s, e, names)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                self._state = "error"
                log.warning("%s: fetching %s failed: %s", self.source_id, self.url, exc)
                return False
            except Broken:
                return False
            if full:
                if e - s >= MIN_SPAN:
                    mid = s + (e - s) / 2
                    spans[:0] = [(s, mid), (mid, e)]
                    continue
                log.error("%s: more than %d requests between %s and %s; the rest cannot be asked for",
                          self.source_id, len(records), s.isoformat(), e.isoformat())
            if not self._hand_over(records, self.page_url(s, e, names=names)):
                return False
            setattr(self, cursor_attr, e)
            self._save_cursors()
        return True

    # --- the cursors survive a restart (written only after a commit, so never past what is stored) ---

    def _load_cursors(self) -> None:
        if self.cursor_file is None or not self.cursor_file.exists():
            return
        try:
            saved = json.loads(self.cursor_file.read_text(encoding="utf-8"))
            for name in ("cursor", "update_cursor"):
                if saved.get(name):
                    setattr(self, name, datetime.fromisoformat(saved[name]))
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("%s: cursor file %s unreadable (%s); starting from the first window", self.source_id,
                        self.cursor_file, exc)
            self.cursor = self.update_cursor = None

    def _save_cursors(self) -> None:
        if self.cursor_file is None:
            return
        data = {name: value.isoformat() if value else None
                for name, value in (("cursor", self.cursor), ("update_cursor", self.update_cursor))}
        tmp = self.cursor_file.with_suffix(".tmp")
        try:
            self.cursor_file.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, self.cursor_file)
        except OSError as exc:  # the cursor in memory still holds; a restart reads the overlap again
            log.warning("%s: could not save the cursor to %s: %s", self.source_id, self.cursor_file, exc)

    def _fetch_span(self, start: datetime, end: datetime, names: tuple[str, str]) -> tuple[list, bool]:
        """Every record of one span, and whether the answer may have been cut at the server's maximum."""
        if not self.page_size or self.paging_ignored:
            records = self._get(self.page_url(start, end, names=names))
            return records, len(records) >= self.max_per_call
        out: list = []
        seen: set = set()
        longest = 0
        for page in range(1, MAX_PAGES + 1):
            url = self.page_url(start, end, page, names)
            try:
                records = self._get(url)
            except Broken:
                if out:  # the pages read before the broken one are good: store them, keep the cursor
                    self._hand_over(out, url)
                raise
            keys = {_key(r) for r in records}
            if page > 1 and records and keys <= seen:
                self.paging_ignored = True
                log.warning("%s: the server ignores `page` (page %d repeats earlier records); splitting time "
                            "windows instead", self.source_id, page)
                return out, len(out) >= min(self.max_per_call, self.page_size)
            out.extend(records)
            seen |= keys
            if not records or len(records) < longest:
                return out, False
            longest = max(longest, len(records))
        return out, True  # more pages than we ask for in one span: split it

    def _get(self, url: str) -> list:
        raw = self._fetch(url)
        self._state = "polling"
        try:
            if len(raw) > MAX_DOCUMENT_BYTES:
                raise Invalid(OVERSIZED, f"document is over {MAX_DOCUMENT_BYTES} bytes")
            return load_json_document(raw)
        except Invalid as exc:
            self._broken_document(url, raw, exc)
            raise Broken(exc.reason) from None

    def _broken_document(self, url: str, raw: bytes, exc: Invalid) -> None:
        """One dead letter per distinct document; records that still parse are salvaged."""
        received = self._clock()
        digest = hashlib.blake2b(raw, digest_size=16).digest()
        salvaged = salvage_records(raw[:MAX_DOCUMENT_BYTES])
        if digest in self._broken:
            log.debug("%s: the same broken document again from %s", self.source_id, url)
        else:
            self._broken[digest] = None
            while len(self._broken) > SEEN_DOCUMENTS:
                self._broken.popitem(last=False)
            log.warning("%s: invalid document from %s (%s: %s), %d records salvaged: %s", self.source_id, url,
                        exc.reason, exc.detail, len(salvaged), truncate(raw))
            self.meter.dead_letter(received)
            self._pipeline.dead_letter(self.source_id, url, exc.reason, raw[:MAX_DOCUMENT_BYTES],
                                       f"{exc.detail}; {len(salvaged)} records salvaged")
        if salvaged:
            self._hand_over(salvaged, url)

    def _hand_over(self, records: list, origin: str) -> bool:
        """Submit a span's records; True once all of them (and their dead letters) are committed."""
        received = self._clock()
        pending = Pending()
        parsed = parse_records(self.cfg, self._registry, self.source_id, records, received, origin,
                               self.source.mapping)
        for event in parsed.events:
            self.meter.message(received)
            self._pipeline.submit(event, on_committed=pending.add())
        self.handed += len(parsed.events)
        for reject, record_raw in parsed.rejects:
            log.warning("%s: rejected request (%s): %s", self.source_id, reject.reason, reject.detail)
            self.meter.dead_letter(received)
            self._pipeline.dead_letter(self.source_id, origin, reject.reason, record_raw, reject.detail,
                                       on_committed=pending.add())
        if not pending.wait(COMMIT_TIMEOUT_S):
            log.warning("%s: commit not confirmed within %ss; the window will be read again", self.source_id,
                        COMMIT_TIMEOUT_S)
            return False
        return True

    def _fetch(self, url: str) -> bytes:
        request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "ops-center"})
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:  # noqa: S310 - configured URL
            return response.read(MAX_DOCUMENT_BYTES + 1)


def _key(record: object) -> tuple:
    """What makes a record the same record twice (for spotting a server that ignores `page`)."""
    if isinstance(record, dict):
        return (str(record.get("service_request_id")), str(record.get("updated_datetime")))
    return (repr(record)[:200],)


def build(cfg: Config, source: SourceConfig, pipeline, registry, clock=utc_now, **_) -> Open311Poller:
    """The poller keeps its cursors next to the store: `<store folder>/cursors/<source id>.json`."""
    cursors = cfg.path_of(cfg.store.path).parent / "cursors"
    return Open311Poller(cfg, source, pipeline, registry, clock, cursor_file=cursors / f"{source.id}.json")
