"""Config sections for what feeds the center: sources and their mappings, ingest limits, our Open311 endpoint."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from ops_center.core.config_types import Duration, Instant, Strict


class SourceMapping(Strict):
    """How one polled or file source's own shape maps onto ours (docs/config.md, docs/ingest.md)."""

    columns: dict[str, str] = Field(default_factory=dict)  # source column/field -> GeoReport field
    date_formats: tuple[str, ...] = ()  # strptime formats tried when a time is not ISO 8601
    timezone: str | None = None  # zone of times without an offset (default: site.timezone)
    closed_statuses: tuple[str, ...] = ("closed", "已办结", "已结案", "办结")
    category_map: str | None = None  # YAML file: the source's own codes -> domain, category, severity

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (KeyError, ValueError):
                raise ValueError(f"unknown time zone {value!r} (use an IANA name like America/New_York)") from None
        return value

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(set(value.values()) - set(GEOREPORT_FIELDS))
        if bad:
            raise ValueError(f"columns map onto unknown field(s) {', '.join(bad)}; known: {', '.join(GEOREPORT_FIELDS)}")
        return value


# The GeoReport v2 request fields a mapping may target (plus `lon` as an alias of `long`).
GEOREPORT_FIELDS = (
    "service_request_id", "requested_datetime", "updated_datetime", "expected_datetime", "status", "status_notes",
    "service_code", "service_name", "description", "agency_responsible", "service_notice", "address", "address_id",
    "zipcode", "lat", "long", "media_url",
)


class IngestConfig(Strict):
    max_future: Duration = timedelta(minutes=10)
    max_age: Duration | None = None
    file_settle: Duration = timedelta(seconds=5)
    file_chunk_rows: int = Field(default=5000, ge=100, le=100_000)
    max_json_file_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    source_share: float = Field(default=0.5, gt=0, le=1)
    stall_after: Duration = timedelta(seconds=30)


class SourceConfig(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: Literal["mqtt_sensor", "mqtt_grid", "open311", "drop_folder", "simulator"]
    name: str
    heartbeat: Duration = timedelta(minutes=10)
    enabled: bool = True
    url: str | None = None
    path: str | None = None
    poll_interval: Duration = timedelta(seconds=30)
    jurisdiction_id: str | None = None
    mapping: SourceMapping = SourceMapping()
    # open311 only: the server's most records per call (1,000 by the GeoReport v2 spec); a full answer
    # splits the time window. `page_size` only for a server that declares `page`/`page_size` paging.
    max_per_call: int = Field(default=1000, ge=1)
    page_size: int | None = Field(default=None, ge=1)
    updates_params: tuple[str, str] | None = None  # e.g. [updated_after, updated_before] where supported
    backfill_from: Instant | None = None  # first window starts here (default: `lookback` before start-up)
    lookback: Duration = timedelta(hours=24)


class SimulatorConfig(Strict):
    enabled: bool = True
    seed: int = 20261123
    events_per_minute: float = Field(default=120.0, gt=0)
    malformed_ratio: float = Field(default=0.01, ge=0, le=1)
    history_days: int = Field(default=0, ge=0, le=3650)
    history_per_day: int = Field(default=300, ge=1)


class DevicesConfig(Strict):
    path: str


class Open311ClientConfig(Strict):
    """One app allowed to file requests on our GeoReport v2 endpoint (citizen app, grid-worker app)."""

    name: str
    api_key: str = Field(min_length=16)


class Open311ServerConfig(Strict):
    """The center's own Open311 GeoReport v2 endpoint under /open311/v2/ (ingest/open311_server.py)."""

    enabled: bool = False
    source_id: str = Field(default="open311_inbox", pattern=r"^[a-z][a-z0-9_]*$")
    jurisdiction_id: str | None = None
    services: str = "config/mappings/ops_services.yaml"  # service list: a category map file
    public_read: bool = False  # GET requests without an api_key (the spec allows it; personal data says no)
    clients: tuple[Open311ClientConfig, ...] = ()
