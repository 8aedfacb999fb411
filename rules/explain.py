"""Explain one event: every rule, whether its conditions held, and why, in evaluation order."""

from __future__ import annotations

from typing import Any

from ops_center.core.domains import UNCLASSIFIED
from ops_center.core.model import Event
from rules.engine import MODEL_RULE_PREFIX, RuleSet, RuleState


def explain_event(ruleset: RuleSet, ev: Event, state: RuleState | None = None) -> list[dict[str, Any]]:
    """Rows for `run.py rules explain` and the admin page; the given state is copied, never changed."""
    state = (state or RuleState()).copy()
    ctx = ruleset.context(ev)
    decisions, trace = ruleset.traced(ev, state, ctx)
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
    model_row = _model_row(ruleset, ev, decisions, outcome)
    if model_row is not None:
        rows.append(model_row)
    if any(d.rule_id == UNCLASSIFIED for d in decisions):
        rows.append({"type": "fallback", "rule_id": UNCLASSIFIED, "file": None, "line": None, "matched": True,
                     "selected": True, "reason": "text event matched no rule: goes to the triage queue (待分类)"
                     + (f" [{decisions[-1].category}]" if decisions[-1].category != UNCLASSIFIED else "")})
    return rows


def _model_row(ruleset: RuleSet, ev: Event, decisions: list, outcome: dict) -> dict[str, Any] | None:
    """The second stage's row: its answer, probability and the n-grams that weighed most."""
    model = ruleset.model
    consulted = next((rid for rid in outcome if rid.startswith(MODEL_RULE_PREFIX) or rid == UNCLASSIFIED), None)
    if model is None or consulted is None or not ev.text:
        return None
    p = model.predict(ev.text)
    grams = model.top_ngrams(ev.text, p.label)
    chosen = any(d.rule_id.startswith(MODEL_RULE_PREFIX) for d in decisions)
    return {"type": "model", "rule_id": f"{MODEL_RULE_PREFIX}{model.version}", "file": None, "line": None,
            "matched": p.confident, "selected": chosen, "domain": p.label, "probability": round(p.probability, 4),
            "threshold": model.threshold, "top_ngrams": grams, "probabilities": model.probabilities(p),
            "reason": f"{p.label} p={p.probability:.2f} (threshold {model.threshold:.2f}); top n-grams: "
                      + ", ".join(f"{g}({w:+.2f})" for g, w in grams), "outcome": outcome[consulted]}


def format_rows(rows: list[dict[str, Any]]) -> str:
    """Plain-text rendering for the terminal: one line per rule, the selected ones marked."""
    lines = []
    for row in rows:
        mark = "=>" if row["selected"] else ("ok" if row["matched"] else "  ")
        where = f"{row['file']}:{row['line']}" if row.get("file") else "-"
        extra = f" [{row['outcome']}]" if row.get("outcome") else ""
        lines.append(f"{mark} {row['type']:<8} {row['rule_id']:<32} {where:<36} {row['reason']}{extra}")
    return "\n".join(lines)
