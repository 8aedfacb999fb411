"""The README and docs/bench.md are front doors: every command they show runs (at --help level) and every
path they name exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = {name: (ROOT / name).read_text(encoding="utf-8") for name in ("README.md", "docs/bench.md")}
COMMAND_START = re.compile(r"(?:python3 |run\.py\b|bash |bench/run_all(?:\s|$)|-m bench\.run_all)")
# What a run writes (git-ignored) or what the machine provides: named in the docs, not in the checkout.
GENERATED = ("bench/out", "data/", "reports/", "out/", "/")
# docs/bench.md: bench/out's own subfolders, and the file name bench/ must never have (it would shadow rules/).
NOT_IN_CHECKOUT = {"work", "profiles", "rules.py"}
PATH = re.compile(r"(?:\.?[\w-]+/)+[\w.-]*|[\w-]+\.(?:md|py|yaml|csv|toml|txt|tsv|service|npz)")


def _without_layout(text: str) -> str:
    """The README's folder map lists paths (checked below), not commands."""
    head, _, rest = text.partition("## Where things are")
    return head + ("##" + rest.split("##", 1)[1] if "##" in rest else "")


def _commands(text: str) -> list[str]:
    """Commands a reader may type: code-block lines and backticked spans that start like one."""
    text = _without_layout(text)
    found = [line.strip().split("  #", 1)[0].strip() for line in text.splitlines() if line.startswith("    ")]
    found += re.findall(r"`([^`\n]+)`", text)
    out: list[str] = []
    for item in found:
        for part in item.split("&&"):
            part = part.strip()
            if COMMAND_START.match(part) and part not in out:
                out.append(part)
    return out


def _help_argv(command: str) -> list[str]:
    """How to ask the command for --help: its script or module and subcommand words (options dropped)."""
    words = command.split()
    if words[0] == "python3":
        words = words[1:]
    if words[0] == "-m":
        return [sys.executable, "-m", words[1], "--help"]
    if words[0] == "bench/run_all":
        return ["sh", "bench/run_all", "--help"]
    if words[0] != "run.py":
        return [sys.executable, words[0], "--help"]
    sub = []
    for word in words[1:]:
        if word.startswith(("-", "[", "<")) or not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        sub.append(word)
    return [sys.executable, "run.py", *sub, "--help"]


COMMANDS = [(doc, command) for doc, text in DOCS.items() for command in _commands(text)]


@pytest.mark.parametrize(("doc", "command"), COMMANDS, ids=[f"{d}: {c}" for d, c in COMMANDS])
def test_each_command_in_the_docs_runs(doc, command):
    if command.startswith("bash "):  # .ci/setup and .ci/test install and run everything: the file must be there
        script = command.split()[1]
        assert (ROOT / script).is_file(), f"{doc}: {script}"
        return
    argv = _help_argv(command)
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{doc}: {' '.join(argv[1:])}: {done.stderr[-800:]}"
    assert "usage:" in done.stdout


def test_the_parse_finds_the_commands():
    readme = [c for d, c in COMMANDS if d == "README.md"]
    bench = [c for d, c in COMMANDS if d == "docs/bench.md"]
    assert len(readme) >= 10 and len(bench) >= 6, (readme, bench)
    assert all(not c.startswith("python ") for c in readme + bench)
    assert "python3 -m bench.run_all --quick" in bench and "run.py check-config" in readme


def test_the_two_front_door_commands_exist():
    assert "bash .ci/setup && python3 run.py" in README and "bash .ci/test" in README
    assert (ROOT / ".ci" / "setup").is_file() and (ROOT / ".ci" / "test").is_file()


def test_no_doc_or_script_says_plain_python():
    """`python` is not on every machine; what we show is `python3`."""
    shown = [*DOCS.values(), (ROOT / "bench" / "run_all").read_text(encoding="utf-8"),
             (ROOT / "bench" / "run_all.py").read_text(encoding="utf-8")]
    assert not [t for t in shown if re.search(r"(?<![\w/])python (?:-m |run\.py|bench/)", t)]


def test_every_path_in_where_things_are_exists():
    section = README.split("## Where things are", 1)[1].split("##", 1)[0]
    names = re.findall(r"^    (\S+)\s", section, flags=re.M)
    assert len(names) >= 10, names
    # and the files the descriptions name by their path from the root (ops_center/wiring/app.py, …)
    named = names + re.findall(rf"(?<![\w/])(?:{'|'.join(n.rstrip('/') for n in names)})/[\w./-]*\w", section)
    missing = [n for n in named if not (ROOT / n.rstrip("/")).exists()]
    assert not missing


def _named_paths(text: str) -> list[str]:
    spans = re.findall(r"`([^`\n]+)`", text)
    paths = []
    for span in spans:
        for word in span.split():
            name = word.rstrip("/")
            placeholder = "/" not in name and name.split(".")[0].isupper()  # FILE.tsv, EVENT.json
            if PATH.fullmatch(word) and not word.startswith(GENERATED) and not placeholder \
                    and name not in NOT_IN_CHECKOUT:
                paths.append(name)
    return sorted(set(paths))


def _exists(name: str) -> bool:
    """A path from the checkout's root, or a bare file name the docs use for a file somewhere in it."""
    if (ROOT / name).exists():
        return True
    return "/" not in name and any(p for p in ROOT.rglob(name) if ".git" not in p.parts)


@pytest.mark.parametrize("doc", list(DOCS))
def test_every_path_a_doc_names_exists(doc):
    named = _named_paths(DOCS[doc])
    assert len(named) >= 5, named
    assert not [n for n in named if not _exists(n)]
