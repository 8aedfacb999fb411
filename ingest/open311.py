"""12345 hotline over Open311 GeoReport v2: poll `requests.json` by time window, page by page.

Each poll asks for `start_date` = last successful poll's end minus an overlap, `end_date` = now,
`page` = 1, 2, … (`page_size` per page) until a short page. Records seen again are absorbed by the
natural-key dedup; a record whose `updated_datetime` moved on becomes a timeline update. An invalid
document is a dead letter (the window is retried next poll), never a crash.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from ingest.georeport import load_json_document, parse_records
from ingest.health import Pending
from ingest.payloads import OVERSIZED, Invalid, truncate
from ingest.polled import PolledSource
from ops_center.config import Config, SourceConfig
from ops_center.context import utc_now

log = logging.getLogger(__name__)

LOOKBACK = timedelta(hours=24)  # first window after start-up (the cursor lives in memory)
OVERLAP = timedelta(minutes=5)  # each window re-reads a little, for clock skew and late commits
PAGE_SIZE = 100
MAX_PAGES = 100
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
HTTP_TIMEOUT_S = 15
COMMIT_TIMEOUT_S = 60


class Open311Poller(PolledSource):
    """One `open311` source: start() polls every `poll_interval`; `poll_once(now)` is the unit of work."""

    def __init__(self, cfg: Config, source: SourceConfig, pipeline, registry, clock: Callable[[], datetime] = utc_now,
                 *, page_size: int = PAGE_SIZE):
        super().__init__(source, clock)
        self.cfg = cfg
        self.url = source.url or ""
        self.jurisdiction_id = source.jurisdiction_id
        self.page_size = page_size
        self._pipeline = pipeline
        self._registry = registry
        self._tz = ZoneInfo(cfg.site.timezone)
        self.cursor: datetime | None = None

    # --- lifecycle (PolledSource) ---

    thread_prefix = "open311"
    stop_timeout_s = HTTP_TIMEOUT_S + 5

    def work_once(self) -> None:
        self.poll_once(self._clock())

    # --- one poll ---

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        start = (self.cursor - OVERLAP) if self.cursor is not None else now - LOOKBACK
        return start, now

    def page_url(self, start: datetime, end: datetime, page: int) -> str:
        params = {
            "start_date": start.astimezone(self._tz).isoformat(timespec="seconds"),
            "end_date": end.astimezone(self._tz).isoformat(timespec="seconds"),
            "page": page,
            "page_size": self.page_size,
        }
        if self.jurisdiction_id:
            params["jurisdiction_id"] = self.jurisdiction_id
        parts = urlsplit(self.url)
        query = "&".join(q for q in (parts.query, urlencode(params)) if q)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))

    def poll_once(self, now: datetime) -> int:
        """Fetch every page of the window ending at `now`; returns the number of events handed over.

        The cursor advances only when every page was read and everything handed over committed.
        """
        start, end = self.window(now)
        pending = Pending()
        handed = 0
        complete = False
        for page in range(1, MAX_PAGES + 1):
            url = self.page_url(start, end, page)
            try:
                raw = self._fetch(url)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                self._state = "error"
                log.warning("%s: fetching %s failed: %s", self.source_id, url, exc)
                break
            self._state = "polling"
            received = self._clock()
            try:
                if len(raw) > MAX_DOCUMENT_BYTES:
                    raise Invalid(OVERSIZED, f"document is over {MAX_DOCUMENT_BYTES} bytes")
                records = load_json_document(raw)
            except Invalid as exc:
                log.warning("%s: invalid document from %s (%s: %s): %s", self.source_id, url, exc.reason, exc.detail,
                            truncate(raw))
                self.meter.dead_letter(received)
                self._pipeline.dead_letter(self.source_id, url, exc.reason, raw[:MAX_DOCUMENT_BYTES], exc.detail,
                                           on_committed=pending.add())
                break
            parsed = parse_records(self.cfg, self._registry, self.source_id, records, received, f"{url}")
            for event in parsed.events:
                self.meter.message(received)
                self._pipeline.submit(event, on_committed=pending.add())
            for reject, record_raw in parsed.rejects:
                log.warning("%s: rejected request (%s): %s", self.source_id, reject.reason, reject.detail)
                self.meter.dead_letter(received)
                self._pipeline.dead_letter(self.source_id, url, reject.reason, record_raw, reject.detail,
                                           on_committed=pending.add())
            handed += len(parsed.events)
            if len(records) < self.page_size:
                complete = True
                break
        else:
            log.warning("%s: more than %d pages in one window; the rest comes next poll", self.source_id, MAX_PAGES)
        if not pending.wait(COMMIT_TIMEOUT_S):
            log.warning("%s: commit not confirmed within %ss; the window will be read again", self.source_id,
                        COMMIT_TIMEOUT_S)
            complete = False
        if complete:
            self.cursor = end
        return handed

    def _fetch(self, url: str) -> bytes:
        request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "ops-center"})
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:  # noqa: S310 - configured URL
            return response.read(MAX_DOCUMENT_BYTES + 1)


def build(cfg: Config, source: SourceConfig, pipeline, registry, clock=utc_now, **_) -> Open311Poller:
    return Open311Poller(cfg, source, pipeline, registry, clock)
