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


SHARED_UNIT = "510100_power"  # a unit both districts send work to: at the city its numbers add up


def add_work_orders(districts: dict[str, Store]) -> None:
    """Work orders, 督办, 核查, 回访 and 延期 on every third incident of each district (all five tables the city's
    责任单位 and 督办 sheets read), some to a unit of the district's own, some to the shared one."""
    for n, (code, store) in enumerate(districts.items()):
        cases = store.query("SELECT incident_id, created_at FROM incidents ORDER BY incident_id")
        assignments, supervisions, verifications, callbacks, extensions = [], [], [], [], []
        for k, (iid, created) in enumerate(cases[::3]):
            sent = created + timedelta(minutes=20 + n)
            unit = SHARED_UNIT if k % 2 else f"{code}_cg"
            accepted = sent + timedelta(minutes=10 + 50 * (k % 3 == 0))  # some late for the 30-minute 签收 deadline
            done = sent + timedelta(hours=2 + 30 * (k % 4 == 0)) if k % 5 else None
            assignments.append([iid, iid, unit, "lead", "done" if done else "accepted", 1, "officer", sent,
                                sent + timedelta(minutes=30), "unit", accepted, accepted > sent + timedelta(minutes=30),
                                done])
            if k % 3 == 1:
                supervisions.append([iid, iid, "leader", sent + timedelta(minutes=40), sent + timedelta(days=1),
                                     "限期办结", done])
            if done is not None:
                verifications.append([iid, iid, "verifier", "officer", done + timedelta(minutes=30), k % 7 != 0])
                callbacks.append([iid, iid, "callback", 1, done + timedelta(hours=1),
                                  "不满意" if k % 6 == 0 else "满意", False])
            if k % 4 == 2:
                extensions.append([iid, iid, "unit", sent + timedelta(hours=1), 3600.0, "等材料", "approved", "leader",
                                   sent + timedelta(hours=1, minutes=5), iid])

        def write(conn, rows=(assignments, supervisions, verifications, callbacks, extensions)) -> None:
            a, s, v, c, e = rows
            conn.executemany(
                "INSERT INTO assignments (assignment_id, incident_id, unit, role, status, round, dispatched_by, "
                "dispatched_at, accept_due_at, accepted_by, accepted_at, accepted_late, done_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", a)
            conn.executemany("INSERT INTO supervisions (supervision_id, incident_id, issued_by, issued_at, due_at, note, "
                             "closed_at) VALUES (?, ?, ?, ?, ?, ?, ?)", s)
            conn.executemany("INSERT INTO verifications (verification_id, incident_id, verifier, role, ts, passed) "
                             "VALUES (?, ?, ?, ?, ?, ?)", v)
            conn.executemany("INSERT INTO callbacks (callback_id, incident_id, recorded_by, round, ts, satisfaction, "
                             "redo) VALUES (?, ?, ?, ?, ?, ?, ?)", c)
            conn.executemany("INSERT INTO extensions (extension_id, incident_id, requested_by, requested_at, seconds, "
                             "reason, status, decided_by, decided_at, assignment_id) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", e)

        store.write(write)
