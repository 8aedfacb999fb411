"""派单目录: which unit a case goes to, by (domain, category, area level), in versions with an effective date.

A case is judged by the version in force at its `created_at`, so publishing a new table never changes
who an older case should have gone to. Version 0 is the shipped table (config/dispatch_catalogue.yaml);
admins publish later versions through ops_center.service.catalogue, stored in the database.

Lookup, most specific first: the category's row for the incident's area level, the category's row for
any level (`*`), the domain's default row (no category) for the level, the domain's default for any level.
A lead unit is a unit code (a department code, `community:<code>`, `street:<code>`) or `@community` /
`@street`: the unit of the incident's own community / street.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops_center.core.category_names import CATEGORY_NAMES
from ops_center.core.domains import DOMAIN_CODES, DOMAIN_NAMES, LEVEL_NAMES, LEVELS
from ops_center.core.units import units
from ops_center.core.yamlsource import SourceError, load_located

OWN_COMMUNITY = "@community"
OWN_STREET = "@street"
ANY_LEVEL = "*"
AREA_LEVELS = ("grid", "community", "street", "district")  # the incident's own area level
RELATIVE_UNITS = {OWN_COMMUNITY: "事发社区居委会", OWN_STREET: "事发街道办"}
# Category codes that are not incidents of a domain: never catalogue rows.
NOT_DISPATCHED = frozenset({"feed_silent", "unclassified", "billing_inquiry", "social_insurance_inquiry",
                            "labour_dispute", "licensing_inquiry", "insurance_claim"})
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CatalogueError(ValueError):
    """A catalogue table that cannot be published or loaded; the message is Chinese, for the admin."""


@dataclass(frozen=True)
class Entry:
    """One row: (domain, category or the domain default, area level) → lead unit, co-units, dispatch level."""

    domain: str
    category: str | None
    area_level: str
    lead: str
    co_units: tuple[str, ...] = ()
    level: str = "street"

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.domain, self.category, self.area_level)

    def as_row(self) -> dict[str, str]:
        """The editor's row: plain strings, co-units comma-separated."""
        return {"domain": self.domain, "category": self.category or "", "area_level": self.area_level,
                "lead": self.lead, "co_units": ",".join(self.co_units), "level": self.level}


@dataclass(frozen=True)
class Version:
    """One published table; in force from `effective_from` until a later version's effective date."""

    version: int
    effective_from: datetime
    entries: tuple[Entry, ...]
    published_by: str = "config"
    published_at: datetime | None = None
    note: str = ""

    def entry_for(self, domain: str, category: str | None, area_level: str) -> Entry | None:
        by_key = {e.key: e for e in self.entries}
        keys = [(domain, category, area_level), (domain, category, ANY_LEVEL)] if category else []
        for key in (*keys, (domain, None, area_level), (domain, None, ANY_LEVEL)):
            if key in by_key:
                return by_key[key]
        return None


@dataclass(frozen=True)
class Catalogue:
    """Every version, and which one was in force at an instant."""

    versions: tuple[Version, ...]
    grassroots: frozenset[str] = field(default_factory=frozenset)  # department codes that are 基层, not functional

    def in_force(self, at: datetime) -> Version | None:
        """The version with the latest effective date not after `at` (the later-published one on a tie)."""
        live = [v for v in self.versions if v.effective_from <= at]
        return max(live, key=lambda v: (v.effective_from, v.version), default=None)

    def latest(self) -> Version:
        return max(self.versions, key=lambda v: v.version)

    def version(self, number: int) -> Version | None:
        return next((v for v in self.versions if v.version == number), None)

    def previous(self, number: int) -> Version | None:
        """The version published just before `number` (what its diff is taken against)."""
        older = [v for v in self.versions if v.version < number]
        return max(older, key=lambda v: v.version, default=None)

    def lookup(self, domain: str, category: str | None, area_level: str, at: datetime) -> tuple[Version, Entry] | None:
        version = self.in_force(at)
        if version is None:
            return None
        entry = version.entry_for(domain, category, area_level)
        return (version, entry) if entry is not None else None

    def with_version(self, version: Version) -> Catalogue:
        return Catalogue((*self.versions, version), self.grassroots)


# --- units ---------------------------------------------------------------------------------


def known_units(cfg: Any) -> dict[str, str]:
    """Unit code → name for every responsible unit of the site (ops_center.core.units, issue 15's contract)."""
    return {code: unit.name for code, unit in units(cfg).items()}


def unit_name(units: Mapping[str, str], code: str | None) -> str:
    if not code:
        return "—"
    return RELATIVE_UNITS.get(code) or units.get(code, code)


def is_grassroots(code: str | None, grassroots: Iterable[str] = ()) -> bool:
    """A community, grid or 基层 department unit (the level 基层减负 protects)."""
    if not code:
        return False
    return code.startswith(("community:", "grid:")) or code == OWN_COMMUNITY or code in set(grassroots)


def is_functional(code: str | None, units: Mapping[str, str], grassroots: Iterable[str] = ()) -> bool:
    """A functional department (职能部门): a configured department that is not a 基层 unit."""
    if not code or ":" in code or code.startswith("@"):
        return False
    return code in units and not is_grassroots(code, grassroots)


# --- parsing and validation -------------------------------------------------------------------


def _text(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    return "" if value is None else str(value).strip()


def _co_units(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, (list, tuple)) else str(value).replace("，", ",").split(",")
    return tuple(s for s in (str(i).strip() for i in items) if s)


def parse_rows(rows: Sequence[Mapping[str, Any]], units: Mapping[str, str],
               categories: Iterable[str] | None = None) -> tuple[Entry, ...]:
    """Rows (from YAML or the editor) → entries; every problem is a CatalogueError naming the row (1-based)."""
    if not rows:
        raise CatalogueError("派单目录不能为空：至少需要一行")
    known_categories = set(categories if categories is not None else CATEGORY_NAMES) - NOT_DISPATCHED
    entries: list[Entry] = []
    seen: dict[tuple, int] = {}
    for n, row in enumerate(rows, start=1):
        where = f"第 {n} 行"
        if not isinstance(row, Mapping):
            raise CatalogueError(f"{where}：格式错误，应为键值对")
        unknown_keys = set(row) - {"domain", "category", "area_level", "lead", "co_units", "level"}
        if unknown_keys:
            raise CatalogueError(f"{where}：未知字段 {'、'.join(sorted(map(str, unknown_keys)))}")
        domain, category = _text(row, "domain"), _text(row, "category") or None
        area_level, lead = _text(row, "area_level") or ANY_LEVEL, _text(row, "lead")
        level = _text(row, "level")
        if domain not in DOMAIN_CODES:
            raise CatalogueError(f"{where}：未知领域 {domain or '（空）'}，可选：{'、'.join(DOMAIN_CODES)}")
        if category is not None and category not in known_categories:
            raise CatalogueError(f"{where}：未知类别 {category}（类别须为规则分配的类别代码，留空表示该领域默认）")
        if area_level not in (ANY_LEVEL, *AREA_LEVELS):
            raise CatalogueError(f"{where}：未知事发区域层级 {area_level}，可选：* 或 {'、'.join(AREA_LEVELS)}")
        if not lead:
            raise CatalogueError(f"{where}：请填写主办单位")
        for unit in (lead, *_co_units(row.get("co_units"))):
            if unit not in units and unit not in RELATIVE_UNITS:
                raise CatalogueError(f"{where}：未知单位 {unit}（单位须为部门代码、community:<社区编码>、"
                                     f"street:<街道编码>、@community 或 @street）")
        co_units = _co_units(row.get("co_units"))
        if lead in co_units:
            raise CatalogueError(f"{where}：主办单位 {unit_name(units, lead)} 不能同时是协办单位")
        if len(set(co_units)) != len(co_units):
            raise CatalogueError(f"{where}：协办单位重复")
        if level not in LEVELS:
            raise CatalogueError(f"{where}：未知派遣层级 {level or '（空）'}，可选：{'、'.join(LEVELS)}")
        entry = Entry(domain, category, area_level, lead, co_units, level)
        if entry.key in seen:
            raise CatalogueError(f"{where}：与第 {seen[entry.key]} 行重复（同一领域、类别和区域层级只能有一行）")
        seen[entry.key] = n
        entries.append(entry)
    return tuple(entries)


def entry_label(key: tuple[str, str | None, str]) -> str:
    """'城市管理 / 井盖移位 / 任意层级' for diffs and audit entries."""
    domain, category, area_level = key
    level = "任意层级" if area_level == ANY_LEVEL else LEVEL_NAMES.get(area_level, area_level)
    return f"{DOMAIN_NAMES.get(domain, domain)} / {CATEGORY_NAMES.get(category, category) if category else '领域默认'} / {level}"


@dataclass(frozen=True)
class Change:
    """One row's difference between two versions."""

    kind: str  # added | removed | changed
    key: tuple[str, str | None, str]
    before: Entry | None
    after: Entry | None


def diff(old: Iterable[Entry], new: Iterable[Entry]) -> list[Change]:
    """Rows added, removed and changed from `old` to `new`, in the new table's order then the removed ones."""
    before = {e.key: e for e in old}
    after = {e.key: e for e in new}
    out = [Change("added" if k not in before else "changed", k, before.get(k), e)
           for k, e in after.items() if before.get(k) != e]
    out += [Change("removed", k, e, None) for k, e in before.items() if k not in after]
    return out


def apply_changes(base: Iterable[Entry], upserts: Iterable[Entry], removals: Iterable[tuple] = ()) -> tuple[Entry, ...]:
    """A whole table from a base and changed rows: publishing only what changed keeps the rest."""
    table = {e.key: e for e in base}
    for key in removals:
        table.pop(tuple(key), None)
    for entry in upserts:
        table[entry.key] = entry
    return tuple(table.values())


# --- the shipped table ----------------------------------------------------------------------


def load_seed(path: str | Path, units: Mapping[str, str], display_name: str | None = None) -> Catalogue:
    """The shipped table as version 0 (in force since ever); errors as `file:LINE: message`."""
    name = display_name or Path(path).name
    doc = load_located(path, name)
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise SourceError(name, 1, "expected a mapping with `entries:` (a list of rows) and optional `grassroots:`")
    extra = set(data) - {"entries", "grassroots"}
    if extra:
        raise doc.error((sorted(extra)[0],), f"unknown key {sorted(extra)[0]!r}")
    grassroots = data.get("grassroots") or []
    for i, code in enumerate(grassroots):
        if code not in units:
            raise doc.error(("grassroots", i), f"grassroots names unknown department {code!r}")
    rows = data["entries"]
    for i in range(len(rows)):
        try:
            parse_rows([rows[i]], units)
        except CatalogueError as exc:
            raise doc.error(("entries", i), str(exc).removeprefix("第 1 行：")) from None
    try:
        entries = parse_rows(rows, units)
    except CatalogueError as exc:  # a table-wide problem (a duplicate row): point at the row it names
        row = re.match(r"第 (\d+) 行：", str(exc))
        raise doc.error(("entries", int(row.group(1)) - 1) if row else ("entries",), str(exc)) from None
    return Catalogue((Version(0, EPOCH, entries, "config", None, "随配置发布的默认派单目录"),), frozenset(grassroots))
