"""Builders of a city center's test world: two district configs and stores, their outboxes applied at a city store.

The city's config is the Done-when test's (the districts' areas united, `federation.role: city`); 锦江区 is the
shipped 成华区 renamed and moved south-west so the two districts do not share their centroids. No broker is
needed: the outboxes cross through the wire format and `FederatedIncidents` (tests/test_federation.py covers
the transport). Used by tests/test_city_screens.py and tests/test_city_report.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from ingest.fed_wire import changes, decode_changes
from ops_center.core.config import Config
from ops_center.core.domains import DOMAIN_CODES
from ops_center.service.fed_apply import FederatedIncidents
from ops_center.service.outbox import Outbox
from ops_center.store.store import Store
from tests.factories import incident_row, insert_incidents
from tests.test_federation import DISTRICTS, city_doc, district_doc, write

JINJIANG = "510104"
SHIFT = (-0.075, -0.03)
STATUSES = ("new", "acknowledged", "dispatched", "resolved", "closed")


def write_configs(tmp: Path) -> tuple[Path, dict[str, Path]]:
    """The city's config file and each district's own, in `tmp`."""
    docs = {code: district_doc(tmp, code) for code in DISTRICTS}
    for area in docs[JINJIANG]["areas"]["items"]:
        area["centroid"] = [area["centroid"][0] + SHIFT[0], area["centroid"][1] + SHIFT[1]]
    own = {code: write(tmp, f"{code}.yaml", doc) for code, doc in docs.items()}
    return write(tmp, "city.yaml", city_doc(tmp, docs)), own


def district_stores(cfg: Config, tmp: Path, now: datetime) -> dict[str, Store]:
    """Each district's own store with a month of incidents spread over its grids, domains and statuses."""
    stores = {}
    for n, code in enumerate(DISTRICTS):
        grids = [a.code for a in cfg.areas.items if a.level == "grid" and a.code.startswith(code)]
        rows = [incident_row(cfg, now=now - timedelta(hours=5 * i + n), created_at=now - timedelta(hours=7 * i + n),
                             area_code=grids[(3 * i + n) % len(grids)], domain=DOMAIN_CODES[i % len(DOMAIN_CODES)],
                             status=STATUSES[(i + n) % len(STATUSES)], overdue=i % 4 == 0, severity="P3")
                for i in range(40 + 15 * n)]
        stores[code] = Store(tmp / f"{code}.duckdb")
        insert_incidents(stores[code], rows)
    return stores


def federate(districts: dict[str, Store], city: Store, clock) -> None:
    """Each district's outbox, as it crosses the wire, applied at the city."""
    fed = FederatedIncidents(city, tuple(districts), clock)
    for code, store in districts.items():
        box = Outbox(store, code, clock).install()
        applied = fed.apply([decode_changes(changes(code, box.head(), box.read(0, 10**6)), code)])
        assert applied.applied == box.head() > 0
