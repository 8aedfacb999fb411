"""Every config key is documented in docs/config.md, and the docs name no key that does not exist."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from ops_center.core.config import Config

DOC = Path(__file__).resolve().parent.parent / "docs" / "config.md"
ROW = re.compile(r"^\|\s*`([a-z_][a-z0-9_.\[\]]*)`\s*\|")


def _model_in(tp: object) -> tuple[type[BaseModel], bool] | None:
    """The pydantic model an annotation holds, and whether it is a list of them."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp, False
    origin = typing.get_origin(tp)
    for arg in typing.get_args(tp):
        found = _model_in(arg)
        if found:
            many = found[1] or origin in (tuple, list, set, frozenset)
            return found[0], many
    return None


def field_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        yield path
        found = _model_in(field.annotation)
        if found:
            sub, many = found
            yield from field_paths(sub, f"{path}{'[]' if many else ''}.")


def documented() -> set[str]:
    """First-column keys of every table whose header starts with `| key |`."""
    keys: set[str] = set()
    in_key_table = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            in_key_table = False
        elif re.match(r"^\|\s*key\s*\|", line):
            in_key_table = True
        elif in_key_table and (m := ROW.match(line)):
            keys.add(m.group(1))
    return keys


def test_walker_sees_nested_and_list_fields():
    paths = set(field_paths(Config))
    assert {"mqtt.tls.ca_file", "sla.table[].acknowledge", "areas.items[].centroid", "site.city.code"} <= paths
    assert len(paths) > 90


def test_every_config_key_is_documented():
    missing = [p for p in field_paths(Config) if p not in documented()]
    assert not missing, f"docs/config.md has no table row for: {', '.join(missing)}"


def test_docs_name_only_real_keys():
    real = set(field_paths(Config))
    stale = sorted(documented() - real)
    assert not stale, f"docs/config.md documents keys the models do not have: {', '.join(stale)}"


def test_shipped_config_uses_only_documented_sections():
    text = (DOC.parent.parent / "config.yaml").read_text(encoding="utf-8")
    sections = set(re.findall(r"^([a-z_]+):", text, re.MULTILINE))
    assert sections, "config.yaml has no sections?"
    assert sections <= documented()
