"""config.yaml parsed once, strictly, into frozen models; errors point at config.yaml:LINE."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ops_center.core import area_codes
from ops_center.core.dispatch_catalogue import EPOCH, Catalogue, Entry, Version, known_units, load_seed
from ops_center.core.domains import DOMAIN_CODES, LEVELS, ROLES, SEVERITIES
from ops_center.core.source_mapping import load_category_map
from ops_center.core.units import APPROVER_ROLES, is_unit_code
from ops_center.core.yamlsource import LocatedDocument, SourceError, load_located

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> timedelta:
    """Accept '90s', '5m', '2h', '3d', '1w' (or a number of seconds) so the YAML stays readable."""
    if isinstance(value, timedelta):
        return value
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return timedelta(seconds=float(value))
        if isinstance(value, str) and (m := _DURATION.match(value)):
            return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    except OverflowError:  # pydantic reports ValueError as a config error; an overflow would escape
        raise ValueError(f"duration {value!r} is out of range") from None
    raise ValueError(f"expected a duration like '30s', '5m', '2h', '3d', got {value!r}")


def _parse_date(value: object) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"expected a date YYYY-MM-DD, got {value!r}") from exc


def _parse_hours(value: object) -> tuple[time, time]:
    m = re.match(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$", str(value))
    if not m:
        raise ValueError(f"expected working hours like '09:00-12:00', got {value!r}")
    start = time(int(m.group(1)), int(m.group(2)))
    end = time(int(m.group(3)), int(m.group(4)))
    if end <= start:
        raise ValueError(f"working period {value!r} ends before it starts")
    return start, end


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Day = Annotated[date, BeforeValidator(_parse_date)]
Hours = Annotated[tuple[time, time], BeforeValidator(_parse_hours)]
Severity = Literal["P1", "P2", "P3", "P4"]
Level = Literal["community", "street", "district", "city"]
Role = Literal["viewer", "officer", "shift_lead", "leader", "admin", "unit", "grid"]


class Strict(BaseModel):
    """Base for every config model: frozen, and unknown keys are an error, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CityConfig(Strict):
    code: str = Field(pattern=r"^\d{6}$")
    name: str
    centroid: tuple[float, float]


class SiteConfig(Strict):
    name: str
    timezone: str = "Asia/Shanghai"
    city: CityConfig
    default_area: str


class BackupConfig(Strict):
    """Online backups of the store: where, how often (None: only when asked), how many kept."""

    dir: str = "data/backups"
    every: Duration | None = None
    keep: int = Field(default=7, ge=1)


class RetentionConfig(Strict):
    """Closed incidents older than `after` move to Parquet in `dir` daily at `at` (None: never, the default)."""

    after: Duration | None = None
    dir: str = "data/archive"
    at: str = Field(default="03:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    keep_replaced: Duration = timedelta(days=30)


class StoreConfig(Strict):
    path: str = "data/ops.duckdb"
    batch_max_rows: int = Field(default=2000, ge=1)
    flush_interval_ms: int = Field(default=50, ge=1)
    dedup_horizon: Duration = timedelta(days=30)
    backup: BackupConfig = BackupConfig()
    retention: RetentionConfig = RetentionConfig()


class LoginLimitConfig(Strict):
    """Failed logins allowed before back-off, per user name and per client address."""

    user_attempts: int = Field(default=5, ge=1)
    address_attempts: int = Field(default=20, ge=1)
    first_delay: Duration = timedelta(seconds=2)
    max_delay: Duration = timedelta(minutes=15)
    forget_after: Duration = timedelta(hours=1)


class WebConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8050, ge=1, le=65535)
    secret_key: str = Field(min_length=16)
    kiosk_tokens: tuple[str, ...] = ()
    wall_refresh_ms: int = Field(default=1000, ge=200)
    https: bool = False
    proxy_hops: int = Field(default=0, ge=0, le=5)
    login_limit: LoginLimitConfig = LoginLimitConfig()
    photo_max_mb: float = Field(default=8, gt=0, le=50)


class TlsConfig(Strict):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False


class MqttConfig(Strict):
    url: str = "mqtt://127.0.0.1:1883"
    embedded: bool = False
    topic_prefix: str = "ops"
    client_id: str = "ops-center"
    username: str | None = None
    password: str | None = None
    tls: TlsConfig | None = None
    keepalive_s: int = Field(default=30, ge=5)
    shared_group: str | None = None
    receivers: int = Field(default=0, ge=0, le=16)
    session_expiry_s: int = Field(default=86400, ge=0)
    max_payload_bytes: int = Field(default=65536, ge=256)
    max_payload_depth: int = Field(default=8, ge=1, le=64)
    max_payload_fields: int = Field(default=64, ge=8, le=4096)

    @field_validator("receivers")
    @classmethod
    def _receivers(cls, value: int, info) -> int:
        if value > 1 and info.data.get("embedded"):
            raise ValueError("the embedded demo broker has no shared subscriptions: use 0 or 1 receivers with it")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^mqtts?://[^:/\s]+(:\d+)?/?$", value):
            raise ValueError(f"expected mqtt://host:port or mqtts://host:port, got {value!r}")
        return value


def _parse_instant(value: object) -> datetime:
    """ISO date-time; without an offset it is site time (Asia/Shanghai), never naive downstream."""
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise ValueError(f"expected a date-time like '2026-12-01T08:00+08:00', got {value!r}") from exc
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=ZoneInfo("Asia/Shanghai"))


Instant = Annotated[datetime, BeforeValidator(_parse_instant)]


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


class CorrelationConfig(Strict):
    distance_m: float = Field(default=300.0, gt=0)
    window: Duration = timedelta(minutes=30)


class TextModelConfig(Strict):
    enabled: bool = True
    shipped: str = "rules/corpus/model.npz"
    dir: str = "data/models"
    threshold: float | None = Field(default=None, gt=0, lt=1)


class RulesConfig(Strict):
    paths: tuple[str, ...]
    correlation: CorrelationConfig = CorrelationConfig()
    text_model: TextModelConfig = TextModelConfig()


class AreaConfig(Strict):
    code: str
    name: str
    centroid: tuple[float, float]

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not area_codes.is_area_code(value):
            raise ValueError(f"area code must be {area_codes.SHAPE}, got {value!r}")
        return value

    @property
    def level(self) -> str:
        return area_codes.level_of(self.code)

    @property
    def parent_code(self) -> str | None:
        return area_codes.parent_of(self.code)


class RoadConfig(Strict):
    name: str = Field(min_length=2)
    area: str


class AreasConfig(Strict):
    geojson_path: str | None = None
    # A point outside the site (outside `bounds` [min_lat, min_lon, max_lat, max_lon] when set, else
    # outside the drawn areas) is a dead letter `outside_area`, or with `flag` an incident marked 区外.
    bounds: tuple[float, float, float, float] | None = None
    outside: Literal["dead_letter", "flag"] = "dead_letter"
    roads: tuple[RoadConfig, ...] = ()
    items: tuple[AreaConfig, ...]


class DomainConfig(Strict):
    code: str
    name: str
    color: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")
    department: str
    level: Level = "community"


class DepartmentConfig(Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    domains: tuple[str, ...]


class SlaRule(Strict):
    domain: str
    severity: Severity
    category: str | None = None
    acknowledge: Duration
    resolve: Duration
    warn_at: float | None = Field(default=None, gt=0, lt=1)
    calendar: Literal["24x7", "workdays"] = "24x7"


class SlaConfig(Strict):
    warn_at: float = Field(default=0.8, gt=0, lt=1)
    table: tuple[SlaRule, ...]


class EscalationConfig(Strict):
    chain: tuple[Level, ...] = ("community", "street", "district", "city")
    sweep_interval: Duration = timedelta(seconds=5)


class CalendarConfig(Strict):
    working_hours: tuple[Hours, ...]
    holidays: frozenset[Day] = frozenset()
    makeup_workdays: frozenset[Day] = frozenset()
    warn_before: Duration = timedelta(days=60)


class UserConfig(Strict):
    username: str = Field(pattern=r"^[a-z][a-z0-9_.-]*$")
    name: str
    role: Role
    password_hash: str
    scope: str
    unit: str | None = None  # role unit only: the responsible unit it works for (ops_center/core/units.py)


class WorkOrdersConfig(Strict):
    """The work order with the responsible units: 签收 time limit and who approves the n-th 延期."""

    accept_within: Duration = timedelta(hours=2)
    extension_approvers: tuple[Role, ...] = ("shift_lead", "leader")  # 1st, 2nd, … (the last for any later one)
    callback_after_workdays: int = Field(default=1, ge=0, le=10)  # 回访 from this many working days after closing


class ReportSubscription(Strict):
    """A leader's or a unit's own weekly report: its area's report written (and published) on schedule."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str
    area: str
    format: Literal["xlsx", "csv"] = "xlsx"
    publish: bool = True  # also announce it on MQTT <prefix>/out/report/<id>


class ReportsConfig(Strict):
    folder: str = "reports"
    weekly_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    weekly_time: str = Field(default="08:00", pattern=r"^\d{2}:\d{2}$")
    subscriptions: tuple[ReportSubscription, ...] = ()




class SuppressionConfig(Strict):
    """A maintenance window or silence declared in config (the admin page creates the ad-hoc ones)."""

    scope: Literal["device", "area", "domain"]
    value: str = Field(min_length=1)
    starts: Instant
    ends: Instant
    reason: str


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


class FederatedDistrict(Strict):
    """One district center a city center hears (federation.districts)."""

    code: str = Field(pattern=r"^\d{6}$")
    name: str = Field(min_length=1)


class FederationConfig(Strict):
    """District centers federated into a city center over bridged MQTT (docs/federation.md)."""

    role: Literal["district", "city"]
    district_code: str | None = Field(default=None, pattern=r"^\d{6}$")  # role district: the code we publish as
    topic_prefix: str | None = None  # `<prefix>/fed/<district>/…`; default mqtt.topic_prefix
    districts: tuple[FederatedDistrict, ...] = ()  # role city: every district it hears
    city_actions: tuple[Literal["supervise", "escalate"], ...] = ("supervise", "escalate")
    batch_changes: int = Field(default=200, ge=1, le=5000)  # changes per MQTT message
    inflight_messages: int = Field(default=50, ge=1, le=1000)  # sent and not yet acked by the broker
    replay_max: int = Field(default=20_000, ge=100)  # changes one replay request answers at most
    heartbeat: Duration = timedelta(seconds=2)
    gap_wait: Duration = timedelta(seconds=2)  # a gap stays open this long before the city asks for a replay
    silent_after: Duration = timedelta(seconds=30)
    keep: Duration = timedelta(days=7)  # acked outbox rows stay this long for replays
    supervise_within: Duration = timedelta(days=3)  # a city 督办's deadline, from when the district applies it

    @model_validator(mode="after")
    def _role_needs(self) -> FederationConfig:
        if self.role == "district" and not self.district_code:
            raise ValueError("role district needs district_code")
        if self.role == "city" and not self.districts:
            raise ValueError("role city needs districts")
        codes = [d.code for d in self.districts]
        if len(set(codes)) != len(codes):
            raise ValueError("a district is listed twice")
        return self

    def prefix(self, mqtt: MqttConfig) -> str:
        return (self.topic_prefix or mqtt.topic_prefix).strip("/")


class Config(Strict):
    site: SiteConfig
    store: StoreConfig = StoreConfig()
    web: WebConfig
    mqtt: MqttConfig = MqttConfig()
    ingest: IngestConfig = IngestConfig()
    sources: tuple[SourceConfig, ...] = ()
    simulator: SimulatorConfig = SimulatorConfig()
    devices: DevicesConfig
    rules: RulesConfig
    areas: AreasConfig
    domains: tuple[DomainConfig, ...]
    departments: tuple[DepartmentConfig, ...]
    dispatch_catalogue: str | None = None  # the shipped 派单目录 (version 0); None: one default row per domain
    sla: SlaConfig
    escalation: EscalationConfig = EscalationConfig()
    calendar: CalendarConfig
    users: tuple[UserConfig, ...] = ()
    work_orders: WorkOrdersConfig = WorkOrdersConfig()
    reports: ReportsConfig = ReportsConfig()
    suppressions: tuple[SuppressionConfig, ...] = ()
    open311_server: Open311ServerConfig = Open311ServerConfig()
    federation: FederationConfig | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    def path_of(self, relative: str) -> Path:
        """A path from the config, resolved against the config file's folder (cwd if built in memory)."""
        p = Path(relative)
        return p if p.is_absolute() else self._base_dir / p

    @cached_property
    def area_by_code(self) -> dict[str, AreaConfig]:
        return {a.code: a for a in self.areas.items}

    @cached_property
    def children_of(self) -> dict[str, tuple[AreaConfig, ...]]:
        out: dict[str, list[AreaConfig]] = {}
        for area in self.areas.items:
            out.setdefault(area.parent_code or self.site.city.code, []).append(area)
        return {code: tuple(items) for code, items in out.items()}

    @cached_property
    def domain_by_code(self) -> dict[str, DomainConfig]:
        return {d.code: d for d in self.domains}

    def source(self, source_id: str) -> SourceConfig | None:
        return next((s for s in self.sources if s.id == source_id), None)

    @cached_property
    def dispatch_seed(self) -> Catalogue:
        """The shipped 派单目录 as version 0, read once (load_config has already checked it)."""
        if self.dispatch_catalogue is None:
            rows = tuple(Entry(d.code, None, "*", d.department, (), d.level) for d in self.domains)
            return Catalogue((Version(0, EPOCH, rows, "config", None, "各领域默认部门"),))
        return load_seed(self.path_of(self.dispatch_catalogue), known_units(self))


class ConfigError(SourceError):
    """Configuration is invalid; the message is `config.yaml:LINE: what is wrong`."""


def _check_references(cfg: Config, doc: LocatedDocument) -> None:
    """Cross-references pydantic cannot see: parents, domains, departments, scopes."""
    codes = cfg.area_by_code
    seen: set[str] = set()
    for i, area in enumerate(cfg.areas.items):
        where = ("areas", "items", i, "code")
        if area.code in seen:
            raise doc.error(where, f"area code {area.code} appears twice")
        seen.add(area.code)
        parent = area.parent_code
        if parent is not None and parent not in codes:
            raise doc.error(where, f"area {area.code} ({area.name}) has no parent area {parent}")
    for i, road in enumerate(cfg.areas.roads):
        if road.area not in codes:
            raise doc.error(("areas", "roads", i, "area"), f"road {road.name} names unknown area {road.area}")
    if cfg.site.default_area not in codes:
        raise doc.error(("site", "default_area"), f"default_area {cfg.site.default_area} is not a configured area")
    departments = {d.code for d in cfg.departments}
    domain_codes = {d.code for d in cfg.domains}
    missing = set(DOMAIN_CODES) - domain_codes
    if missing:
        raise doc.error(("domains",), f"domains missing: {', '.join(sorted(missing))}")
    for i, domain in enumerate(cfg.domains):
        if domain.code not in DOMAIN_CODES:
            raise doc.error(("domains", i, "code"), f"unknown domain {domain.code!r}; known: {', '.join(DOMAIN_CODES)}")
        if domain.department not in departments:
            raise doc.error(("domains", i, "department"), f"unknown department {domain.department!r}")
    for i, dept in enumerate(cfg.departments):
        for code in dept.domains:
            if code not in domain_codes:
                raise doc.error(("departments", i, "domains"), f"department {dept.code} names unknown domain {code!r}")
    covered = set()
    for i, rule in enumerate(cfg.sla.table):
        if rule.domain not in domain_codes:
            raise doc.error(("sla", "table", i, "domain"), f"SLA row names unknown domain {rule.domain!r}")
        if rule.resolve <= rule.acknowledge:
            raise doc.error(("sla", "table", i, "resolve"), "resolve time must be longer than acknowledge time")
        if rule.category is None:
            covered.add((rule.domain, rule.severity))
    gaps = [f"{d}/{s}" for d in sorted(domain_codes) for s in SEVERITIES if (d, s) not in covered]
    if gaps:
        raise doc.error(("sla", "table"), f"SLA table has no row for {', '.join(gaps[:6])}{' …' if len(gaps) > 6 else ''}")
    if list(cfg.escalation.chain) != [lvl for lvl in LEVELS if lvl in cfg.escalation.chain]:
        raise doc.error(("escalation", "chain"), f"chain must go upwards in the order {' → '.join(LEVELS)}")
    names = set()
    for i, user in enumerate(cfg.users):
        if user.username in names:
            raise doc.error(("users", i, "username"), f"user {user.username} appears twice")
        names.add(user.username)
        if user.scope not in codes and user.scope != cfg.site.city.code:
            raise doc.error(("users", i, "scope"), f"user {user.username} has unknown scope area {user.scope}")
        if user.role not in ROLES:
            raise doc.error(("users", i, "role"), f"unknown role {user.role}")
        if (user.role == "unit") != (user.unit is not None):
            raise doc.error(("users", i, "unit"), f"user {user.username}: a unit is given to role unit, and only to it")
        if user.unit is not None and not is_unit_code(user.unit, departments, codes):
            raise doc.error(("users", i, "unit"), f"user {user.username} names unknown unit {user.unit!r}; "
                            "a department code, community:<12-digit area> or street:<9-digit area>")
    for i, role in enumerate(cfg.work_orders.extension_approvers):
        if role not in APPROVER_ROLES:
            raise doc.error(("work_orders", "extension_approvers", i),
                            f"an extension approver is one of {', '.join(APPROVER_ROLES)}, not {role}")
    ids = set()
    for i, src in enumerate(cfg.sources):
        if src.id in ids:
            raise doc.error(("sources", i, "id"), f"source id {src.id} appears twice")
        ids.add(src.id)
        if src.kind == "open311" and not src.url:
            raise doc.error(("sources", i), f"source {src.id}: kind open311 needs a url")
        if src.kind == "drop_folder" and not src.path:
            raise doc.error(("sources", i), f"source {src.id}: kind drop_folder needs a path")
        _check_mapping(cfg, doc, i, src)
    subs = set()
    for i, sub in enumerate(cfg.reports.subscriptions):
        if sub.id in subs:
            raise doc.error(("reports", "subscriptions", i, "id"), f"report subscription {sub.id} appears twice")
        subs.add(sub.id)
        if sub.area not in codes:
            raise doc.error(("reports", "subscriptions", i, "area"), f"report subscription {sub.id} names unknown area {sub.area}")
    _check_open311_server(cfg, doc, ids)
    after = cfg.store.retention.after
    if after is not None and after < cfg.store.dedup_horizon:
        raise doc.error(("store", "retention", "after"),
                        f"store.retention.after ({after}) must be at least store.dedup_horizon "
                        f"({cfg.store.dedup_horizon}): a redelivered input must still find its event")
    if cfg.dispatch_catalogue is not None:
        path = cfg.path_of(cfg.dispatch_catalogue)
        if not path.is_file():
            raise doc.error(("dispatch_catalogue",), f"dispatch catalogue {path} not found")
        load_seed(path, known_units(cfg))  # a SourceError names the catalogue file and its line
    _check_city_areas(cfg, doc)
    for i, sup in enumerate(cfg.suppressions):
        entry: tuple[str | int, ...] = ("suppressions", i)
        if sup.ends <= sup.starts:
            raise doc.error(entry + ("ends",), "a suppression must end after it starts")
        if sup.scope == "area" and sup.value not in codes:
            raise doc.error(entry + ("value",), f"suppression names unknown area {sup.value}")
        if sup.scope == "domain" and sup.value not in domain_codes:
            raise doc.error(entry + ("value",), f"suppression names unknown domain {sup.value!r}")


def _check_city_areas(cfg: Config, doc: LocatedDocument) -> None:
    """A city center drills 市 → 区: its areas are its districts' (each listed district configured, no other)."""
    fed = cfg.federation
    if fed is None or fed.role != "city":
        return
    listed = {d.code for d in fed.districts}
    for i, district in enumerate(fed.districts):
        if district.code not in cfg.area_by_code:
            raise doc.error(("federation", "districts", i, "code"),
                            f"district {district.code} ({district.name}) is not a configured area: a city center "
                            "configures the areas of every district it hears")
        if district.code == cfg.site.city.code:
            raise doc.error(("federation", "districts", i, "code"), f"district {district.code} is the city's own code")
    for i, area in enumerate(cfg.areas.items):
        if area.level == "district" and area.code not in listed:
            raise doc.error(("areas", "items", i, "code"),
                            f"area {area.code} ({area.name}) is a district the city does not hear: "
                            "list it in federation.districts")


def _check_open311_server(cfg: Config, doc: LocatedDocument, source_ids: set[str]) -> None:
    """Our GeoReport endpoint: its own source id, a loadable service list, distinct client keys."""
    srv = cfg.open311_server
    where = ("open311_server",)
    if not srv.enabled:
        return
    if srv.source_id in source_ids:
        raise doc.error(where + ("source_id",), f"open311_server.source_id {srv.source_id} is already a source id")
    path = cfg.path_of(srv.services)
    if not path.is_file():
        raise doc.error(where + ("services",), f"open311_server: service list {path} not found")
    try:
        load_category_map(str(path))
    except SourceError as exc:
        raise doc.error(where + ("services",), f"open311_server: {exc}") from None
    keys: set[str] = set()
    for i, client in enumerate(srv.clients):
        if client.api_key in keys:
            raise doc.error(where + ("clients", i, "api_key"), f"client {client.name}: api_key used twice")
        keys.add(client.api_key)


def _check_mapping(cfg: Config, doc: LocatedDocument, i: int, src: SourceConfig) -> None:
    """A source's category map must load and name known domains; its date formats must parse."""
    where = ("sources", i, "mapping")
    for fmt in src.mapping.date_formats:
        if "%" not in fmt:
            raise doc.error(where + ("date_formats",), f"source {src.id}: date format {fmt!r} has no % directive")
    if src.mapping.category_map:
        path = cfg.path_of(src.mapping.category_map)
        if not path.is_file():
            raise doc.error(where + ("category_map",), f"source {src.id}: category map {path} not found")
        try:
            cmap = load_category_map(str(path))
        except SourceError as exc:
            raise doc.error(where + ("category_map",), f"source {src.id}: {exc}") from None
        if src.kind in ("mqtt_grid", "simulator"):
            raise doc.error(where + ("category_map",), f"source {src.id}: kind {src.kind} has no category map")
        if src.kind == "mqtt_sensor" and "fields" not in cmap.model_fields_set:
            raise doc.error(where + ("category_map",), f"source {src.id}: category map {path.name} must list `fields`, "
                            "the payload fields holding the vendor's code (e.g. [alarm_type, code])")


def _dotted(loc: tuple) -> str:
    """`sla.table[3].resolve`: the key path as docs/config.md writes it, with the item index."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "(top level)"


def _format_validation(exc: ValidationError, doc: LocatedDocument) -> ConfigError:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    dotted = _dotted(loc)
    if err["type"] == "extra_forbidden":
        message = f"unknown key {dotted!r}"
    elif err["type"] == "missing":
        message = f"missing required key {dotted!r}"
    elif err["type"] == "value_error":
        message = f"{dotted}: {str(err['msg']).removeprefix('Value error, ')}"
    else:
        message = f"{dotted}: {err['msg']}"
        if isinstance(err.get("input"), (str, int, float, bool)):
            message += f" (got {err['input']!r})"
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more error{'s' if more > 1 else ''})"
    return ConfigError(doc.file, doc.line_of(loc), message)


def load_config(path: str | Path, role: Literal["district", "city"] | None = None) -> Config:
    """Parse and cross-check config.yaml; raise ConfigError('config.yaml:LINE: …') on any problem.

    `role` (`run.py --mode`) overrides `federation.role` before the checks, so a city's are made as a city's."""
    path = Path(path)
    try:
        doc = load_located(path, path.name)
    except SourceError as exc:
        raise ConfigError(exc.file, exc.line, exc.message) from exc
    if not isinstance(doc.data, dict):
        raise ConfigError(doc.file, 1, "the top level must be a mapping of sections")
    if role is not None:
        if not isinstance(doc.data.get("federation"), dict):
            raise ConfigError(doc.file, 1, f"--mode {role} needs a federation section (docs/federation.md): "
                              "a district names its district_code, a city its districts")
        doc.data["federation"]["role"] = role
    try:
        cfg = Config.model_validate(doc.data)
    except ValidationError as exc:
        raise _format_validation(exc, doc) from None
    cfg._base_dir = path.resolve().parent  # before the checks: they open files named in the config
    try:
        _check_references(cfg, doc)
    except SourceError as exc:
        raise ConfigError(exc.file, exc.line, exc.message) from None
    return cfg


def resolve_path(cfg_path: str | Path, relative: str) -> Path:
    """Paths in config are relative to the config file's folder, so the checkout can move."""
    p = Path(relative)
    return p if p.is_absolute() else (Path(cfg_path).resolve().parent / p)
