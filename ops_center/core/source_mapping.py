"""A source's own category codes → domain, category, severity: read once from a YAML file, checked strictly.

Real feeds classify their own tickets (an Open311 `service_code`, a 12345 system's 分类 code, a
vendor's alarm type). A code listed in a source's map decides the incident before the text rules
run; a code that is not listed falls back to the text rules and is counted on the admin screen.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ops_center.core.domains import DOMAIN_CODES, UNCLASSIFIED
from ops_center.core.yamlsource import SourceError, load_located


class CategoryEntry(BaseModel):
    """What one source code means here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    domain: str
    category: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    severity: Literal["P1", "P2", "P3", "P4"] = "P3"
    name: str | None = None  # the source's own label, for the admin screen and titles


class CategoryMap(BaseModel):
    """A map file: `description`, `fields` (record fields holding the code, first present wins), `codes`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str | None = None
    fields: tuple[str, ...] = ("service_code", "service_name")
    codes: dict[str, CategoryEntry]

    def lookup(self, record: dict) -> tuple[str | None, CategoryEntry | None]:
        """(the source's code, its entry or None): the first configured field whose value is listed,
        else the first value present (unmapped, for the admin screen's count)."""
        first = None
        for name in self.fields:
            value = record.get(name)
            if value is None or value == "":
                continue
            code = str(value).strip()
            entry = self.codes.get(code)
            if entry is not None:
                return code, entry
            first = first or code
        return first, None


def check_entry(entry: CategoryEntry) -> str | None:
    """An error message for an entry naming an unknown domain, else None."""
    if entry.domain not in DOMAIN_CODES and entry.domain != UNCLASSIFIED:
        return f"unknown domain {entry.domain!r}; known: {', '.join(DOMAIN_CODES)}, {UNCLASSIFIED}"
    return None


@lru_cache(maxsize=32)
def load_category_map(path: str) -> CategoryMap:
    """Parse and check one map file (cached: every record of a source looks codes up in it)."""
    doc = load_located(Path(path), Path(path).name)
    try:
        cmap = CategoryMap.model_validate(doc.data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        raise doc.error(loc, f"{'.'.join(str(p) for p in loc)}: {err['msg']}") from None
    for code, entry in cmap.codes.items():
        problem = check_entry(entry)
        if problem:
            raise doc.error(("codes", code, "domain"), f"code {code!r}: {problem}")
    return cmap


__all__ = ["CategoryEntry", "CategoryMap", "SourceError", "check_entry", "load_category_map"]
