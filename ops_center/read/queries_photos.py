"""Which incident a stored photo belongs to: a photo is served only with an incident the viewer may read."""

from __future__ import annotations

from typing import Any

from ops_center.core.ports import StoreReads
from ops_center.read.queries import in_read_scope

# A photo belongs to an incident through a grid report's fields, a unit's 处置反馈 or a 核查.
_LINKED_SQL = """
    SELECT 1 FROM events WHERE incident_id = $incident AND contains(CAST(fields AS VARCHAR), $photo)
    UNION ALL
    SELECT 1 FROM feedback WHERE incident_id = $incident AND list_contains(photos, $photo)
    UNION ALL
    SELECT 1 FROM verifications WHERE incident_id = $incident AND list_contains(photos, $photo)
    LIMIT 1
"""


def incident_area(store: StoreReads, incident_id: int) -> str | None:
    rows = store.query("SELECT area_code FROM incidents WHERE incident_id = ?", [incident_id])
    return rows[0][0] if rows else None


def photo_linked(store: StoreReads, incident_id: int, photo_id: str) -> bool:
    """True when the incident's reports, feedback or verifications carry this photo."""
    return bool(store.query(_LINKED_SQL, {"incident": incident_id, "photo": photo_id}))


def may_view_photo(store: StoreReads, scope: Any, incident_id: int, photo_id: str) -> bool:
    """The incident exists inside the viewer's read scope and carries the photo (same answer for every refusal)."""
    area = incident_area(store, incident_id)
    if area is None or not in_read_scope(area, scope):
        return False
    return photo_linked(store, incident_id, photo_id)
