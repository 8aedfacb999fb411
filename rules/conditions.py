"""Compiled condition nodes: parsed once at load, then each test is a few attribute reads."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from ops_center.core.model import Event
from rules.keyword_scan import KeywordScanner

ATTRS = ("source", "kind", "event", "metric", "category", "device_id")
_SPACES = re.compile(r"[\s\u3000]+")


def normalise(text: str) -> str:
    """Lower-case and drop spaces so '消防 通道' and 'KTV' match '消防通道' and 'ktv'."""
    return _SPACES.sub("", text).lower()


class Ctx:
    """Per-event values computed at most once and shared by every rule that needs them."""

    __slots__ = ("ev", "_text", "_present", "_minute", "_scanner", "_tz")

    def __init__(self, ev: Event, scanner: KeywordScanner, tz: ZoneInfo):
        self.ev = ev
        self._text: str | None = None
        self._present: frozenset[str] | None = None
        self._minute: int | None = None
        self._scanner = scanner
        self._tz = tz

    @property
    def text(self) -> str:
        if self._text is None:
            ev = self.ev
            raw = ev.text or ""
            if ev.category:
                raw = f"{raw}｜{ev.category}"
            self._text = normalise(raw)
        return self._text

    @property
    def present(self) -> frozenset[str]:
        """Every rule keyword found in the text, in one automaton pass (no per-rule scans)."""
        if self._present is None:
            self._present = self._scanner.found(self.text)
        return self._present

    @property
    def minute(self) -> int:
        if self._minute is None:
            local = self.ev.occurred_at.astimezone(self._tz)
            self._minute = local.hour * 60 + local.minute
        return self._minute


class Node:
    """A condition; `why` says in words what it needs and what the event had."""

    __slots__ = ()

    def test(self, ev: Event, ctx: Ctx) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def why(self, ev: Event, ctx: Ctx) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def explain(self, ev: Event, ctx: Ctx) -> tuple[bool, str]:
        ok = self.test(ev, ctx)
        return ok, self.why(ev, ctx)


class AttrIn(Node):
    __slots__ = ("attr", "values")

    def __init__(self, attr: str, values: frozenset):
        self.attr, self.values = attr, values

    def test(self, ev, ctx):
        return getattr(ev, self.attr) in self.values

    def why(self, ev, ctx):
        return f"{self.attr} is {getattr(ev, self.attr)!r}, rule wants {sorted(map(str, self.values))}"


class FieldEq(Node):
    __slots__ = ("name", "value")

    def __init__(self, name: str, value: object):
        self.name, self.value = name, value

    def test(self, ev, ctx):
        return ev.fields.get(self.name) == self.value

    def why(self, ev, ctx):
        return f"fields.{self.name} is {ev.fields.get(self.name)!r}, rule wants {self.value!r}"


class Numeric(Node):
    __slots__ = ("label", "field", "op", "a", "b")

    def __init__(self, label: str, field: str | None, op: str, a: float, b: float | None = None):
        self.label, self.field, self.op, self.a, self.b = label, field, op, a, b

    def _get(self, ev: Event) -> object:
        return ev.value if self.field is None else ev.fields.get(self.field)

    def test(self, ev, ctx):
        v = self._get(ev)
        if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        op, a = self.op, self.a
        if op == "gte":
            return v >= a
        if op == "gt":
            return v > a
        if op == "lt":
            return v < a
        if op == "lte":
            return v <= a
        if op == "eq":
            return v == a
        if op == "ne":
            return v != a
        return a <= v <= self.b  # between, inclusive

    def why(self, ev, ctx):
        want = f"between {self.a:g} and {self.b:g}" if self.op == "between" else f"{self.op} {self.a:g}"
        return f"{self.label} is {self._get(ev)!r}, rule wants {want}"


class Keywords(Node):
    __slots__ = ("mode", "words")

    def __init__(self, mode: str, words: frozenset[str]):
        self.mode, self.words = mode, words

    def test(self, ev, ctx):
        if self.mode == "any":
            return not self.words.isdisjoint(ctx.present)
        if self.mode == "all":
            return self.words <= ctx.present
        return self.words.isdisjoint(ctx.present)

    def why(self, ev, ctx):
        hits = sorted(self.words & ctx.present)
        if self.mode == "any":
            return f"keywords.any: found {hits}" if hits else f"keywords.any: none of {sorted(self.words)[:8]} in text"
        if self.mode == "all":
            return f"keywords.all: missing {sorted(self.words - ctx.present)}" if not self.test(ev, ctx) else "keywords.all: all found"
        return f"keywords.none: found excluded {hits}" if hits else "keywords.none: no excluded word"


class Regex(Node):
    __slots__ = ("pattern",)

    def __init__(self, pattern: re.Pattern):
        self.pattern = pattern

    def test(self, ev, ctx):
        return self.pattern.search(ctx.text) is not None

    def why(self, ev, ctx):
        m = self.pattern.search(ctx.text)
        return f"regex {self.pattern.pattern!r} matched {m.group(0)!r}" if m else f"regex {self.pattern.pattern!r} did not match"


class AreaPrefix(Node):
    __slots__ = ("prefixes",)

    def __init__(self, prefixes: tuple[str, ...]):
        self.prefixes = prefixes

    def test(self, ev, ctx):
        return (ev.area_code or "").startswith(self.prefixes)

    def why(self, ev, ctx):
        return f"area_code is {ev.area_code!r}, rule wants within {list(self.prefixes)}"


class TimeOfDay(Node):
    __slots__ = ("start", "end", "label")

    def __init__(self, start: int, end: int, label: str):
        self.start, self.end, self.label = start, end, label

    def test(self, ev, ctx):
        m = ctx.minute
        if self.start <= self.end:
            return self.start <= m < self.end
        return m >= self.start or m < self.end  # wraps midnight, e.g. 22:00-06:00

    def why(self, ev, ctx):
        local = f"{ctx.minute // 60:02d}:{ctx.minute % 60:02d}"
        return f"local time {local}, rule wants {self.label}"


class All(Node):
    __slots__ = ("children", "fast")

    def __init__(self, children: tuple[Node, ...]):
        self.children = children
        # Cheap attribute tests first, text and time later: the same answer, fewer steps.
        order = {AttrIn: 0, FieldEq: 1, Numeric: 1, AreaPrefix: 1, Keywords: 2, TimeOfDay: 3}
        self.fast = tuple(sorted(children, key=lambda n: order.get(type(n), 4)))

    def test(self, ev, ctx):
        for child in self.fast:
            if not child.test(ev, ctx):
                return False
        return True

    def explain(self, ev, ctx):
        for child in self.children:
            ok, reason = child.explain(ev, ctx)
            if not ok:
                return False, reason
        return True, "; ".join(c.explain(ev, ctx)[1] for c in self.children) or "no conditions"

    def why(self, ev, ctx):
        return self.explain(ev, ctx)[1]


class AnyOf(Node):
    __slots__ = ("children",)

    def __init__(self, children: tuple[Node, ...]):
        self.children = children

    def test(self, ev, ctx):
        for child in self.children:
            if child.test(ev, ctx):
                return True
        return False

    def explain(self, ev, ctx):
        reasons = []
        for child in self.children:
            ok, reason = child.explain(ev, ctx)
            if ok:
                return True, f"any: {reason}"
            reasons.append(reason)
        return False, "any: none held (" + " | ".join(reasons) + ")"

    def why(self, ev, ctx):
        return self.explain(ev, ctx)[1]


class Not(Node):
    __slots__ = ("child",)

    def __init__(self, child: Node):
        self.child = child

    def test(self, ev, ctx):
        return not self.child.test(ev, ctx)

    def explain(self, ev, ctx):
        ok, reason = self.child.explain(ev, ctx)
        return (not ok), f"not ({reason})"

    def why(self, ev, ctx):
        return self.explain(ev, ctx)[1]
