"""Hot reload: a valid change swaps in whole; an invalid one is rejected and the old set keeps running."""

from __future__ import annotations

from pathlib import Path

from rules.holder import RulesHolder
from tests.fixtures_rules import text

GOOD = """rules:
  - id: vending
    when: {keywords: [摆摊]}
    classify: {domain: city_management, category: street_vending, severity: P3}
"""


def test_accepted_change_is_swapped_in(tmp_path: Path, cfg):
    path = tmp_path / "r.yaml"
    path.write_text(GOOD, encoding="utf-8")
    holder = RulesHolder([tmp_path], cfg)
    assert holder.reload_if_changed() is None and holder.version == 1  # nothing changed
    path.write_text(GOOD.replace("P3", "P2"), encoding="utf-8")
    assert holder.reload_if_changed() is None
    assert holder.version == 2 and holder.last_error is None
    assert holder.current.evaluate(text("路口有人摆摊"))[0].severity == "P2"


def test_rejected_change_keeps_the_old_set(tmp_path: Path, cfg):
    path = tmp_path / "r.yaml"
    path.write_text(GOOD, encoding="utf-8")
    holder = RulesHolder([path], cfg)
    old = holder.current
    path.write_text(GOOD.replace("keywords:", "keyword:"), encoding="utf-8")
    error = holder.reload_if_changed()
    assert error is not None and "r.yaml:3: rule vending: field when.keyword: unknown condition 'keyword'" in error
    assert "(did you mean 'keywords'?)" in error
    assert holder.current is old and holder.version == 1 and holder.last_error == error
    assert holder.current.evaluate(text("路口有人摆摊"))[0].rule_id == "vending"
    assert holder.reload_if_changed() is None  # the same bad file is reported once, not every poll
    path.write_text(GOOD, encoding="utf-8")
    assert holder.reload_if_changed() is None and holder.version == 2 and holder.last_error is None


def test_new_file_in_folder_is_picked_up(tmp_path: Path, cfg):
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    holder = RulesHolder([tmp_path], cfg)
    (tmp_path / "b.yaml").write_text(GOOD.replace("vending", "vending2").replace("摆摊", "小贩"), encoding="utf-8")
    holder.reload_if_changed()
    assert [r.id for r in holder.current.rules] == ["vending", "vending2"]
