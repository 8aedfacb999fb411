"""The README is the front door: every command it shows runs (at --help level) and every path it names exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _table_commands() -> list[str]:
    """The first cell of each row in the README's command table, e.g. `run.py rules learn`."""
    return re.findall(r"^\| `((?:python3 )?(?:run\.py|-m bench\.run_all)[^`]*)`", README, flags=re.M)


def _help_argv(command: str) -> list[str]:
    """The command's subcommand words (options and placeholders dropped) followed by --help."""
    words = command.replace("python3 ", "").split()
    if words[0] == "-m":
        return [sys.executable, "-m", words[1], "--help"]
    sub = []
    for word in words[1:]:
        if word.startswith(("-", "[", "<")) or not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        sub.append(word)
    return [sys.executable, "run.py", *sub, "--help"]


@pytest.mark.parametrize("command", _table_commands())
def test_each_command_in_the_readme_runs(command):
    argv = _help_argv(command)
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(argv[1:])}: {done.stderr[-800:]}"
    assert "usage:" in done.stdout


def test_the_readme_table_lists_the_commands():
    commands = _table_commands()
    assert len(commands) >= 8, commands  # the parse above must keep finding the table


def test_the_two_front_door_commands_exist():
    assert "bash .ci/setup && python3 run.py" in README and "bash .ci/test" in README
    assert (ROOT / ".ci" / "setup").is_file() and (ROOT / ".ci" / "test").is_file()


def test_every_path_in_where_things_are_exists():
    section = README.split("## Where things are", 1)[1].split("##", 1)[0]
    names = re.findall(r"^    (\S+)\s", section, flags=re.M)
    assert len(names) >= 10, names
    missing = [n for n in names if not (ROOT / n.rstrip("/")).exists()]
    assert not missing


def test_every_doc_the_readme_points_to_exists():
    docs = set(re.findall(r"`((?:docs|rules|deploy)/[\w./-]+)`", README))
    assert docs
    assert not [d for d in docs if not (ROOT / d).exists()]
