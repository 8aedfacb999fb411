"""Read model for the admin screen: source category codes no mapping knows yet, with counts."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from ops_center.store.store import to_db

UNMAPPED_SQL = """
SELECT source_id, fields->>'source_code' AS code, count(*) AS count, max(received_at) AS last_seen
FROM events
WHERE source IN ('hotline', 'sensor') AND received_at >= ? AND (fields->>'source_code') IS NOT NULL AND (fields->'mapped') IS NULL
GROUP BY source_id, code
ORDER BY count DESC, source_id, code
LIMIT ?
"""


def unmapped_codes(store, now: datetime | None = None, since: timedelta = timedelta(days=30),
                   limit: int = 200) -> pd.DataFrame:
    """(source_id, code, count, last_seen) of codes that fell back to the text rules, most frequent first.

    Only sources with a category map record `source_code`, so this lists exactly what an admin could add.
    """
    start = (now - since) if now is not None else datetime(1970, 1, 1).astimezone()
    return store.query_df(UNMAPPED_SQL, [to_db(start), int(limit)])
