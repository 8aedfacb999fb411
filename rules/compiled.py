"""Compiled rule shapes shared by the compiler, the engine and explain."""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rules import conditions as c


class Template:
    """A str.format template checked at load; rendering never raises (bad values fall back)."""

    __slots__ = ("source", "plain", "names")

    def __init__(self, source: str):
        self.source = source
        parts = list(string.Formatter().parse(source))
        self.plain = "".join(lit + (f"{{{name}}}" if name is not None else "") for lit, name, _, _ in parts)
        self.names = tuple(dict.fromkeys(
            name.replace("[", ".").split(".", 1)[0] for _, name, _, _ in parts if name is not None))

    def render(self, values: dict[str, Any]) -> str:
        try:
            return self.source.format_map(values)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            try:
                return self.plain.format_map(values)
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                return self.source


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready to evaluate: conditions compiled, route resolved, templates checked."""

    id: str
    file: str
    line: int | None
    description: str | None
    sources: frozenset | None
    kinds: frozenset | None
    scope: c.All
    cond: c.All
    test: c.All
    fast: c.All  # `test` minus the source/kind checks the (source, kind) index already made
    scope_fast: c.All
    trigger: frozenset | None  # one of these words must be in the text, else the rule cannot hold
    names: tuple[str, ...]  # template placeholders the decision needs
    for_: timedelta | None
    domain: str
    category: str
    severity: str
    level: str
    department: str | None
    title: Template | None
    dedup_key: Template | None
    dedup_window: timedelta | None
    cont: bool
    clears: bool
    keywords: frozenset
    clear: Any = None  # compiled `clear_when` (hysteresis), or None: any reading out of the condition clears
    auto_resolve: bool = False


@dataclass(frozen=True, slots=True)
class CompiledAmplify:
    """A cross-domain rule: raises severity of matching decisions and notifies more domains."""

    id: str
    file: str
    line: int | None
    description: str | None
    test: c.All
    domains: frozenset
    categories: frozenset
    severity: str
    notify: tuple[str, ...]
    keywords: frozenset
