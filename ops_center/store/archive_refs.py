"""The archive's 12345 request keys in memory, so an update of an archived request joins its incident cheaply.

The hotline path joins a later version of a request to its incident through `events.ref_hash`; once retention
moved the original's events to Parquet (ops_center/store/retention.py), the live table no longer has it. Reading
the Parquet's `ref_hash` column per batch would scan every archived event; instead the (ref_hash → incident)
pairs of the archive are loaded once per archive file set into two sorted arrays (16 bytes a request) and asked
only for the keys the live table did not answer. The file set is recognised by the manifest's event file names,
read in the caller's transaction, so a run of `archive` or `archive --restore` is seen at the next batch.
"""

from __future__ import annotations

import logging
import time

import duckdb
import numpy as np

log = logging.getLogger(__name__)

_FILES_SQL = "SELECT list(events_file ORDER BY month) FROM archive_months"
# The views' archived part; live rows with an id this low (an archived incident's later update) are harmless:
# the live lookup answers them first and they name the same incident.
_LOAD_SQL = """
SELECT ref_hash, min(incident_id) AS incident_id FROM events_all
WHERE ref_hash IS NOT NULL AND incident_id IS NOT NULL AND incident_id <= (SELECT max(last_incident_id) FROM archive_months)
GROUP BY ref_hash ORDER BY ref_hash
"""


class ArchivedRefs:
    """(ref_hash → incident_id) of archived events; owned by the one writer thread, never shared."""

    def __init__(self) -> None:
        self._files: list[str] | None = None
        self._hashes = np.empty(0, dtype=np.int64)
        self._incidents = np.empty(0, dtype=np.int64)

    def lookup(self, conn: duckdb.DuckDBPyConnection, hashes: list[int]) -> dict[int, int]:
        """The archived incident of each hash found in the archive (reloaded when its file set changed)."""
        if not hashes:
            return {}
        files = conn.execute(_FILES_SQL).fetchall()[0][0] or []
        if files != self._files:
            self._load(conn, files)
        if not len(self._hashes):
            return {}
        wanted = np.asarray(hashes, dtype=np.int64)
        at = np.searchsorted(self._hashes, wanted)
        at[at == len(self._hashes)] = 0
        found = self._hashes[at] == wanted
        return dict(zip(wanted[found].tolist(), self._incidents[at[found]].tolist(), strict=True))

    def _load(self, conn: duckdb.DuckDBPyConnection, files: list[str]) -> None:
        began = time.monotonic()
        if files:
            found = conn.execute(_LOAD_SQL).fetchnumpy()
            self._hashes, self._incidents = (np.asarray(found[c], dtype=np.int64) for c in ("ref_hash", "incident_id"))
        else:
            self._hashes = self._incidents = np.empty(0, dtype=np.int64)
        self._files = files
        log.info("archive: %s archived 12345 request key(s) loaded for updates in %.2f s",
                 f"{len(self._hashes):,}", time.monotonic() - began)
