"""Turn one located rule file into compiled rules; every mistake is a RuleError with file:line."""

from __future__ import annotations

import re
import string
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from ops_center.core.area_codes import level_of
from ops_center.core.config import Config
from ops_center.core.devices import DEVICE_KINDS
from ops_center.core.domains import DOMAIN_CODES, SOURCE_KINDS, UNCLASSIFIED
from ops_center.core.yamlsource import LocatedDocument
from rules import conditions as c
from rules.compiled import CompiledAmplify, CompiledRule, Template
from rules.schema import (
    CONDITION_KEYS,
    FILE_KEYS,
    KEYWORD_KEYS,
    NUMERIC_OPS,
    RawAmplify,
    RawRule,
    RuleError,
    suggest,
    validation_message,
)
from rules.triggers import trigger_of

# Kinds the ingest side publishes (topic <prefix>/sensor/<kind>/<device_id>): the device registry's list.
SENSOR_KINDS = DEVICE_KINDS
SYSTEM_KINDS = ("feed_silent",)
TEMPLATE_NAMES = (
    "text", "device_id", "kind", "value", "metric", "event", "address", "area_code", "area_name",
    "where", "category", "source", "rule_id", "severity", "domain_name", "fields", "reporter",
)
SCOPE_ATTRS = ("source", "kind", "metric", "device_id")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


class _Compiler:
    """Walks one rule's raw data; knows where it is so errors can name file, line and field."""

    def __init__(self, doc: LocatedDocument, base: tuple, rule_id: str, cfg: Config):
        self.doc, self.base, self.rule_id, self.cfg = doc, base, rule_id, cfg
        self.tz = ZoneInfo(cfg.site.timezone)
        self.keywords: set[str] = set()

    def error(self, rel: tuple, message: str) -> RuleError:
        dotted = ".".join(str(p) for p in rel)
        line = self.doc.line_of(self.base + rel)
        return RuleError(self.doc.file, line, f"rule {self.rule_id}: field {dotted}: {message}")

    def strings(self, value: Any, rel: tuple, allowed: tuple[str, ...] | None = None) -> frozenset:
        items = value if isinstance(value, list) else [value]
        if not items:
            raise self.error(rel, "needs at least one value")
        out = []
        for i, item in enumerate(items):
            where = rel + (i,) if isinstance(value, list) else rel
            if isinstance(item, bool):
                raise self.error(where, f"expected text, got {item!r} (YAML reads on/off/yes/no as true/false: quote it)")
            if not isinstance(item, (str, int)):
                raise self.error(where, f"expected text, got {item!r}")
            item = str(item)
            if allowed is not None and item not in allowed:
                raise self.error(where, f"unknown value {item!r}{suggest(item, allowed)}")
            out.append(item)
        return frozenset(out)

    def numeric(self, spec: Any, rel: tuple, label: str, field: str | None) -> c.Node:
        if not isinstance(spec, dict) or not spec:
            raise self.error(rel, f"expected a comparison like {{gte: 50}}; operators: {', '.join(NUMERIC_OPS)}")
        nodes: list[c.Node] = []
        for op, arg in spec.items():
            where = rel + (op,)
            if op not in NUMERIC_OPS:
                raise self.error(where, f"unknown comparison {op!r}{suggest(str(op), NUMERIC_OPS)}")
            if op == "between":
                ok = isinstance(arg, list) and len(arg) == 2 and all(_is_number(x) for x in arg)
                if not ok or arg[0] > arg[1]:
                    raise self.error(where, f"between needs [low, high] numbers, got {arg!r}")
                nodes.append(c.Numeric(label, field, op, float(arg[0]), float(arg[1])))
            elif not _is_number(arg):
                raise self.error(where, f"expected a number, got {arg!r}")
            else:
                nodes.append(c.Numeric(label, field, op, float(arg)))
        return nodes[0] if len(nodes) == 1 else c.All(tuple(nodes))

    def keyword_node(self, spec: Any, rel: tuple) -> list[c.Node]:
        shorthand = isinstance(spec, (list, str))  # a bare list means any-of and sits on the parent's line
        if shorthand:
            spec = {"any": spec}
        elif not isinstance(spec, dict):
            raise self.error(rel, "expected a list of words or {any: [...], all: [...], none: [...]}")
        nodes: list[c.Node] = []
        for mode, words in spec.items():
            where = rel if shorthand else rel + (mode,)
            if mode not in KEYWORD_KEYS:
                raise self.error(where, f"unknown keyword mode {mode!r}{suggest(str(mode), KEYWORD_KEYS)}")
            normal = frozenset(c.normalise(w) for w in self.strings(words, where))
            if "" in normal:
                raise self.error(where, "empty keyword")
            self.keywords.update(normal)
            nodes.append(c.Keywords(mode, normal))
        return nodes

    def regex(self, spec: Any, rel: tuple) -> c.Node:
        pats = spec if isinstance(spec, list) else [spec]
        nodes: list[c.Node] = []
        for i, pat in enumerate(pats):
            where = rel + (i,) if isinstance(spec, list) else rel
            if not isinstance(pat, str):
                raise self.error(where, f"expected a regular expression, got {pat!r}")
            try:
                nodes.append(c.Regex(re.compile(pat)))
            except re.error as exc:
                raise self.error(where, f"invalid regex {pat!r}: {exc}") from None
        return nodes[0] if len(nodes) == 1 else c.AnyOf(tuple(nodes))

    def when(self, data: Any, rel: tuple) -> list[c.Node]:
        if not isinstance(data, dict):
            raise self.error(rel, "expected a mapping of conditions")
        nodes: list[c.Node] = []
        for key, spec in data.items():
            where = rel + (key,)
            if key not in CONDITION_KEYS:
                raise self.error(where, f"unknown condition {key!r}{suggest(str(key), CONDITION_KEYS)}")
            if key == "source":
                nodes.append(c.AttrIn("source", self.strings(spec, where, SOURCE_KINDS)))
            elif key == "kind":
                nodes.append(c.AttrIn("kind", self.strings(spec, where, SENSOR_KINDS + SYSTEM_KINDS)))
            elif key in c.ATTRS:
                nodes.append(c.AttrIn(key, self.strings(spec, where)))
            elif key == "value":
                nodes.append(self.numeric(spec, where, "value", None))
            elif key == "fields":
                nodes.extend(self.fields(spec, where))
            elif key == "keywords":
                nodes.extend(self.keyword_node(spec, where))
            elif key == "regex":
                nodes.append(self.regex(spec, where))
            elif key in ("area", "grid"):
                nodes.append(self.area(key, spec, where))
            elif key == "time":
                nodes.append(self.time(spec, where))
            elif key in ("any", "all"):
                if not isinstance(spec, list) or not spec:
                    raise self.error(where, f"{key} needs a list of condition mappings")
                kids = tuple(c.All(tuple(self.when(item, where + (i,)))) for i, item in enumerate(spec))
                nodes.append(c.AnyOf(kids) if key == "any" else c.All(kids))
            else:  # not
                nodes.append(c.Not(c.All(tuple(self.when(spec, where)))))
        return nodes

    def fields(self, spec: Any, rel: tuple) -> list[c.Node]:
        if not isinstance(spec, dict) or not spec:
            raise self.error(rel, "expected a mapping of field: value or field: {gte: n}")
        nodes: list[c.Node] = []
        for name, want in spec.items():
            if isinstance(want, dict):
                nodes.append(self.numeric(want, rel + (name,), f"fields.{name}", str(name)))
            elif isinstance(want, (str, int, float, bool)) or want is None:
                nodes.append(c.FieldEq(str(name), want))
            else:
                raise self.error(rel + (name,), f"expected a value or a comparison, got {want!r}")
        return nodes

    def area(self, key: str, spec: Any, rel: tuple) -> c.Node:
        known = tuple(self.cfg.area_by_code)
        codes = self.strings(spec, rel)
        for code in sorted(codes):
            if code not in self.cfg.area_by_code and code != self.cfg.site.city.code:
                same_level = tuple(k for k in known if len(k) == len(code)) or known
                raise self.error(rel, f"unknown area code {code!r}{suggest(code, same_level)}")
            if key == "grid" and (code == self.cfg.site.city.code or level_of(code) != "grid"):
                raise self.error(rel, f"grid code {code!r} must have 15 digits; use area: for larger areas")
        if key == "grid":
            return c.AttrIn("area_code", codes)
        prefixes = tuple(sorted("" if code == self.cfg.site.city.code else code for code in codes))
        return c.AreaPrefix(prefixes)

    def time(self, spec: Any, rel: tuple) -> c.Node:
        m = _TIME.match(str(spec))
        if not m or int(m.group(1)) > 23 or int(m.group(3)) > 24 or int(m.group(2)) > 59 or int(m.group(4)) > 59:
            raise self.error(rel, f"expected a local time range like '22:00-06:00', got {spec!r}")
        start = int(m.group(1)) * 60 + int(m.group(2))
        end = int(m.group(3)) * 60 + int(m.group(4))
        if start == end:
            raise self.error(rel, "time range is empty")
        return c.TimeOfDay(start, end, str(spec))

    def template(self, source: str | None, rel: tuple) -> Template | None:
        if source is None:
            return None
        try:
            parts = list(string.Formatter().parse(source))
        except ValueError as exc:
            raise self.error(rel, f"bad template {source!r}: {exc}") from None
        for _, name, spec, _ in parts:
            if name is None:
                continue
            base = re.split(r"[.\[]", name, maxsplit=1)[0]
            if base not in TEMPLATE_NAMES:
                raise self.error(rel, f"unknown placeholder {{{name}}}{suggest(base, TEMPLATE_NAMES)}")
            if spec and "{" in spec:
                raise self.error(rel, f"nested placeholder in {{{name}:{spec}}} is not supported")
        return Template(source)

    def domain(self, value: str, rel: tuple, allow_unclassified: bool) -> str:
        allowed = DOMAIN_CODES + ((UNCLASSIFIED,) if allow_unclassified else ())
        if value not in allowed:
            raise self.error(rel, f"unknown domain {value!r}{suggest(value, allowed)}")
        return value


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _validate(model, data: Any, comp: _Compiler):
    if not isinstance(data, dict):
        raise comp.error((), "expected a mapping with id, when, classify …")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        loc, message = validation_message(exc, model)
        line = comp.doc.line_of(comp.base + loc)
        raise RuleError(comp.doc.file, line, f"rule {comp.rule_id}: {message}") from None


def compile_rule(doc: LocatedDocument, index: int, cfg: Config) -> CompiledRule | None:
    """Compile rules[index]; None for a rule with `enabled: false`."""
    base = ("rules", index)
    data = doc.data["rules"][index]
    rule_id = str(data.get("id", f"#{index + 1}")) if isinstance(data, dict) else f"#{index + 1}"
    comp = _Compiler(doc, base, rule_id, cfg)
    raw: RawRule = _validate(RawRule, data, comp)
    if not raw.enabled:
        return None
    top = comp.when(raw.when, ("when",))
    scope = tuple(n for n in top if isinstance(n, c.AttrIn) and n.attr in SCOPE_ATTRS)
    rest = tuple(n for n in top if n not in scope)
    domain = comp.domain(raw.classify.domain, ("classify", "domain"), allow_unclassified=True)
    dcfg = cfg.domain_by_code.get(domain)
    department = raw.route.department if raw.route.department is not None else (dcfg.department if dcfg else None)
    departments = tuple(d.code for d in cfg.departments)
    if department is not None and department not in departments:
        hint = suggest(department, departments) or f"; known: {', '.join(departments)}"
        raise comp.error(("route", "department"), f"unknown department {department!r}{hint}")
    level = raw.route.level or (dcfg.level if dcfg else "community")
    sources = next((n.values for n in scope if n.attr == "source"), None)
    kinds = next((n.values for n in scope if n.attr == "kind"), None)
    indexed = tuple(n for n in scope if n.attr in ("source", "kind"))
    title = comp.template(raw.title, ("title",))
    dedup_key = comp.template(raw.dedup.key, ("dedup", "key")) if raw.dedup else None
    names = tuple(dict.fromkeys((title.names if title else ()) + (dedup_key.names if dedup_key else ())))
    return CompiledRule(
        id=raw.id, file=doc.file, line=doc.line_of(base), description=raw.description,
        sources=sources, kinds=kinds, scope=c.All(scope), cond=c.All(rest), test=c.All(tuple(top)),
        for_=raw.for_, domain=domain, category=raw.classify.category, severity=raw.classify.severity,
        fast=c.All(tuple(n for n in top if n not in indexed)),
        scope_fast=c.All(tuple(n for n in scope if n not in indexed)),
        trigger=trigger_of(c.All(tuple(top))), names=names,
        level=level, department=department, title=title, dedup_key=dedup_key,
        dedup_window=raw.dedup.window if raw.dedup else None,
        cont=raw.continue_, clears=raw.clears, keywords=frozenset(comp.keywords),
        clear=_clear_when(comp, raw), auto_resolve=raw.auto_resolve,
    )


def _clear_when(comp: _Compiler, raw: RawRule) -> c.All | None:
    """`clear_when` compiled like `when`; it only means something on a rule with `for`."""
    if raw.clear_when is None:
        return None
    if raw.for_ is None:
        raise comp.error(("clear_when",), "clear_when (hysteresis) needs `for` on the same rule; add `for: 0s`")
    return c.All(tuple(comp.when(raw.clear_when, ("clear_when",))))


def compile_amplify(doc: LocatedDocument, index: int, cfg: Config) -> CompiledAmplify | None:
    """Compile amplify[index]; None when disabled."""
    base = ("amplify", index)
    data = doc.data["amplify"][index]
    rule_id = str(data.get("id", f"#{index + 1}")) if isinstance(data, dict) else f"#{index + 1}"
    comp = _Compiler(doc, base, rule_id, cfg)
    raw: RawAmplify = _validate(RawAmplify, data, comp)
    if not raw.enabled:
        return None
    nodes = comp.when(raw.when, ("when",))
    domains = frozenset(comp.domain(d, ("domains",), False) for d in raw.domains)
    notify = tuple(comp.domain(d, ("notify",), False) for d in raw.notify)
    return CompiledAmplify(
        id=raw.id, file=doc.file, line=doc.line_of(base), description=raw.description,
        test=c.All(tuple(nodes)), domains=domains, categories=frozenset(raw.categories),
        severity=raw.severity, notify=notify, keywords=frozenset(comp.keywords),
    )


def compile_document(doc: LocatedDocument, cfg: Config) -> tuple[list[CompiledRule], list[CompiledAmplify]]:
    """Compile every rule and amplify entry of one file, in file order."""
    if doc.data is None:
        return [], []
    if not isinstance(doc.data, dict):
        raise RuleError(doc.file, 1, "the top level must be a mapping with 'rules:' (and optionally 'amplify:')")
    for key in doc.data:
        if key not in FILE_KEYS:
            raise RuleError(doc.file, doc.line_of((key,)), f"unknown top-level key {key!r}{suggest(str(key), FILE_KEYS)}")
    for key in ("rules", "amplify"):
        if key in doc.data and not isinstance(doc.data[key], list):
            raise RuleError(doc.file, doc.line_of((key,)), f"'{key}' must be a list")
    rules = [compile_rule(doc, i, cfg) for i in range(len(doc.data.get("rules") or []))]
    amps = [compile_amplify(doc, i, cfg) for i in range(len(doc.data.get("amplify") or []))]
    return [r for r in rules if r], [a for a in amps if a]
