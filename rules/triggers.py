"""Trigger words: which literal words a condition needs, so the engine skips rules a text cannot match."""

from __future__ import annotations

import re
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]

from rules.conditions import All, AnyOf, Keywords, Node, Regex, normalise


def _expand(seq, limit: int = 256) -> set[str] | None:
    """Every string a literal-only (sub)pattern can match, or None when it is not that simple."""
    out = {""}
    for op, av in seq:
        if op is sre_c.LITERAL:
            options = {chr(av)}
        elif op is sre_c.IN and all(o is sre_c.LITERAL for o, _ in av):
            options = {chr(v) for _, v in av}
        elif op is sre_c.SUBPATTERN:
            options = _expand(av[3], limit)
        elif op is sre_c.BRANCH:
            options = set()
            for alt in av[1]:
                sub = _expand(alt, limit)
                if sub is None:
                    return None
                options |= sub
        else:
            return None
        if options is None:
            return None
        out = {a + b for a in out for b in options}
        if len(out) > limit:
            return None
    return out


def regex_literals(pattern: str) -> frozenset[str] | None:
    """Literal alternatives one of which every match must contain, e.g. '(老人|大爷).{0,9}摔' → {老人, 大爷}."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return None
    if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
        return None
    items = list(parsed)
    if len(items) == 1 and items[0][0] is sre_c.BRANCH:
        whole = _expand(items)
        return frozenset(normalise(w) for w in whole) if whole and all(whole) else None
    best: set[str] | None = None
    run: list = []
    for item in items + [(None, None)]:
        if item[0] is not None and _expand([item]) is not None:
            run.append(item)
            continue
        words = _expand(run) if run else None
        if words and all(words) and (best is None or min(map(len, words)) > min(map(len, best))):
            best = words
        run = []
    return frozenset(normalise(w) for w in best) if best else None


def trigger_of(node: Node) -> frozenset[str] | None:
    """Words of which at least one must be in the text for `node` to hold (None: no such set)."""
    if isinstance(node, Keywords):
        if node.mode == "any":
            return node.words
        if node.mode == "all":
            return frozenset({min(node.words)})
        return None
    if isinstance(node, Regex):
        return regex_literals(node.pattern.pattern)
    if isinstance(node, All):
        found = [t for t in map(trigger_of, node.children) if t is not None]
        return min(found, key=len) if found else None
    if isinstance(node, AnyOf):
        parts = [trigger_of(child) for child in node.children]
        return frozenset().union(*parts) if parts and all(p is not None for p in parts) else None
    return None
