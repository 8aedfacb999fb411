"""The archive's 12345 request keys in memory, so an update of an archived request joins its incident cheaply.

The hotline path joins a later version of a request to its incident through `events.ref_hash`; once retention
moved the original's events to Parquet (ops_center/store/retention.py), the live table no longer has it. Reading
the Parquet's `ref_hash` column per batch would scan every archived event; instead the (ref_hash → incident)
pairs of the archive are loaded once per archive file set into two sorted arrays (16 bytes a request) and asked
only for the keys the live table did not answer. The retention step marks them stale (`invalidate`, on the
writer thread, in the transaction that changes the archive's files), so the batch after it reloads them and no
batch pays a query to find out whether the archive changed.
"""

from __future__ import annotations

import logging
import time

import duckdb
import numpy as np

log = logging.getLogger(__name__)

_ANY_SQL = "SELECT count(*) FROM archive_months"
# The views' archived part; live rows with an id this low (an archived incident's later update) are harmless:
# the live lookup answers them first and they name the same incident.
_LOAD_SQL = """
SELECT ref_hash, min(incident_id) AS incident_id FROM events_all
WHERE ref_hash IS NOT NULL AND incident_id IS NOT NULL AND incident_id <= (SELECT max(last_incident_id) FROM archive_months)
GROUP BY ref_hash ORDER BY ref_hash
"""


class ArchivedRefs:
    """(ref_hash → incident_id) of archived events; used and invalidated on the store's writer thread only."""

    def __init__(self) -> None:
        self._stale = True
        self._hashes = np.empty(0, dtype=np.int64)
        self._incidents = np.empty(0, dtype=np.int64)

    def lookup(self, conn: duckdb.DuckDBPyConnection, hashes: list[int]) -> dict[int, int]:
        """The archived incident of each hash found in the archive (reloaded once after its file set changed)."""
        if not hashes:
            return {}
        if self._stale:
            self._load(conn)
        if not len(self._hashes):
            return {}
        wanted = np.asarray(hashes, dtype=np.int64)
        at = np.searchsorted(self._hashes, wanted)
        at[at == len(self._hashes)] = 0
        found = self._hashes[at] == wanted
        return dict(zip(wanted[found].tolist(), self._incidents[at[found]].tolist(), strict=True))

    def invalidate(self) -> None:
        """The archive's file set changed (an archive run, a restored month, the views re-pointed at start)."""
        self._stale = True

    def _load(self, conn: duckdb.DuckDBPyConnection) -> None:
        began = time.monotonic()
        if conn.execute(_ANY_SQL).fetchall()[0][0]:
            found = conn.execute(_LOAD_SQL).fetchnumpy()
            self._hashes, self._incidents = (np.asarray(found[c], dtype=np.int64) for c in ("ref_hash", "incident_id"))
        else:
            self._hashes = self._incidents = np.empty(0, dtype=np.int64)
        self._stale = False
        log.info("archive: %s archived 12345 request key(s) loaded for updates in %.2f s",
                 f"{len(self._hashes):,}", time.monotonic() - began)
