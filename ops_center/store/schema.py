"""Versioned schema migrations for the DuckDB store; each step runs once, in order."""

from __future__ import annotations

import logging

import duckdb

log = logging.getLogger(__name__)

# All timestamps are UTC, stored as TIMESTAMP (naive); the store converts at its boundary.
# Ids come from the writer's in-memory counters (Store.allocate_ids); events carry no primary
# key: the single writer checks (source_id, key_hash) before inserting, which keeps batch
# appends fast (a PK makes ON CONFLICT inserts 2-3x slower at millions of rows).
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "initial schema",
        """
        CREATE TABLE areas (
            code VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, level VARCHAR NOT NULL,
            parent VARCHAR, district VARCHAR, street VARCHAR, community VARCHAR,
            lat DOUBLE, lon DOUBLE);
        CREATE TABLE devices (
            device_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, area_code VARCHAR NOT NULL,
            lat DOUBLE, lon DOUBLE, address VARCHAR, building VARCHAR,
            lone_elder BOOLEAN DEFAULT false, attrs JSON);
        CREATE TABLE events (
            event_id BIGINT NOT NULL, source VARCHAR NOT NULL, source_id VARCHAR NOT NULL,
            natural_key VARCHAR NOT NULL, key_hash BIGINT NOT NULL,
            occurred_at TIMESTAMP NOT NULL, received_at TIMESTAMP NOT NULL,
            kind VARCHAR, device_id VARCHAR, metric VARCHAR, value DOUBLE, event VARCHAR,
            text VARCHAR, category VARCHAR, area_code VARCHAR, lat DOUBLE, lon DOUBLE,
            address VARCHAR, fields JSON,
            incident_id BIGINT, rule_id VARCHAR, suppressed_by BIGINT,
            ref_hash BIGINT);  -- hash of (source_id, upstream id): all updates of one 12345 request
        CREATE TABLE readings (
            device_id VARCHAR NOT NULL, kind VARCHAR, metric VARCHAR, ts TIMESTAMP NOT NULL,
            value DOUBLE, area_code VARCHAR);
        CREATE TABLE incidents (
            incident_id BIGINT PRIMARY KEY, version INTEGER NOT NULL DEFAULT 1,
            status VARCHAR NOT NULL, domain VARCHAR NOT NULL, category VARCHAR,
            severity VARCHAR NOT NULL, title VARCHAR NOT NULL,
            area_code VARCHAR NOT NULL, street_code VARCHAR, district_code VARCHAR,
            level VARCHAR NOT NULL, department VARCHAR,
            lat DOUBLE, lon DOUBLE, source VARCHAR, sources VARCHAR[], rule_id VARCHAR,
            dedup_key VARCHAR, report_count INTEGER NOT NULL DEFAULT 1,
            created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL,
            acknowledged_at TIMESTAMP, dispatched_at TIMESTAMP, resolved_at TIMESTAMP,
            closed_at TIMESTAMP, last_report_at TIMESTAMP,
            ack_due_at TIMESTAMP, resolve_due_at TIMESTAMP,
            ack_warned BOOLEAN DEFAULT false, resolve_warned BOOLEAN DEFAULT false,
            ack_overdue BOOLEAN DEFAULT false, overdue BOOLEAN DEFAULT false,
            supervised BOOLEAN DEFAULT false, escalations INTEGER DEFAULT 0,
            paused_seconds DOUBLE DEFAULT 0, paused_since TIMESTAMP,
            merged_into BIGINT, reopen_count INTEGER DEFAULT 0,
            verify_failures INTEGER DEFAULT 0, satisfied BOOLEAN,
            notify_domains VARCHAR[]);
        CREATE TABLE incident_timeline (
            incident_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, actor VARCHAR NOT NULL,
            action VARCHAR NOT NULL, from_status VARCHAR, to_status VARCHAR,
            note VARCHAR, data JSON);
        CREATE TABLE extensions (
            extension_id BIGINT PRIMARY KEY, incident_id BIGINT NOT NULL,
            requested_by VARCHAR NOT NULL, requested_at TIMESTAMP NOT NULL,
            seconds DOUBLE NOT NULL, reason VARCHAR, status VARCHAR NOT NULL,
            decided_by VARCHAR, decided_at TIMESTAMP);
        CREATE TABLE dead_letters (
            dead_letter_id BIGINT NOT NULL, received_at TIMESTAMP NOT NULL,
            source_id VARCHAR NOT NULL, topic VARCHAR, reason VARCHAR NOT NULL,
            detail VARCHAR, raw BLOB);
        CREATE TABLE users (
            username VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, role VARCHAR NOT NULL,
            password_hash VARCHAR NOT NULL, scope VARCHAR NOT NULL,
            active BOOLEAN DEFAULT true, updated_at TIMESTAMP);
        CREATE TABLE audit_log (
            audit_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, actor VARCHAR NOT NULL,
            action VARCHAR NOT NULL, target VARCHAR, detail JSON);
        CREATE TABLE suppressions (
            suppression_id BIGINT PRIMARY KEY, scope VARCHAR NOT NULL, value VARCHAR NOT NULL,
            starts_at TIMESTAMP NOT NULL, ends_at TIMESTAMP NOT NULL, reason VARCHAR,
            created_by VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
            cancelled_at TIMESTAMP);
        """,
    ),
    (
        2,
        "whole-second timestamps and 0.1 m coordinates for incident data",
        # Half the bytes per incident (bench footprint): TIMESTAMP_S bit-packs seconds, not microseconds.
        # Coordinates are rounded to 1e-6° where rows are written (store.COORDINATE_DECIMALS); old rows keep theirs.
        "\n".join(
            [f"ALTER TABLE {table} ALTER {column} TYPE TIMESTAMP_S;" for table, column in (
                ("events", "occurred_at"), ("events", "received_at"), ("incident_timeline", "ts"),
                *(("incidents", c) for c in ("created_at", "updated_at", "acknowledged_at", "dispatched_at",
                                             "resolved_at", "closed_at", "last_report_at", "ack_due_at",
                                             "resolve_due_at", "paused_since")))]
        ),
    ),
    (
        3,
        "incidents without an ART primary key",
        # Ids come from the writer's counters, so the key never rejected anything; its ART index was
        # rewritten at every checkpoint (≈ 0.5 s at 10 M incidents, the ingest latency p99) and lookups by
        # id are zone-map pruned anyway (ids grow with time, rows are appended in id order).
        """
        CREATE TABLE incidents_v3 (
            incident_id BIGINT NOT NULL, version INTEGER NOT NULL DEFAULT 1,
            status VARCHAR NOT NULL, domain VARCHAR NOT NULL, category VARCHAR,
            severity VARCHAR NOT NULL, title VARCHAR NOT NULL,
            area_code VARCHAR NOT NULL, street_code VARCHAR, district_code VARCHAR,
            level VARCHAR NOT NULL, department VARCHAR,
            lat DOUBLE, lon DOUBLE, source VARCHAR, sources VARCHAR[], rule_id VARCHAR,
            dedup_key VARCHAR, report_count INTEGER NOT NULL DEFAULT 1,
            created_at TIMESTAMP_S NOT NULL, updated_at TIMESTAMP_S NOT NULL,
            acknowledged_at TIMESTAMP_S, dispatched_at TIMESTAMP_S, resolved_at TIMESTAMP_S,
            closed_at TIMESTAMP_S, last_report_at TIMESTAMP_S,
            ack_due_at TIMESTAMP_S, resolve_due_at TIMESTAMP_S,
            ack_warned BOOLEAN DEFAULT false, resolve_warned BOOLEAN DEFAULT false,
            ack_overdue BOOLEAN DEFAULT false, overdue BOOLEAN DEFAULT false,
            supervised BOOLEAN DEFAULT false, escalations INTEGER DEFAULT 0,
            paused_seconds DOUBLE DEFAULT 0, paused_since TIMESTAMP_S,
            merged_into BIGINT, reopen_count INTEGER DEFAULT 0,
            verify_failures INTEGER DEFAULT 0, satisfied BOOLEAN,
            notify_domains VARCHAR[]);
        INSERT INTO incidents_v3 BY NAME SELECT * FROM incidents ORDER BY incident_id;
        DROP TABLE incidents;
        ALTER TABLE incidents_v3 RENAME TO incidents;
        """,
    ),
    (
        4,
        "work orders with the responsible units",
        # One row per unit a case was sent to, per dispatch (a 改派 cancels the old row and adds one):
        # role lead (主办) or co (协办); status pending → accepted → done, or returned (退单) until the
        # center decides (改派: cancelled, a new row; 强派: pending again). round counts 重办 rounds.
        """
        ALTER TABLE users ADD COLUMN unit VARCHAR;
        ALTER TABLE incidents ADD COLUMN hung_kind VARCHAR;
        ALTER TABLE incidents ADD COLUMN hung_at TIMESTAMP_S;
        ALTER TABLE incidents ADD COLUMN redo_count INTEGER DEFAULT 0;
        ALTER TABLE extensions ADD COLUMN assignment_id BIGINT;
        ALTER TABLE extensions ADD COLUMN approver_role VARCHAR;
        ALTER TABLE extensions ADD COLUMN decision_note VARCHAR;
        CREATE TABLE assignments (
            assignment_id BIGINT NOT NULL, incident_id BIGINT NOT NULL, unit VARCHAR NOT NULL,
            role VARCHAR NOT NULL, status VARCHAR NOT NULL, round INTEGER NOT NULL DEFAULT 1,
            dispatched_by VARCHAR NOT NULL, dispatched_at TIMESTAMP_S NOT NULL, accept_due_at TIMESTAMP_S NOT NULL,
            accepted_by VARCHAR, accepted_at TIMESTAMP_S, accepted_late BOOLEAN,
            returned_by VARCHAR, returned_at TIMESTAMP_S, return_reason VARCHAR, returns INTEGER NOT NULL DEFAULT 0,
            decided_by VARCHAR, decided_at TIMESTAMP_S, decision VARCHAR, replaced_by BIGINT,
            done_at TIMESTAMP_S, note VARCHAR);
        CREATE TABLE feedback (
            feedback_id BIGINT NOT NULL, assignment_id BIGINT NOT NULL, incident_id BIGINT NOT NULL,
            unit VARCHAR NOT NULL, role VARCHAR NOT NULL, author VARCHAR NOT NULL, ts TIMESTAMP_S NOT NULL,
            note VARCHAR NOT NULL, photos VARCHAR[]);
        CREATE TABLE verifications (
            verification_id BIGINT NOT NULL, incident_id BIGINT NOT NULL, verifier VARCHAR NOT NULL,
            role VARCHAR NOT NULL, ts TIMESTAMP_S NOT NULL, passed BOOLEAN NOT NULL, note VARCHAR,
            photos VARCHAR[]);
        CREATE TABLE reminders (
            reminder_id BIGINT NOT NULL, incident_id BIGINT NOT NULL, assignment_id BIGINT,
            unit VARCHAR NOT NULL, kind VARCHAR NOT NULL, due_at TIMESTAMP_S, ts TIMESTAMP_S NOT NULL,
            issued_by VARCHAR NOT NULL, note VARCHAR);
        CREATE TABLE supervisions (
            supervision_id BIGINT NOT NULL, incident_id BIGINT NOT NULL, issued_by VARCHAR NOT NULL,
            issued_at TIMESTAMP_S NOT NULL, due_at TIMESTAMP_S NOT NULL, note VARCHAR NOT NULL,
            closed_at TIMESTAMP_S);
        CREATE TABLE callbacks (
            callback_id BIGINT NOT NULL, incident_id BIGINT NOT NULL, recorded_by VARCHAR NOT NULL,
            round INTEGER NOT NULL, ts TIMESTAMP_S NOT NULL, satisfaction VARCHAR NOT NULL, note VARCHAR,
            redo BOOLEAN NOT NULL);
        """,
    ),
    (
        5,
        "派单目录: published versions of the dispatch catalogue",
        # Version 0 is config/dispatch_catalogue.yaml; admins publish 1, 2, … (ops_center/service/catalogue.py).
        # Old versions are never changed or deleted: a case is judged by the version in force at its creation.
        """
        CREATE TABLE dispatch_catalogue_versions (
            version INTEGER NOT NULL, effective_from TIMESTAMP NOT NULL, published_by VARCHAR NOT NULL,
            published_at TIMESTAMP NOT NULL, note VARCHAR);
        CREATE TABLE dispatch_catalogue_entries (
            version INTEGER NOT NULL, domain VARCHAR NOT NULL, category VARCHAR, area_level VARCHAR NOT NULL,
            lead_unit VARCHAR NOT NULL, co_units VARCHAR[], level VARCHAR NOT NULL);
        """,
    ),
    (
        6,
        "federation: the district's outbox and publish watermark, the city's per-district watermarks",
        # fed_outbox: one row per incident change, a snapshot of the whole row (JSON, so a column added later
        # travels without a migration here), numbered by the writer's counter in the change's own transaction.
        # entries_after/_upto: the incident's timeline entries that change wrote are those with `entry_id` in
        # (after, upto] (`entry_id` grows with every entry; existing entries are numbered by the ALTER); the
        # publisher reads them with the row, so the city shows the district's history.
        """
        CREATE TABLE fed_outbox (
            seq BIGINT NOT NULL, incident_id BIGINT NOT NULL, written_at TIMESTAMP_S NOT NULL, snapshot JSON NOT NULL,
            entries_after BIGINT, entries_upto BIGINT);
        CREATE SEQUENCE timeline_entry_seq;
        ALTER TABLE incident_timeline ADD COLUMN entry_id BIGINT DEFAULT nextval('timeline_entry_seq');
        CREATE TABLE fed_published (
            district_code VARCHAR PRIMARY KEY, acked_seq BIGINT NOT NULL, acked_at TIMESTAMP_S NOT NULL);
        CREATE TABLE fed_watermarks (
            district_code VARCHAR PRIMARY KEY, seq BIGINT NOT NULL, head BIGINT NOT NULL,
            last_heard TIMESTAMP_S, applied_at TIMESTAMP_S);
        """,
    ),
    (
        7,
        "archive of closed incidents: the month manifest and the *_all views the reports read",
        # ops_center/store/retention.py: the manifest is the archive's commit point, and re-creates the views
        # over the Parquet files it names; with no archive the views are the tables themselves.
        """
        CREATE TABLE archive_months (
            month VARCHAR NOT NULL, incidents_file VARCHAR NOT NULL, incident_timeline_file VARCHAR NOT NULL,
            events_file VARCHAR NOT NULL, incidents BIGINT NOT NULL, incident_timeline BIGINT NOT NULL,
            events BIGINT NOT NULL, last_created_at TIMESTAMP NOT NULL, last_incident_id BIGINT NOT NULL,
            written_at TIMESTAMP NOT NULL);
        CREATE VIEW incidents_all AS SELECT * FROM incidents;
        CREATE VIEW incident_timeline_all AS SELECT * FROM incident_timeline;
        CREATE VIEW events_all AS SELECT * FROM events;
        """,
    ),
    (
        8,
        "federation: city commands until the district answers, the district's applied commands, its oldest kept change",
        # fed_commands (city): each 督办/escalation sent to a district, written with the action's audit, resent
        # (next_at, attempts) while state is 'pending' until the district answers 'applied', 'unchanged' or
        # 'refused' (reason). fed_applied_commands (district): what each command_id did, so a resent command is
        # answered again and applied once. fed_watermarks.oldest: the district's oldest kept sequence (its
        # heartbeats), so a gap the outbox no longer holds is shown as needing a resync.
        """
        CREATE TABLE fed_commands (
            command_id VARCHAR PRIMARY KEY, district_code VARCHAR NOT NULL, incident_id BIGINT NOT NULL,
            action VARCHAR NOT NULL, actor VARCHAR NOT NULL, note VARCHAR NOT NULL, issued_at TIMESTAMP_S NOT NULL,
            state VARCHAR NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at TIMESTAMP_S NOT NULL,
            last_sent_at TIMESTAMP_S, answered_at TIMESTAMP_S, reason VARCHAR);
        CREATE TABLE fed_applied_commands (
            command_id VARCHAR PRIMARY KEY, action VARCHAR NOT NULL, incident_id BIGINT NOT NULL,
            actor VARCHAR NOT NULL, result VARCHAR NOT NULL, reason VARCHAR, applied_at TIMESTAMP_S NOT NULL);
        ALTER TABLE fed_watermarks ADD COLUMN oldest BIGINT;
        """,
    ),
)


def migrate(conn: duckdb.DuckDBPyConnection) -> int:
    """Bring the database to the newest schema version; return that version."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
        "description VARCHAR, applied_at TIMESTAMP DEFAULT current_timestamp)"
    )
    current = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0]
    for version, description, sql in MIGRATIONS:
        if version <= current:
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(sql)
            conn.execute(
                "INSERT INTO schema_version (version, description) VALUES (?, ?)", [version, description]
            )
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        log.info("schema migrated to version %d (%s)", version, description)
        current = version
        conn.execute("CHECKPOINT")  # a crash must never leave schema changes to WAL replay
    return current
