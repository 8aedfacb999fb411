"""pyproject.toml declares what requirements*.txt pin: the same packages, each pin inside its declared range."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def pins(name: str) -> dict[str, str]:
    """package -> pinned version of one requirements file (its own lines; `-r` includes are read separately)."""
    out = {}
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-r"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", line)
        assert match, f"{name}: not an exact pin: {line!r}"
        out[canonicalize_name(match[1])] = match[2]
    return out


def declared(items: list[str]) -> dict[str, Requirement]:
    return {canonicalize_name(r.name): r for r in map(Requirement, items)}


RUNTIME, DEV = pins("requirements.txt"), pins("requirements-dev.txt")
GROUPS = [("dependencies", PROJECT["dependencies"], RUNTIME),
          ("dev", PROJECT["optional-dependencies"]["dev"], DEV)]


@pytest.mark.parametrize(("group", "items", "pinned"), GROUPS, ids=[g[0] for g in GROUPS])
def test_every_pin_is_declared_and_inside_its_range(group, items, pinned):
    wanted = declared(items)
    assert set(wanted) == set(pinned), f"{group}: declared but not pinned / pinned but not declared"
    outside = {name: version for name, version in pinned.items() if version not in wanted[name].specifier}
    assert not outside, f"{group}: pins outside the declared range: {outside}"


def test_test_only_and_screenshot_tools_stay_out_of_the_runtime():
    runtime = declared(PROJECT["dependencies"])
    assert "openpyxl" not in runtime and "selenium" not in runtime and "openpyxl" not in RUNTIME
    shots = declared(PROJECT["optional-dependencies"]["screenshots"])
    assert set(shots) == {"selenium"} and DEV["selenium"] in shots["selenium"].specifier


def test_the_type_checker_runs_in_ci():
    ci = (ROOT / ".ci" / "test").read_text(encoding="utf-8")
    assert ci.index("ruff check") < ci.index("mypy") < ci.index("pytest")
    assert "mypy" in DEV
