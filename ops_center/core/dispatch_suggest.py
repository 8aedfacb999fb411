"""Pre-filling dispatch from the 派单目录 in force when the case was created, and the 基层减负 guard.

The dispatch form (console, and the lead + co-unit form of issue 15) calls `suggest_dispatch` to pre-select
the lead unit, co-units and level, and `guard_warning` with the unit the officer chose: a case whose
catalogue row names a functional department, sent to a community or grid unit instead, needs the officer's
confirmation (基层减负: functional departments' work is not pushed down to 社区 and 网格).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ops_center.core import area_codes
from ops_center.core.category_names import category_name
from ops_center.core.dispatch_catalogue import (
    OWN_COMMUNITY,
    OWN_STREET,
    Catalogue,
    Entry,
    is_functional,
    is_grassroots,
    unit_name,
)
from ops_center.core.domains import DOMAIN_CODES, DOMAIN_NAMES


@dataclass(frozen=True)
class Suggestion:
    """What the catalogue in force at the case's creation says; `lead_unit` is a concrete unit code."""

    lead_unit: str | None
    co_units: tuple[str, ...]
    level: str | None
    version: int | None
    entry: Entry | None
    warnings: tuple[str, ...] = ()


def _aware(value: Any) -> datetime:
    """created_at as an aware UTC datetime (the store hands back naive UTC, pandas a Timestamp)."""
    dt = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    if not isinstance(dt, datetime):
        raise ValueError(f"created_at must be a datetime, got {value!r}")
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def area_level(area_code: str | None) -> str:
    """The incident's own area level (grid/community/street/district); `district` when it has no code."""
    return area_codes.level_of(area_code) if area_code and area_codes.is_area_code(area_code) else "district"


def resolve_unit(code: str, area_code: str | None) -> tuple[str | None, str | None]:
    """`@community` / `@street` → the unit of the incident's own community / street; (unit, warning)."""
    if code not in (OWN_COMMUNITY, OWN_STREET):
        return code, None
    code_at = (lambda level: area_codes.prefix(area_code, level)) if area_code and area_codes.is_area_code(area_code) \
        else (lambda level: None)
    if code == OWN_COMMUNITY:
        community = code_at("community")
        if community:
            return f"community:{community}", None
        street = code_at("street")
        if street:
            return f"street:{street}", "事件未定位到社区，按派单目录改由所在街道办主办"
        return None, "事件未定位到社区或街道，请手动选择主办单位"
    street = code_at("street")
    if street:
        return f"street:{street}", None
    return None, "事件未定位到街道，请手动选择主办单位"


def suggest_dispatch(catalogue: Catalogue, incident: Mapping[str, Any]) -> Suggestion:
    """Lead unit, co-units, level and warnings for one incident, by the catalogue in force at its created_at."""
    domain, category = incident.get("domain"), incident.get("category") or None
    if domain not in DOMAIN_CODES:
        return Suggestion(None, (), None, None, None, ("待分类事件：请先确定领域，再按派单目录派遣",))
    created = _aware(incident["created_at"])
    found = catalogue.lookup(domain, category, area_level(incident.get("area_code")), created)
    if found is None:
        return Suggestion(None, (), None, None, None,
                          (f"派单目录（事件创建时生效的版本）没有「{DOMAIN_NAMES[domain]}」的条目，请手动选择",))
    version, entry = found
    warnings: list[str] = []
    lead, warning = resolve_unit(entry.lead, incident.get("area_code"))
    if warning:
        warnings.append(warning)
    co_units = []
    for code in entry.co_units:
        unit, warning = resolve_unit(code, incident.get("area_code"))
        if unit and unit != lead:
            co_units.append(unit)
        elif warning:
            warnings.append(f"协办{warning}")
    return Suggestion(lead, tuple(dict.fromkeys(co_units)), entry.level, version.version, entry, tuple(warnings))


def guard_warning(catalogue: Catalogue, incident: Mapping[str, Any], lead_unit: str | None,
                  units: Mapping[str, str]) -> str | None:
    """The 基层减负 warning when a functional department's case (by the catalogue) goes to a community/grid unit."""
    if not lead_unit or not is_grassroots(lead_unit, catalogue.grassroots):
        return None
    suggestion = suggest_dispatch(catalogue, incident)
    if suggestion.entry is None or not is_functional(suggestion.lead_unit, units, catalogue.grassroots):
        return None
    what = category_name(incident.get("category")) or DOMAIN_NAMES.get(incident.get("domain") or "", "")
    return (f"基层减负提醒：「{what}」按派单目录（第 {suggestion.version} 版）由职能部门"
            f"{unit_name(units, suggestion.lead_unit)}主办，现派往{unit_name(units, lead_unit)}。"
            "职能部门的事项不应转嫁给社区、网格；确需派往基层请确认。")
