"""`run.py screenshots` says what it is missing (selenium is not a runtime dependency) before building anything."""

from __future__ import annotations

import importlib.util

from ops_center.wiring import screenshots


def test_without_selenium_it_says_how_to_get_it(monkeypatch, capsys, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "selenium" else real(name, *a))
    assert screenshots.main(["--out", str(tmp_path / "shots")]) == 2
    err = capsys.readouterr().err
    assert "selenium" in err and "requirements-dev.txt" in err and "screenshots" in err
    assert not (tmp_path / "shots").exists()


def test_with_its_tools_installed_nothing_is_missing():
    assert screenshots.missing_tools() == ""
