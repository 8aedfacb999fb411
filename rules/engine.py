"""The compiled rule set: index by (source, kind), first match wins, `for` held in a RuleState."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ops_center.core.config import Config
from ops_center.core.domains import DOMAIN_NAMES, SEVERITIES, UNCLASSIFIED
from ops_center.core.model import Ahead, Decision, Event
from ops_center.core.yamlsource import SourceError, load_located
from rules.compile import compile_document
from rules.compiled import CompiledAmplify, CompiledRule
from rules.conditions import Ctx
from rules.keyword_scan import KeywordScanner
from rules.render import VALUE, Vars
from rules.schema import RuleError
from rules.textmodel import OUT_OF_SCOPE, Prediction, TextModel

log = logging.getLogger(__name__)

TEXT_SOURCES = ("hotline", "grid")
DEFAULT_DEDUP_WINDOW = timedelta(hours=1)
MODEL_RULE_PREFIX = "model:"  # rule_id of a decision the text model made: "model:<version>"
MODEL_CATEGORY = "text_model"


class RuleState:
    """Pending `for` conditions keyed by (rule id, device or area); the only thing evaluate mutates."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], list] = {}  # key -> [since, last_seen, fired]

    def __len__(self) -> int:
        return len(self.items)

    def copy(self) -> RuleState:
        clone = RuleState()
        clone.items = {k: list(v) for k, v in self.items.items()}
        return clone

    def prune(self, older_than: datetime) -> int:
        """Forget conditions not seen since `older_than` (a silent device must not pin memory)."""
        stale = [k for k, v in self.items.items() if v[1] < older_than]
        for k in stale:
            del self.items[k]
        return len(stale)


def display_name(path: Path) -> str:
    """Paths in messages are relative to the working directory when possible: short and clickable."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def rule_files(paths: Sequence[Path | str]) -> list[Path]:
    """Files in load order: each path as given; a folder contributes its *.yaml sorted by name."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.yaml"))
            if not found:
                raise RuleError(display_name(p), None, "no *.yaml rule files in this folder")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise RuleError(display_name(p), None, "rule path not found")
    return out


def digest_files(files: Sequence[Path]) -> str:
    """A hash of names and contents: the identity of a rule set on disk."""
    h = hashlib.sha256()
    for f in files:
        h.update(str(f).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


class RuleSet:
    """Rules compiled once; `evaluate` only reads them, so one set is shared by all threads."""

    def __init__(self, rules: Sequence[CompiledRule], amplifiers: Sequence[CompiledAmplify], cfg: Config,
                 files: Sequence[str] = (), digest: str = "", model: TextModel | None = None):
        self.model = model  # second stage for texts no rule classifies (None: straight to triage)
        self.rules = tuple(rules)
        self.amplifiers = tuple(amplifiers)
        self.cfg, self.files, self.digest = cfg, tuple(files), digest
        self._tz = ZoneInfo(cfg.site.timezone)
        self._buckets: dict[tuple[str | None, str | None], tuple] = {}
        self._scanner = KeywordScanner(
            kw for item in (*self.rules, *self.amplifiers)
            for kw in item.keywords | (getattr(item, "trigger", None) or frozenset()))
        self._amps: dict[str, tuple[CompiledAmplify, ...]] = {}
        self._area_names = {code: a.name for code, a in cfg.area_by_code.items()}

    def with_model(self, model: TextModel | None) -> RuleSet:
        """The same compiled rules with another second-stage model (adopt/rollback swap this whole)."""
        clone = copy.copy(self)
        clone.model = model
        return clone

    @classmethod
    def load(cls, paths: Sequence[Path | str], cfg: Config, model: TextModel | None = None) -> RuleSet:
        """Read, validate and compile rule files; raise RuleError naming file, line, rule and field."""
        files = rule_files(paths)
        rules: list[CompiledRule] = []
        amps: list[CompiledAmplify] = []
        seen: dict[str, CompiledRule | CompiledAmplify] = {}
        for f in files:
            try:
                doc = load_located(f, display_name(f))
            except RuleError:
                raise
            except SourceError as exc:
                raise RuleError(exc.file, exc.line, exc.message) from None
            got_rules, got_amps = compile_document(doc, cfg)
            for item in (*got_rules, *got_amps):
                if item.id in seen:
                    first = seen[item.id]
                    raise RuleError(item.file, item.line,
                                    f"rule {item.id}: field id: duplicate rule id (first defined at {first.file}:{first.line})")
                seen[item.id] = item
            rules.extend(got_rules)
            amps.extend(got_amps)
        ruleset = cls(rules, amps, cfg, [display_name(f) for f in files], digest_files(files), model)
        log.info("loaded %d rules and %d amplifiers from %d files", len(rules), len(amps), len(files))
        return ruleset

    def bucket(self, source: str | None, kind: str | None) -> tuple[CompiledRule, ...]:
        """Rules that can apply to this (source, kind), in order; memoised per pair."""
        return self._plan(source, kind)[0]

    def _plan(self, source: str | None, kind: str | None) -> tuple:
        """(rules, positions of rules without a trigger, trigger word -> positions, all untriggered, no `for`
        rule among them) for one pair."""
        key = (source, kind)
        plan = self._buckets.get(key)
        if plan is None:
            rules = tuple(
                r for r in self.rules
                if (r.sources is None or source in r.sources) and (r.kinds is None or kind in r.kinds)
            )
            always = tuple(i for i, r in enumerate(rules) if r.trigger is None)
            by_word: dict[str, list[int]] = {}
            for i, r in enumerate(rules):
                for word in r.trigger or ():
                    by_word.setdefault(word, []).append(i)
            plan = (rules, always, {w: tuple(v) for w, v in by_word.items()}, len(always) == len(rules),
                    all(r.for_ is None for r in rules))
            self._buckets[key] = plan
        return plan

    def context(self, event: Event) -> Ctx:
        return Ctx(event, self._scanner, self._tz)

    def contexts(self, events: Sequence[Event]) -> list[Ctx]:
        """One Ctx per event, the keywords of every text found up front in one tight loop.

        Scanning a whole batch's texts together keeps the keyword automaton in the CPU cache; scanned
        one at a time between the rest of the write path, each scan cost several times as much.
        """
        out = [Ctx(ev, self._scanner, self._tz) for ev in events]
        for ctx in out:
            if ctx.ev.source in TEXT_SOURCES:
                ctx.present  # noqa: B018 - computed (and kept on the Ctx) now, for the reason above
        return out

    def evaluate(self, event: Event, state: RuleState | None = None, prediction: Prediction | None = None,
                 ctx: Ctx | None = None) -> list[Decision]:
        """Decisions for one event; time comes only from event.occurred_at. A batch's caller passes what it
        computed for all its events at once: the model's `prediction` (`predictions`) and `ctx` (`contexts`)."""
        if state is None:
            state = RuleState()
        return self._run(event, state, ctx if ctx is not None else self.context(event), prediction)[0]

    def predictions(self, events: Sequence[Event]) -> list[Prediction | None]:
        """The text model's answers for the text events of a batch, in one pass (None where it is not asked).

        A text with the reporter's own category (every row of a 12345 export) meets the model only when no
        rule matched it (`second_opinion` leaves such a text alone), and `evaluate` then asks for that text
        alone: asked up front, the model cost ~14 % of the writer's time per row of an export and was never used.
        """
        model = self.model
        asked = [i for i, ev in enumerate(events)
                 if model is not None and ev.source in TEXT_SOURCES and ev.text and not ev.category]
        out: list[Prediction | None] = [None] * len(events)
        if model is not None and asked:
            for i, p in zip(asked, model.predict_many([events[i].text or "" for i in asked]), strict=True):
                out[i] = p
        return out

    @property
    def identity(self) -> tuple[str, str | None]:
        """Which rule files and text model decide: decisions made ahead (`decide_ahead`) carry it."""
        return self.digest, self.model.version if self.model is not None else None

    def decide_ahead(self, events: Sequence[Event]) -> Ahead:
        """Decisions for the events no `for` rule can see, made away from the writer (a file's parser process).

        Without a pending condition to consult, a decision is a function of the event, the rules and the model
        alone, the same wherever it is made: the writer takes it when its own set has this `identity`. None for
        an event the writer must decide itself (a `for` rule in its bucket, or an evaluation that failed).
        """
        picked = [i for i, ev in enumerate(events) if self._plan(ev.source, ev.kind)[4]]
        chosen = [events[i] for i in picked]
        out: list[list[Decision] | None] = [None] * len(events)
        try:
            predictions = self.predictions(chosen)
        except Exception:  # noqa: BLE001 - the writer decides them (and logs why the model failed)
            return Ahead(self.identity, out)
        no_state = RuleState()  # never touched: no rule in these buckets holds state
        for i, ev, ctx, prediction in zip(picked, chosen, self.contexts(chosen), predictions, strict=True):
            try:
                out[i] = self._run(ev, no_state, ctx, prediction)[0]
            except Exception:  # noqa: BLE001 - the writer evaluates it again and logs the failure there
                continue
        return Ahead(self.identity, out)

    def traced(self, ev: Event, state: RuleState, ctx: Ctx,
               prediction: Prediction | None = None) -> tuple[list[Decision], list[tuple[str, str]]]:
        """Decisions with the (rule id, what happened) trace rules/explain.py reports."""
        return self._run(ev, state, ctx, prediction)

    def _run(self, ev: Event, state: RuleState, ctx: Ctx,
             prediction: Prediction | None = None) -> tuple[list[Decision], list[tuple[str, str]]]:
        out: list[Decision] = []
        trace: list[tuple[str, str]] = []  # (rule id, what happened) for explain
        clears: list[Decision] = []
        held: set[str | None] = set()
        items = state.items
        rules, always, by_word, untriggered, _ = self._plan(ev.source, ev.kind)
        if not untriggered:
            # Only rules whose trigger words occur in the text (plus those without one) can hold.
            chosen = set(always)
            for word in ctx.present:
                hits = by_word.get(word)
                if hits:
                    chosen.update(hits)
            rules = [rules[i] for i in sorted(chosen)]
        for rule in rules:
            if rule.for_ is None:
                if rule.fast.test(ev, ctx):
                    out.append(self.decide(rule, ev))
                    trace.append((rule.id, "fired"))
                    if not rule.cont:
                        break
                continue
            if not rule.scope_fast.test(ev, ctx):
                continue
            key = (rule.id, ev.device_id or ev.area_code or "")
            if rule.cond.test(ev, ctx):
                t = ev.occurred_at
                entry = items.get(key)
                if entry is None:
                    entry = items[key] = [t, t, False]
                else:
                    entry[0] = min(entry[0], t)
                    entry[1] = max(entry[1], t)
                if not entry[2] and t - entry[0] >= rule.for_:
                    entry[2] = True
                    out.append(self.decide(rule, ev))
                    trace.append((rule.id, "fired"))
                else:
                    if entry[2]:  # only a firing rule holds its incident open; a pending one has raised nothing
                        held.add(self._dedup_key(rule, ev, self._vars(rule.dedup_key.names if rule.dedup_key else (),
                                                                     rule, ev)))
                    trace.append((rule.id, "firing (already reported)" if entry[2] else f"pending since {entry[0].isoformat()}"))
                if not rule.cont:
                    break
            else:
                entry = items.get(key)
                if entry is not None and entry[2] and rule.clear is not None and not rule.clear.test(ev, ctx):
                    held.add(self._dedup_key(rule, ev, self._vars(rule.dedup_key.names if rule.dedup_key else (), rule, ev)))
                    trace.append((rule.id, "between thresholds: still firing (hysteresis)"))
                    if not rule.cont:
                        break
                    continue
                entry = items.pop(key, None)
                if entry is not None:
                    trace.append((rule.id, "back in range: cleared" if entry[2] else "back in range: pending cancelled"))
                    if entry[2]:
                        clears.append(self.decide(rule, ev, clears=True))
        if clears:
            held.update(d.dedup_key for d in out)
            for d in clears:  # one clear per incident key, none while another rule still holds it
                if d.dedup_key not in held:
                    held.add(d.dedup_key)
                    out.append(d)
        if self.amplifiers and out:
            out = [self._amplify(d, ev, ctx, trace) for d in out]
        if ev.source in TEXT_SOURCES:
            if not any(not d.clears for d in out):
                decision, why = self.second_stage(ev, prediction)
                out.append(decision)
                trace.append((decision.rule_id, why))
            else:
                out = self.second_opinion(ev, out, prediction, trace)
        return out, trace

    def second_opinion(self, ev: Event, out: list[Decision], prediction: Prediction | None,
                       trace: list) -> list[Decision]:
        """A keyword rule read a free text: when the model is very sure of another answer, the model decides.

        Keywords match words, not the request (a fall on the stairs of an elder's building is not 养老 but 城管;
        a fight over a parking space is not 治安 but 交通). A P1 decision always stands: a life-safety alarm is
        never taken back by a model; a text with a category the reporter chose (a grid worker's form) is left alone.
        """
        model = self.model
        decided = [d for d in out if not d.clears]
        if model is None or not ev.text or ev.category or any(d.severity == "P1" for d in decided):
            return out
        p = prediction or model.predict(ev.text)
        said = {OUT_OF_SCOPE if d.domain == UNCLASSIFIED else d.domain for d in decided}  # a guard's 待分类 = not ours
        if p.probability < model.override or p.label in said:
            return out
        if p.label != OUT_OF_SCOPE and p.label not in self.cfg.domain_by_code:
            return out
        decision, why = self.second_stage(ev, p)
        rules = ", ".join(d.rule_id for d in decided)
        why = why.removeprefix("no rule matched; ")
        trace.append((decision.rule_id, f"overrides {rules}: {why} (>= {model.override:.2f} to override a rule)"))
        return [d for d in out if d.clears] + [decision]

    def second_stage(self, ev: Event, prediction: Prediction | None = None) -> tuple[Decision, str]:
        """A text no rule classified: the model assigns a domain only when confident, else triage."""
        model = self.model
        if model is None or not ev.text:
            return self.unclassified(ev), "no rule matched: sent to triage"
        p = prediction or model.predict(ev.text)
        domain = self.cfg.domain_by_code.get(p.label) if p.confident else None
        if domain is None:
            d = self.unclassified(ev)
            if p.confident:  # the model is sure it is none of the six: flag it, still in triage
                d = dataclasses.replace(d, category=OUT_OF_SCOPE)
                return d, f"no rule matched; text model {model.version}: not ours (p={p.probability:.2f})"
            return d, (f"no rule matched; text model {model.version} unsure: best {p.label} "
                       f"p={p.probability:.2f} < {model.threshold:.2f}: sent to triage")
        title = (ev.text or "").strip().split("\n")[0][:30]
        return (Decision(rule_id=f"{MODEL_RULE_PREFIX}{model.version}", domain=p.label, category=MODEL_CATEGORY,
                         severity="P3", level=domain.level, department=domain.department, title=title),
                f"text model {model.version}: {p.label} p={p.probability:.2f} >= {model.threshold:.2f}")

    def _amplify(self, d: Decision, ev: Event, ctx: Ctx, trace: list) -> Decision:
        if d.clears:
            return d
        amps = self._amps.get(d.domain)
        if amps is None:
            amps = self._amps[d.domain] = tuple(a for a in self.amplifiers if not a.domains or d.domain in a.domains)
        for amp in amps:
            if amp.categories and d.category not in amp.categories:
                continue
            if not amp.test.test(ev, ctx):
                continue
            severity = min(d.severity, amp.severity, key=SEVERITIES.index)
            notify = d.notify_domains + tuple(n for n in amp.notify if n not in d.notify_domains and n != d.domain)
            d = dataclasses.replace(d, severity=severity, notify_domains=notify, amplified_by=d.amplified_by + (amp.id,))
            trace.append((amp.id, f"amplified {d.rule_id} to {severity}"))
        return d

    def _vars(self, names: tuple[str, ...], rule: CompiledRule, ev: Event) -> Vars:
        """Only the placeholders the templates use: most decisions need two or three."""
        return Vars({name: VALUE[name](ev, rule, self._area_names) for name in names})

    @staticmethod
    def _dedup_key(rule: CompiledRule, ev: Event, values: Vars) -> str | None:
        if rule.dedup_key is not None:
            return rule.dedup_key.render(values)
        return f"{rule.domain}:{rule.category}:{ev.device_id}" if ev.device_id else None

    def decide(self, rule: CompiledRule, ev: Event, clears: bool = False) -> Decision:
        """The Decision a matched rule yields; routing defaults were resolved at compile time."""
        values = self._vars(rule.names, rule, ev)
        if rule.title is not None:
            title = rule.title.render(values).strip()
        else:
            where = VALUE["where"](ev, rule, self._area_names)
            title = f"{DOMAIN_NAMES.get(rule.domain, rule.domain)} {rule.category} {(ev.text or '')[:30] or where}".strip()
        dedup_key = self._dedup_key(rule, ev, values)
        window = rule.dedup_window if rule.dedup_key is not None else (DEFAULT_DEDUP_WINDOW if dedup_key else None)
        return Decision(
            rule_id=rule.id, domain=rule.domain, category=rule.category, severity=rule.severity,
            level=rule.level, department=rule.department, title=("[恢复] " + title) if clears and not rule.clears else title,
            dedup_key=dedup_key, dedup_window=window, clears=clears or rule.clears, auto_resolve=rule.auto_resolve,
        )

    def unclassified(self, ev: Event) -> Decision:
        """A text no rule recognises goes to the triage queue, never dropped or forced."""
        title = (ev.text or ev.category or "未分类事件").strip()[:30]
        return Decision(rule_id=UNCLASSIFIED, domain=UNCLASSIFIED, category=UNCLASSIFIED, severity="P3",
                        level="community", department=None, title=title)

    def describe(self) -> list[dict[str, Any]]:
        """One row per rule for the admin page and `rules check`."""
        return [
            {"rule_id": r.id, "file": r.file, "line": r.line, "domain": r.domain, "category": r.category,
             "severity": r.severity, "level": r.level, "department": r.department,
             "for_s": r.for_.total_seconds() if r.for_ is not None else None, "continue": r.cont,
             "clears": r.clears, "description": r.description}
            for r in self.rules
        ]
