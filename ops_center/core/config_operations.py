"""Config sections for how the center works: rules, areas, domains, SLA, calendar, users, reports, silences."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from ops_center.core import area_codes
from ops_center.core.config_types import Day, Duration, Hours, Instant, Level, Role, Severity, Strict


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
