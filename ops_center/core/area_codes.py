"""Administrative area codes (SPEC §3): the level, parent and prefixes of a code come from its length, here only.

District 6 digits (成华区 510108), street +3, community +3, grid +3 (15 digits, GB/T 30428 unit grids);
the city is configured apart (`site.city.code`) and has no place in this scheme.
"""

from __future__ import annotations

import re

LEVEL_LENGTHS = {"district": 6, "street": 9, "community": 12, "grid": 15}
AREA_CODE = re.compile("|".join(rf"\d{{{n}}}" for n in LEVEL_LENGTHS.values()))
SHAPE = "6, 9, 12 or 15 digits (district/street/community/grid)"
_LEVEL_BY_LENGTH = {n: level for level, n in LEVEL_LENGTHS.items()}


def is_area_code(code: str) -> bool:
    return AREA_CODE.fullmatch(code) is not None


def level_of(code: str) -> str:
    """district / street / community / grid from the code's length; anything else is not an area code."""
    if not is_area_code(code):
        raise ValueError(f"not an area code: {code!r} (an area code is {SHAPE})")
    return _LEVEL_BY_LENGTH[len(code)]


def prefix(code: str, level: str) -> str | None:
    """The area at `level` that `code` lies in (itself at its own level); None when `code` is above `level`."""
    n = LEVEL_LENGTHS[level]
    return code[:n] if len(code) >= n else None


def parent_of(code: str) -> str | None:
    """The area one level up; None for a district (its parent is the configured city)."""
    level_of(code)
    shorter = [n for n in LEVEL_LENGTHS.values() if n < len(code)]
    return code[:shorter[-1]] if shorter else None


def ancestors(code: str) -> list[str]:
    """Codes above `code`, top down: a grid gives [district, street, community]."""
    level_of(code)
    return [code[:n] for n in LEVEL_LENGTHS.values() if n < len(code)]


def street_of(code: str) -> str | None:
    """The street an area lies in (itself for a street); None for a district."""
    return prefix(code, "street")


def district_of(code: str) -> str:
    return code[:LEVEL_LENGTHS["district"]]


def sql_prefix(column: str, level: str) -> str:
    """SQL for the `level` area a code column lies in, NULL when the code is above it (constants only)."""
    n = LEVEL_LENGTHS[level]
    return f"CASE WHEN length({column}) >= {n} THEN left({column}, {n}) END"
