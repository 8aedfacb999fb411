"""The tree the screens drill (SPEC §3): a district center starts at its district, a city center at the city.

A city center (`federation.role: city`) is 市 → 区 → 街道 → 社区 → 网格: its configured areas are the union of
its districts' areas and `site.city` is the root above them. The city's code is six digits like a district's,
so the level of a code is asked here, never of `area_codes.level_of` alone.
"""

from __future__ import annotations

from ops_center.core import area_codes
from ops_center.core.config import Config

CHILD_LEVEL = {"city": "district", "district": "street", "street": "community", "community": "grid"}


def is_city_center(cfg: Config) -> bool:
    return cfg.federation is not None and cfg.federation.role == "city"


def root(cfg: Config) -> str:
    """Where the wall and the drill-down start: the city for a city center, else the site's district."""
    return cfg.site.city.code if is_city_center(cfg) else cfg.site.default_area


def is_root_city(cfg: Config, code: str | None) -> bool:
    return is_city_center(cfg) and code == cfg.site.city.code


def known(cfg: Config, code: str | None) -> bool:
    return bool(code) and (code in cfg.area_by_code or is_root_city(cfg, code))


def level(cfg: Config, code: str) -> str:
    return "city" if is_root_city(cfg, code) else area_codes.level_of(code)


def name(cfg: Config, code: str) -> str:
    if is_root_city(cfg, code):
        return cfg.site.city.name
    area = cfg.area_by_code.get(code)
    return area.name if area else code


def within(cfg: Config, code: str, top: str) -> bool:
    """Whether area `code` is `top` or lies under it (everything lies under a city center's root)."""
    return is_root_city(cfg, top) or code.startswith(top)


def trail(cfg: Config, code: str) -> list[str]:
    """Codes from the root down to `code`: the city first at a city center."""
    codes = [*area_codes.ancestors(code), code] if not is_root_city(cfg, code) else [code]
    return ([cfg.site.city.code] if is_city_center(cfg) and codes[0] != cfg.site.city.code else []) + codes


def kpi_area(cfg: Config, code: str | None) -> str | None:
    """The area argument of the KPI module: the city root is every stored incident (None), an area its prefix."""
    return None if code is None or is_root_city(cfg, code) else code


def roll_up(load: dict[str, int], to_level: str) -> dict[str, int]:
    """Counts by a finer area code summed to `to_level` (street load to districts); finer codes above it dropped."""
    out: dict[str, int] = {}
    for code, n in load.items():
        at = area_codes.prefix(code, to_level) if to_level in area_codes.LEVEL_LENGTHS else None
        if at is not None:
            out[at] = out.get(at, 0) + n
    return out
