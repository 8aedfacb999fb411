"""The open-incident index holds what dedup and correlation can find, and nothing they never could."""

from datetime import UTC, datetime, timedelta

from ops_center.service.open_index import OpenIncident, OpenIndex

T0 = datetime(2026, 12, 6, 8, tzinfo=UTC)


def incident(incident_id: int, dedup_key: str | None) -> OpenIncident:
    return OpenIncident(incident_id, "city_management", dedup_key, "510108001001001", 30.66, 104.1, T0, 1,
                        ["hotline"])


def test_an_unplaced_incident_without_a_dedup_key_is_not_held():
    index = OpenIndex(timedelta(minutes=30), 200)
    index.add(incident(1, None), place=False)  # an old request from an export: nothing can ever join it
    index.add(incident(2, "smoke:SMK-1"), place=False)  # repeats of its key still find it
    index.add(incident(3, None))  # a live one is a correlation candidate
    assert set(index.by_id) == {2, 3} and index.by_dedup == {"smoke:SMK-1": 2}
    index.discard(1)  # closing one that was never held is harmless
    index.discard(2)
    assert set(index.by_id) == {3} and index.by_dedup == {}
