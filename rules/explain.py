"""Explain one event: every rule, whether its conditions held, and why, in evaluation order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ops_center.domains import UNCLASSIFIED
from ops_center.model import Event

if TYPE_CHECKING:
    from rules.engine import RuleSet, RuleState


def explain_event(ruleset: RuleSet, ev: Event, state: RuleState) -> list[dict[str, Any]]:
    """Rows for `run.py rules explain` and the admin page; `state` is a private copy."""
    ctx = ruleset.context(ev)
    decisions, trace = ruleset._run(ev, state, ctx)
    outcome = dict(trace)
    bucket = {r.id for r in ruleset.bucket(ev.source, ev.kind)}
    selected = {d.rule_id for d in decisions}
    by_id = {r.id: r for r in ruleset.rules}
    stopper = next((rid for rid, what in trace
                    if rid in by_id and not by_id[rid].cont and not what.startswith("back in range")), None)
    passed_stopper = False
    rows: list[dict[str, Any]] = []
    for rule in ruleset.rules:
        matched, reason = rule.test.explain(ev, ctx)
        if rule.id not in bucket:
            matched, reason = False, rule.scope.explain(ev, ctx)[1]
        row = {
            "type": "rule", "rule_id": rule.id, "file": rule.file, "line": rule.line, "matched": matched,
            "selected": rule.id in selected, "reason": reason, "domain": rule.domain,
            "category": rule.category, "severity": rule.severity,
            "for_s": rule.for_.total_seconds() if rule.for_ is not None else None,
        }
        if rule.id in outcome:
            row["outcome"] = outcome[rule.id]
        elif matched and passed_stopper:
            row["outcome"] = f"not reached: {stopper} matched first"
        passed_stopper = passed_stopper or rule.id == stopper
        rows.append(row)
    for amp in ruleset.amplifiers:
        ok, reason = amp.test.explain(ev, ctx)
        used = any(amp.id in d.amplified_by for d in decisions)
        rows.append({
            "type": "amplify", "rule_id": amp.id, "file": amp.file, "line": amp.line, "matched": ok,
            "selected": used, "reason": reason if ok or not amp.domains else
            f"{reason} (applies to domains {sorted(amp.domains)})",
            "severity": amp.severity, "notify": list(amp.notify),
        })
    if any(d.rule_id == UNCLASSIFIED for d in decisions):
        rows.append({"type": "fallback", "rule_id": UNCLASSIFIED, "file": None, "line": None, "matched": True,
                     "selected": True, "reason": "text event matched no rule: goes to the triage queue (待分类)"})
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    """Plain-text rendering for the terminal: one line per rule, the selected ones marked."""
    lines = []
    for row in rows:
        mark = "=>" if row["selected"] else ("ok" if row["matched"] else "  ")
        where = f"{row['file']}:{row['line']}" if row.get("file") else "-"
        extra = f" [{row['outcome']}]" if row.get("outcome") else ""
        lines.append(f"{mark} {row['type']:<8} {row['rule_id']:<32} {where:<36} {row['reason']}{extra}")
    return "\n".join(lines)
