"""The district's federation outbox: every incident change, snapshotted in the change's own transaction.

Installed as the store's `change_hook` (ops_center/store/store.py) when `federation.role` is `district`:
every writer of incident rows (the pipeline's batch, the incident service's checked update, the SLA
sweep's set-based UPDATE … RETURNING) reports the ids it changed, and `record` appends one row per id with
the whole incident row as JSON, the `entry_id` range of the incident's timeline entries written since the
last record (in this transaction: the store runs the hook just before COMMIT; `read` fetches them, off the
commit path) and the next sequence number. The number comes from the writer's
counter, which a rolled-back transaction restores, and is taken only for the rows written: committed
sequences have no gaps. The publisher (ops_center/service/fed_publisher.py) sends them in order, each with the
incident's work-order rows as they are when it is read (`related`, for the city's 责任单位 and 督办 sheets).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import duckdb

from ops_center.store.store import Store, to_db

# The incident's work-order rows each outbox row carries (`related`), by table and id column: what the city's
# 责任单位 and 督办 sheets read (ops_center/read/kpis.py unit_kpis, read/work_queue.py supervisions_issued).
RELATED_KEYS = {"assignments": "assignment_id", "supervisions": "supervision_id",
                "verifications": "verification_id", "callbacks": "callback_id", "extensions": "extension_id"}

log = logging.getLogger(__name__)

_RECORD = """
INSERT INTO fed_outbox (seq, incident_id, written_at, snapshot, entries_after, entries_upto)
SELECT $first + row_number() OVER (ORDER BY i.incident_id) - 1, i.incident_id, $at, to_json(i), $after, $upto
FROM incidents i WHERE i.incident_id IN (SELECT unnest($ids::BIGINT[]))
RETURNING seq
"""


def _related_sql() -> str:
    """The work-order rows of a batch's incidents ($ids), one JSON object per incident, for the publisher: read off
    the commit path (snapshotting them in the writer's transaction made a 1,000-incident commit 2-4x slower)."""
    ctes = ", ".join(f"r_{t} AS (SELECT r.incident_id, to_json(list(r ORDER BY r.{k})) AS j FROM {t} r "  # noqa: S608
                     "WHERE r.incident_id IN (SELECT unnest($ids::BIGINT[])) GROUP BY r.incident_id)"
                     for t, k in RELATED_KEYS.items())
    fields = ", ".join(f"'{t}', coalesce(r_{t}.j, '[]'::JSON)" for t in RELATED_KEYS)
    joins = " ".join(f"LEFT JOIN r_{t} ON r_{t}.incident_id = ids.incident_id" for t in RELATED_KEYS)
    # Every fragment is a constant of this module: the tables and their keys.
    return (f"WITH {ctes} SELECT ids.incident_id, json_object({fields}) "  # noqa: S608
            f"FROM (SELECT unnest($ids::BIGINT[]) AS incident_id) ids {joins}")


_RELATED = _related_sql()
# Timeline entries written since the last record (this transaction's: the hook runs just before COMMIT).
_FRESH_ENTRIES = "SELECT incident_id, max(entry_id) FROM incident_timeline WHERE entry_id > ? GROUP BY incident_id"
# The entries a batch of outbox rows names, as JSON each, read by the publisher (not in the writer's transaction).
_ENTRIES = """
SELECT incident_id, entry_id, to_json({'ts': ts, 'actor': actor, 'action': action, 'from_status': from_status,
                                      'to_status': to_status, 'note': note, 'data': data})
FROM incident_timeline WHERE entry_id > ? AND entry_id <= ? AND incident_id IN (SELECT unnest(?::BIGINT[]))
ORDER BY entry_id
"""


class Outbox:
    """Writes the outbox rows (writer thread) and answers what the publisher and replays read."""

    def __init__(self, store: Store, district_code: str, clock):
        self.store, self.district_code, self.clock = store, district_code, clock
        self.entries_sent = 0  # timeline entries up to this entry_id are in the outbox (writer thread)
        # The newest sequence the hook wrote, maybe not committed yet (or rolled back): never behind the committed
        # head, so a reader with nothing above it skips the query (an idle publisher read the table every 20 ms).
        self.written = 0

    def install(self) -> Outbox:
        """Become the store's change hook; an outbox still empty is first seeded with every incident."""
        self.entries_sent = int(self.store.query("SELECT coalesce(max(entry_id), 0) FROM incident_timeline")[0][0])
        self.store.change_hook = self.record
        self.store.write(self.seed)
        self.see_head()
        return self

    def see_head(self) -> int:
        """Take the committed head as written (rows written before this Outbox existed); returns it."""
        self.written = max(self.written, self.head())
        return self.written

    def record(self, conn: duckdb.DuckDBPyConnection, incident_ids: Iterable[int], entries_after: int | None = None) -> int:
        """Snapshot the changed incidents into the outbox, numbered on, each with the timeline entries written since
        the last record (an incident whose only change is a timeline entry too); returns how many rows it wrote."""
        after = self.entries_sent if entries_after is None else entries_after
        fresh = conn.execute(_FRESH_ENTRIES, [after]).fetchall()
        ids = sorted({int(i) for i in incident_ids} | {int(r[0]) for r in fresh})
        if not ids:
            return 0
        first = self.store.allocate_ids(conn, "fed_outbox", 0)  # peek: only rows actually written take numbers
        upto = max((int(r[1]) for r in fresh), default=None)
        written = len(conn.execute(_RECORD, {"first": first, "at": to_db(self.clock()), "ids": ids, "after": after,
                                             "upto": upto}).fetchall())
        self.store.allocate_ids(conn, "fed_outbox", written)
        if written:
            self.written = max(self.written, first + written - 1)
        # Entry ids come from a sequence a rollback does not rewind: a later entry is always above this mark.
        self.entries_sent = max(self.entries_sent, upto or 0)
        return written

    def seed(self, conn: duckdb.DuckDBPyConnection) -> int:
        """A district that turns federation on with incidents already stored publishes them all once."""
        if conn.execute("SELECT count(*) FROM fed_outbox").fetchall()[0][0]:
            return 0
        ids = [r[0] for r in conn.execute("SELECT incident_id FROM incidents ORDER BY incident_id").fetchall()]
        n = self.record(conn, ids, entries_after=0)  # with their whole timelines
        if n:
            log.info("federation: outbox seeded with the %d incidents already stored", n)
        return n

    # --- reads (any thread, own cursor) ---

    def head(self) -> int:
        """The newest committed sequence (0: none)."""
        return int(self.store.query("SELECT coalesce(max(seq), 0) FROM fed_outbox")[0][0])

    def oldest(self) -> int:
        """The oldest sequence still kept (0: none); a replay cannot reach below it."""
        return int(self.store.query("SELECT coalesce(min(seq), 0) FROM fed_outbox")[0][0])

    def read(self, after: int, limit: int,
             upto: int | None = None) -> list[tuple[int, int, str, str | None, str | None]]:
        """(seq, incident_id, row JSON, timeline entries JSON or None, work-order rows JSON) after `after`, in
        order, at most `limit`, not past `upto`. The work-order rows are the incident's now: applied in sequence
        order at the city, an incident's last change brings its last work orders (each of their writers
        reports the incident)."""
        cur = self.store.cursor()
        try:
            rows = cur.execute(
                "SELECT seq, incident_id, snapshot, entries_after, entries_upto FROM fed_outbox "
                "WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?", [after, upto if upto is not None else 2**62, limit],
            ).fetchall()
            ranged = [r for r in rows if r[4] is not None]
            entries: dict[int, list[tuple[int, str]]] = {}
            if ranged:
                for incident_id, entry_id, entry in cur.execute(
                        _ENTRIES, [min(r[3] for r in ranged), max(r[4] for r in ranged),
                                   sorted({r[1] for r in ranged})]).fetchall():
                    entries.setdefault(int(incident_id), []).append((int(entry_id), entry))
            related = dict(cur.execute(_RELATED, {"ids": sorted({int(r[1]) for r in rows})}).fetchall()) if rows else {}
        finally:
            cur.close()
        return [(int(s), int(i), snapshot, _entries_json(entries.get(int(i), ()), lo, hi), related[int(i)])
                for s, i, snapshot, lo, hi in rows]

    def acked(self) -> int:
        rows = self.store.query("SELECT acked_seq FROM fed_published WHERE district_code = ?", [self.district_code])
        return int(rows[0][0]) if rows else 0

    def save_acked(self, seq: int) -> None:
        """The broker acknowledged everything up to `seq`: a restart resumes after it."""
        at = to_db(self.clock())
        self.store.write(lambda conn: conn.execute(
            "INSERT INTO fed_published VALUES (?, ?, ?) ON CONFLICT (district_code) DO UPDATE SET "
            "acked_seq = greatest(fed_published.acked_seq, excluded.acked_seq), acked_at = excluded.acked_at",
            [self.district_code, seq, at]).fetchall())

    def prune(self, keep: timedelta, now: datetime) -> int:
        """Drop acknowledged rows older than `keep` (replays reach back that far); returns how many."""
        acked, cutoff = self.acked(), to_db(now - keep)

        def delete(conn) -> int:
            # The newest row always stays: the sequence counter restarts from max(seq).
            return len(conn.execute(
                "DELETE FROM fed_outbox WHERE seq <= ? AND written_at < ? AND seq < (SELECT max(seq) FROM fed_outbox) "
                "RETURNING seq", [acked, cutoff]).fetchall())

        return self.store.write(delete)


def _entries_json(entries, lo: int | None, hi: int | None) -> str | None:
    """An outbox row's timeline: its incident's entries in (lo, hi] as a JSON array, None when there are none."""
    if hi is None:
        return None
    mine = [entry for entry_id, entry in entries if lo < entry_id <= hi]
    return "[" + ",".join(mine) + "]" if mine else None
