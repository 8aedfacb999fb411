"""Values for title and dedup-key templates, computed only for the placeholders a rule uses."""

from __future__ import annotations

from ops_center.core.domains import DOMAIN_NAMES
from ops_center.core.model import Event
from rules.compiled import CompiledRule


class Vars(dict):
    """Template values; a placeholder with no value renders empty rather than failing."""

    def __missing__(self, key: str) -> str:
        return ""


def _where(ev: Event, rule: CompiledRule, areas: dict[str, str]) -> str:
    return ev.address or areas.get(ev.area_code or "", "") or ev.device_id or ""


VALUE = {  # template placeholder -> value (names checked at load against compile.TEMPLATE_NAMES)
    "text": lambda ev, rule, areas: ev.text or "",
    "device_id": lambda ev, rule, areas: ev.device_id or "",
    "kind": lambda ev, rule, areas: ev.kind or "",
    "value": lambda ev, rule, areas: ev.value if ev.value is not None else "",
    "metric": lambda ev, rule, areas: ev.metric or "",
    "event": lambda ev, rule, areas: ev.event or "",
    "address": lambda ev, rule, areas: ev.address or "",
    "area_code": lambda ev, rule, areas: ev.area_code or "",
    "area_name": lambda ev, rule, areas: areas.get(ev.area_code or "", ""),
    "where": _where,
    "category": lambda ev, rule, areas: ev.category or "",
    "source": lambda ev, rule, areas: ev.source,
    "rule_id": lambda ev, rule, areas: rule.id,
    "severity": lambda ev, rule, areas: rule.severity,
    "domain_name": lambda ev, rule, areas: DOMAIN_NAMES.get(rule.domain, rule.domain),
    "fields": lambda ev, rule, areas: ev.fields,
    "reporter": lambda ev, rule, areas: ev.fields.get("reporter", ""),
}
