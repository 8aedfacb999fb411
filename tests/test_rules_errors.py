"""Bad rule files are rejected at load with file:LINE, rule id, field and a hint; each file states its message."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops_center.core.yamlsource import SourceError
from rules.engine import RuleSet
from rules.schema import RuleError

ROOT = Path(__file__).resolve().parent.parent
BAD = sorted((ROOT / "tests" / "data" / "rules").glob("*.yaml"))


def expected(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: <message>'"
    return first.removeprefix("# expect: ")


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_rule_file_message(path, cfg, monkeypatch):
    monkeypatch.chdir(ROOT)  # messages name files relative to the working directory
    with pytest.raises(RuleError) as info:
        RuleSet.load([path.relative_to(ROOT)], cfg)
    assert str(info.value) == expected(path)
    assert isinstance(info.value, SourceError)


def test_there_are_enough_bad_files():
    assert len(BAD) >= 10


def test_missing_path_and_empty_folder(cfg, tmp_path):
    with pytest.raises(RuleError, match="rule path not found"):
        RuleSet.load([tmp_path / "nope.yaml"], cfg)
    with pytest.raises(RuleError, match=r"no \*\.yaml rule files"):
        RuleSet.load([tmp_path], cfg)


def test_disabled_rule_is_not_loaded(rules_from):
    ruleset = rules_from("""
        rules:
          - id: paused
            enabled: false
            when: {kind: smoke}
            classify: {domain: fire_safety, category: smoke_alarm, severity: P2}
    """)
    assert ruleset.rules == ()
