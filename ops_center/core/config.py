"""config.yaml parsed once, strictly, into frozen models; errors point at config.yaml:LINE."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from ops_center.core.config_checks import check_references
from ops_center.core.config_federation import FederatedDistrict, FederationConfig
from ops_center.core.config_infra import (
    BackupConfig,
    CityConfig,
    LoginLimitConfig,
    MqttConfig,
    RetentionConfig,
    SiteConfig,
    StoreConfig,
    TlsConfig,
    WebConfig,
)
from ops_center.core.config_model import Config
from ops_center.core.config_operations import (
    AreaConfig,
    AreasConfig,
    CalendarConfig,
    CorrelationConfig,
    DepartmentConfig,
    DomainConfig,
    EscalationConfig,
    ReportsConfig,
    ReportSubscription,
    RoadConfig,
    RulesConfig,
    SlaConfig,
    SlaRule,
    SuppressionConfig,
    TextModelConfig,
    UserConfig,
    WorkOrdersConfig,
)
from ops_center.core.config_sources import (
    GEOREPORT_FIELDS,
    DevicesConfig,
    IngestConfig,
    Open311ClientConfig,
    Open311ServerConfig,
    SimulatorConfig,
    SourceConfig,
    SourceMapping,
)
from ops_center.core.config_types import Day, Duration, Hours, Instant, Level, Role, Severity, Strict, parse_duration
from ops_center.core.yamlsource import LocatedDocument, SourceError, load_located

# The models live in config_*.py by section; callers keep importing them from here.
__all__ = [
    "GEOREPORT_FIELDS", "AreaConfig", "AreasConfig", "BackupConfig", "CalendarConfig", "CityConfig", "Config",
    "ConfigError", "CorrelationConfig", "Day", "DepartmentConfig", "DevicesConfig", "DomainConfig", "Duration",
    "EscalationConfig", "FederatedDistrict", "FederationConfig", "Hours", "IngestConfig", "Instant", "Level",
    "LoginLimitConfig", "MqttConfig", "Open311ClientConfig", "Open311ServerConfig", "ReportSubscription",
    "ReportsConfig", "RetentionConfig", "Role", "RoadConfig", "RulesConfig", "Severity", "SimulatorConfig",
    "SiteConfig", "SlaConfig", "SlaRule", "SourceConfig", "SourceMapping", "StoreConfig", "Strict",
    "SuppressionConfig", "TextModelConfig", "TlsConfig", "UserConfig", "WebConfig", "WorkOrdersConfig",
    "load_config", "parse_duration", "resolve_path",
]


class ConfigError(SourceError):
    """Configuration is invalid; the message is `config.yaml:LINE: what is wrong`."""


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
        check_references(cfg, doc)
    except SourceError as exc:
        raise ConfigError(exc.file, exc.line, exc.message) from None
    return cfg


def resolve_path(cfg_path: str | Path, relative: str) -> Path:
    """Paths in config are relative to the config file's folder, so the checkout can move."""
    p = Path(relative)
    return p if p.is_absolute() else (Path(cfg_path).resolve().parent / p)
