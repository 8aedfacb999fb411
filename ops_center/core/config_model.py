"""The whole config.yaml as one frozen model, with the lookups every layer asks of it."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import ConfigDict, PrivateAttr

from ops_center.core.config_federation import FederationConfig
from ops_center.core.config_infra import MqttConfig, SiteConfig, StoreConfig, WebConfig
from ops_center.core.config_operations import (
    AreaConfig,
    AreasConfig,
    CalendarConfig,
    DepartmentConfig,
    DomainConfig,
    EscalationConfig,
    ReportsConfig,
    RulesConfig,
    SlaConfig,
    SuppressionConfig,
    UserConfig,
    WorkOrdersConfig,
)
from ops_center.core.config_sources import (
    DevicesConfig,
    IngestConfig,
    Open311ServerConfig,
    SimulatorConfig,
    SourceConfig,
)
from ops_center.core.config_types import Strict
from ops_center.core.dispatch_catalogue import EPOCH, Catalogue, Entry, Version, known_units, load_seed


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
