"""Reading one incident row inside a write: plain Python values, and who resolved it (核查 is never by them)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from ops_center.store.store import from_db


def resolver_of(conn, incident_id: int) -> str | None:
    """Who moved the case to resolved last (a person, a unit's user, or a source/rule), None if nobody did."""
    rows = conn.execute("SELECT actor FROM incident_timeline WHERE incident_id = ? AND to_status = 'resolved' "
                        "AND from_status <> 'resolved' ORDER BY ts DESC, rowid DESC LIMIT 1", [incident_id]).fetchall()
    return rows[0][0] if rows else None


def row_dict(row: dict) -> dict:
    """DB row (fetchall or DataFrame) -> dict with aware datetimes, plain lists and None for NULLs."""
    out = {}
    for key, value in row.items():
        if isinstance(value, (list, tuple)):
            pass
        elif hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:
            value = value.tolist()
        elif value is None or pd.isna(value):
            value = None
        elif isinstance(value, datetime):
            value = from_db(value)
        elif hasattr(value, "item"):
            value = value.item()
        out[key] = value
    return out
