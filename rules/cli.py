"""`run.py rules check|classify|explain|backtest`: the rules engine as a command-line tool."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import orjson

from ops_center.core.clock import utc_now
from ops_center.core.config import Config, parse_duration, resolve_path
from ops_center.core.yamlsource import SourceError
from ops_center.store.store import to_db
from rules import model_store
from rules.backtest import compare, read_events, replay
from rules.corpus_eval import read_labelled, score
from rules.engine import RuleSet, RuleState
from rules.eventjson import EventInputError, decision_dict, event_from_dict, event_time
from rules.explain import explain_event, format_rows
from rules.learn import format_confusion
from rules.learn_run import build_shipped, learn

NO_DECISION = {"domain": None, "category": None, "severity": None, "rule_id": None, "level": None,
               "department": None, "title": None}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `rules` subcommand and its actions to run.py's parser."""
    rules = subparsers.add_parser("rules", help="validate, classify, explain and backtest the rules")
    actions = rules.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    for name, text in (("check", "validate the rule files and list what they contain"),
                       ("classify", "JSON lines on stdin → one JSON decision per line on stdout"),
                       ("explain", "which rules match one event (a JSON file) and why"),
                       ("backtest", "replay stored events through a rule set and compare"),
                       ("learn", "train a new text-model version from officers' labels + the shipped corpus"),
                       ("evaluate", "score rules + text model on a labelled file (TSV label/subject/detail or JSONL)")):
        p = actions.add_parser(name, help=text)
        p.add_argument("--rules", dest="rules_paths", action="append", type=Path, metavar="PATH",
                       help="rule file or folder (repeatable; default: rules.paths from config)")
        if name == "explain":
            p.add_argument("event_file", metavar="EVENT.json", help="the event as JSON ('-' for stdin)")
            p.add_argument("--json", dest="as_json", action="store_true", help="print rows as JSON")
        if name == "evaluate":
            p.add_argument("labelled", type=Path, metavar="FILE", help="labelled messages (.tsv, .csv or .jsonl)")
            p.add_argument("--rules-only", action="store_true", help="without the text model (the first stage alone)")
        if name == "learn":
            p.add_argument("--since", default="365d", help="how far back officers' labels are read (default 365d)")
            p.add_argument("--db", dest="rules_db", metavar="PATH", help="DuckDB file (default: store.path)")
            p.add_argument("--shipped", action="store_true",
                           help="rebuild the shipped model from the shipped corpus only (no store)")
        if name == "backtest":
            p.add_argument("--since", default="7d", help="how far back to replay, e.g. 24h, 7d (default 7d)")
            p.add_argument("--until", help="end of the period, ISO time with offset (default: now)")
            p.add_argument("--db", dest="rules_db", metavar="PATH", help="DuckDB file (default: store.path)")
    return rules


def _paths(args: argparse.Namespace, cfg: Config, config_path: Path) -> list[Path]:
    given = getattr(args, "rules_paths", None)
    return list(given) if given else [resolve_path(config_path, p) for p in cfg.rules.paths]


def run(args: argparse.Namespace, cfg: Config, config_path: str | Path, *, stdin: IO[str] | None = None,
        stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    """Entry point run.py calls with the parsed args; 0 ok, 1 bad input or rules, 2 usage."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    try:
        ruleset = RuleSet.load(_paths(args, cfg, Path(config_path)), cfg, model_store.load_active(cfg))
    except SourceError as exc:
        stderr.write(f"{exc}\n")
        return 1
    command = args.rules_command
    if command == "check":
        return _check(ruleset, stdout)
    if command == "classify":
        return classify_stream(ruleset, stdin, stdout)
    if command == "explain":
        return _explain(ruleset, args, stdin, stdout, stderr)
    if command == "backtest":
        return _backtest(ruleset, args, cfg, Path(config_path), stdout, stderr)
    if command == "evaluate":
        return _evaluate(ruleset, args, stdout, stderr)
    if command == "learn":
        return _learn(ruleset, args, cfg, Path(config_path), stdout, stderr)
    stderr.write(f"unknown rules action {command!r}\n")
    return 2


def _check(ruleset: RuleSet, out: IO[str]) -> int:
    by_domain: dict[str, int] = {}
    for r in ruleset.rules:
        by_domain[r.domain] = by_domain.get(r.domain, 0) + 1
    out.write(f"rules OK: {len(ruleset.rules)} rules, {len(ruleset.amplifiers)} amplifiers "
              f"in {len(ruleset.files)} files (digest {ruleset.digest})\n")
    for domain, n in sorted(by_domain.items()):
        out.write(f"  {domain:<16} {n}\n")
    return 0


def classify_stream(ruleset: RuleSet, stdin: IO[str], stdout: IO[str]) -> int:
    """One JSON object per input line; a bad line yields {"line", "error"}, never a crash."""
    state = RuleState()  # lines are a sequence: `for` conditions can build up across them
    now = utc_now()
    bad = 0
    for number, line in enumerate(stdin, start=1):
        if not line.strip():
            continue
        try:
            ev = event_from_dict(orjson.loads(line), now, number)
        except orjson.JSONDecodeError as exc:
            bad += 1
            stdout.write(json.dumps({"line": number, "error": f"invalid JSON: {exc}"}, ensure_ascii=False) + "\n")
            continue
        except EventInputError as exc:
            bad += 1
            stdout.write(json.dumps({"line": number, "error": str(exc)}, ensure_ascii=False) + "\n")
            continue
        decisions = ruleset.evaluate(ev, state)
        row: dict[str, Any] = {"line": number}
        row.update(decision_dict(decisions[0]) if decisions else NO_DECISION)
        if len(decisions) > 1:
            row["more"] = [decision_dict(d) for d in decisions[1:]]
        stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 1 if bad else 0


def _explain(ruleset: RuleSet, args: argparse.Namespace, stdin: IO[str], out: IO[str], err: IO[str]) -> int:
    try:
        text = stdin.read() if args.event_file == "-" else Path(args.event_file).read_text(encoding="utf-8")
        ev = event_from_dict(orjson.loads(text), utc_now())
    except (OSError, orjson.JSONDecodeError, EventInputError) as exc:
        err.write(f"{args.event_file}: {exc}\n")
        return 1
    rows = explain_event(ruleset, ev)
    if args.as_json:
        out.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(format_rows(rows) + "\n")
        for d in ruleset.evaluate(ev):
            out.write("decision: " + json.dumps(decision_dict(d), ensure_ascii=False) + "\n")
    return 0


def _backtest(ruleset: RuleSet, args: argparse.Namespace, cfg: Config, config_path: Path,
              out: IO[str], err: IO[str]) -> int:
    import duckdb

    try:
        since: timedelta = parse_duration(args.since)
    except ValueError as exc:
        err.write(f"--since: {exc}\n")
        return 2
    db = getattr(args, "rules_db", None) or getattr(args, "db", None) or str(resolve_path(config_path, cfg.store.path))
    if not Path(db).exists():
        err.write(f"{db}: no such database\n")
        return 1
    try:
        until = event_time(args.until) if args.until else utc_now()
    except EventInputError as exc:
        err.write(f"--until: {exc}\n")
        return 2
    start = until - since
    conn = duckdb.connect(str(db), read_only=True)  # a backtest never writes: not even by accident
    try:
        events = read_events(conn, start, until)
        actual = dict(conn.execute("SELECT domain, count(*) FROM incidents_all WHERE created_at >= ? AND created_at < ? "
                                   "GROUP BY domain", [to_db(start), to_db(until)]).fetchall())
    finally:
        conn.close()
    summary = replay(events, ruleset)
    report = compare(events, summary, actual)
    out.write(f"backtest {start.isoformat(timespec='seconds')} .. {until.isoformat(timespec='seconds')}: "
              f"{summary.events} events in {summary.elapsed_s:.2f}s ({summary.events_per_s:,.0f}/s), "
              f"{summary.created} incidents would be created "
              f"({summary.bumped} dedup bumps, {summary.correlated} correlated, {summary.cleared} cleared)\n")
    out.write(f"{'domain':<16} {'would':>7} {'actual':>7} {'diff':>7}\n")
    for row in report["per_domain"]:
        out.write(f"{row['domain']:<16} {row['would_create']:>7} {row['actual']:>7} {row['difference']:>+7}\n")
    out.write(f"events whose rule changed: {report['changed_events']}\n")
    for change in report["top_changes"]:
        out.write(f"  {change['old_rule'] or '-'} -> {change['new_rule'] or '-'}: {change['events']}\n")
    return 0


def _learn(ruleset: RuleSet, args: argparse.Namespace, cfg: Config, config_path: Path,
           out: IO[str], err: IO[str]) -> int:
    import duckdb

    if args.shipped:
        model, path = build_shipped(cfg)
    else:
        try:
            since: timedelta = parse_duration(args.since)
        except ValueError as exc:
            err.write(f"--since: {exc}\n")
            return 2
        db = getattr(args, "rules_db", None) or str(resolve_path(config_path, cfg.store.path))
        if not Path(db).exists():
            err.write(f"{db}: no such database\n")
            return 1
        now = utc_now()
        conn = duckdb.connect(str(db), read_only=True)  # learning never writes the store
        try:
            model, path = learn(cfg, ruleset, conn, now - since, now)
        finally:
            conn.close()
    meta = model.meta
    held = meta["held_out"]
    out.write(f"model {meta['version']} written to {path} ({meta['examples']} examples, "
              f"{meta.get('site_labels', 0)} from officers)\n")
    out.write(f"held-out: domain accuracy {held['domain_accuracy']:.1%} ({held['domain_correct']}/{held['domain_total']}), "
              f"out of scope kept out {held['out_of_scope_kept_out']:.1%}\n")
    out.write(format_confusion(held["confusion"]) + "\n")
    bt = meta.get("backtest")
    if bt:
        out.write(f"backtest on {bt['events']} stored text events vs {meta.get('backtest_against')}: "
                  f"{bt['changed']} would change\n")
        for row in bt["per_domain"]:
            out.write(f"  {row['domain']:<16} {row['current']:>6} -> {row['new']:>6} ({row['diff']:+d})\n")
        out.write("adopt it on the admin screen (系统管理 → 文本模型) to put it in use\n")
    return 0


def _evaluate(ruleset: RuleSet, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    try:
        rows = read_labelled(args.labelled)
    except (OSError, ValueError) as exc:
        err.write(f"{exc}\n")
        return 1
    result = score(ruleset.with_model(None) if args.rules_only else ruleset, rows)
    out.write(f"{args.labelled}: {len(rows)} messages; by domain {result['domain_accuracy']:.1%} "
              f"({result['domain_correct']}/{result['domain_total']}); out of scope kept out "
              f"{result['out_of_scope_kept_out'] if result['out_of_scope_kept_out'] is None else format(result['out_of_scope_kept_out'], '.1%')}; "
              f"decided by {result['stages']}\n")
    for label, c in result["per_label"].items():
        out.write(f"  {label:<16} {c['correct']:>4}/{c['total']:<4}\n")
    out.write(format_confusion(result["confusion"]) + "\n")
    return 0
