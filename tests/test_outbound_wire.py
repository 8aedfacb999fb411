"""The compact form published events cross the pipe in comes back as the same events, with the same messages."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import orjson

from ingest.outbound_wire import messages, pack, published, unpack
from ops_center.service.bus import (
    EventsCommitted,
    IncidentCreated,
    IncidentEscalated,
    IncidentMerged,
    IncidentOverdue,
    IncidentTransitioned,
    IncidentUpdated,
    ReportWritten,
    UnitReminded,
)

AT = datetime(2026, 12, 6, 8, 30, 1, 250_000, tzinfo=UTC)
EVENTS = [
    IncidentCreated(incident_id=1, at=AT, domain="city_management", category="street_vending", severity="P3",
                    area_code="510108016007001", level="community", title="占道经营：万年场路", source="hotline",
                    notify_domains=("traffic",)),
    IncidentEscalated(incident_id=2, at=AT, from_level="community", to_level="street", reason="ack_overdue"),
    IncidentTransitioned(incident_id=3, at=AT, from_status="new", to_status="acknowledged", actor="officer_mzw"),
    IncidentOverdue(incident_id=4, at=AT, kind="resolve"),
    IncidentMerged(incident_id=5, at=AT, into_id=1, actor="officer_mzw"),
    UnitReminded(incident_id=6, at=AT, unit="区城管局", kind="overdue", assignment_id=9, due_at=AT.isoformat()),
    ReportWritten(at=AT, subscription="weekly-chenghua", name="成华区", area="510108", week="2026-W49",
                  path="reports/2026-W49.xlsx", created=123),
]


def test_only_decisions_and_reports_go_out_in_their_order(cfg):
    noise = [IncidentUpdated(incident_id=1, at=AT, report_count=2, source="sensor"), EventsCommitted(at=AT, events=3)]
    assert published([noise[0], *EVENTS[:3], noise[1], *EVENTS[3:]]) == EVENTS


def test_packed_events_survive_the_pipe_and_give_the_messages_the_writer_would_have_sent(cfg):
    back = unpack(pickle.loads(pickle.dumps(pack(EVENTS), protocol=5)))
    assert back == EVENTS
    sent = messages(cfg.mqtt, back)
    prefix = cfg.mqtt.topic_prefix.strip("/")
    assert [topic for topic, _ in sent] == [f"{prefix}/out/incident/{name}" for name in
                                            ("created", "escalated", "transitioned", "overdue", "merged", "reminded")
                                            ] + [f"{prefix}/out/report/weekly-chenghua"]
    created = orjson.loads(sent[0][1])
    assert created["event"] == "created" and created["at"] == AT.isoformat() and created["title"] == "占道经营：万年场路"
    assert created["notify_domains"] == ["traffic"]
    assert orjson.loads(sent[-1][1])["created"] == 123
