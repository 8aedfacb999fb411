"""`run.py rules …`: classify JSON lines, check, explain — called through rules.cli.run as run.py does."""

from __future__ import annotations

import argparse
import io
import json

from rules.cli import add_parser, run


def call(cfg, config_path, argv, stdin=""):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    out, err = io.StringIO(), io.StringIO()
    rc = run(parser.parse_args(["rules", *argv]), cfg, config_path, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return rc, out.getvalue(), err.getvalue()


def test_classify_lines(cfg, config_path):
    lines = "\n".join([
        json.dumps({"source": "hotline", "text": "我家燃气费怎么多扣了两百"}, ensure_ascii=False),
        json.dumps({"source": "sensor", "kind": "smoke", "event": "alarm", "device_id": "S-1", "lone_elder": True}),
        "{not json",
        json.dumps({"source": "grid", "text": "路口有人打架，有人被打伤了", "ts": "2026-11-24T10:00:00+08:00"},
                   ensure_ascii=False),
        json.dumps({"source": "sensor", "kind": "noise", "metric": "db", "value": 41}),
        json.dumps({"source": "satellite", "text": "x"}),
        "",
    ])
    rc, out, _ = call(cfg, config_path, ["classify"], lines)
    rows = [json.loads(line) for line in out.splitlines()]
    assert rc == 1  # some lines were bad; the good ones were still answered
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert (rows[0]["domain"], rows[0]["rule_id"]) == ("unclassified", "guard.billing")
    assert (rows[1]["domain"], rows[1]["severity"], rows[1]["department"]) == ("fire_safety", "P1", "fire")
    assert rows[1]["notify_domains"] == ["elderly_care"]
    assert rows[2]["error"].startswith("invalid JSON")
    assert (rows[3]["domain"], rows[3]["category"], rows[3]["level"]) == ("public_security", "fight", "community")
    assert rows[4]["domain"] is None and rows[4]["rule_id"] is None  # a normal reading
    assert "source: expected one of" in rows[5]["error"]


def test_check_lists_the_rules(cfg, config_path):
    rc, out, _ = call(cfg, config_path, ["check"])
    assert rc == 0 and out.startswith("rules OK: ") and "fire_safety" in out


def test_check_reports_a_bad_rule_file(cfg, config_path, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: x\n    when: {kinds: smoke}\n"
                   "    classify: {domain: fire_safety, category: c, severity: P2}\n", encoding="utf-8")
    rc, out, err = call(cfg, config_path, ["check", "--rules", str(bad)])
    assert rc == 1 and out == ""
    assert err.strip().endswith("bad.yaml:3: rule x: field when.kinds: unknown condition 'kinds' (did you mean 'kind'?)")


def test_explain_event_file(cfg, config_path, tmp_path):
    path = tmp_path / "ev.json"
    path.write_text(json.dumps({"source": "hotline", "text": "小区消防通道被私家车堵死了"}, ensure_ascii=False),
                    encoding="utf-8")
    rc, out, _ = call(cfg, config_path, ["explain", str(path)])
    assert rc == 0
    assert any(line.startswith("=> rule") and "fire.exit_blocked" in line for line in out.splitlines())
    assert 'decision: {"domain": "fire_safety", "category": "fire_exit_blocked"' in out
    rc, out, _ = call(cfg, config_path, ["explain", "--json", str(path)])
    rows = json.loads(out)
    assert [r["rule_id"] for r in rows if r["selected"]] == ["fire.exit_blocked"]


def test_explain_bad_file(cfg, config_path, tmp_path):
    rc, _, err = call(cfg, config_path, ["explain", str(tmp_path / "missing.json")])
    assert rc == 1 and "missing.json" in err
