"""Imports of our own code sit at module level, where the import contract (lint-imports) sees them.

A function-level import hides a wrong-way dependency or a cycle from import-linter, so only the
composition root (run.py, ops_center/wiring/) may defer its imports, plus the documented lazy imports
of heavy optional parts listed in LAZY_ALLOWED.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUR_PACKAGES = ("ops_center", "ingest", "rules", "layouts")
COMPOSITION_ROOT = ("run.py", "ops_center/wiring/")
# (file, imported module) -> why it is imported lazily. Only heavy optional parts belong here.
LAZY_ALLOWED: dict[tuple[str, str], str] = {}


def own_modules(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules of ours an import statement names (relative imports count as ours)."""
    if isinstance(node, ast.ImportFrom):
        if node.level:
            return [f"{'.' * node.level}{node.module or ''}"]
        names = [node.module or ""]
    else:
        names = [alias.name for alias in node.names]
    return [name for name in names if name.split(".")[0] in OUR_PACKAGES]


def deferred_imports(source: str, filename: str = "<src>") -> list[tuple[int, str]]:
    """(line, module) of every import of our code inside a function or class body."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if nested and isinstance(child, ast.Import | ast.ImportFrom):
                found.extend((child.lineno, module) for module in own_modules(child))
            inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)
            visit(child, inner)

    visit(ast.parse(source, filename), nested=False)
    return found


def product_files() -> list[Path]:
    files = [ROOT / "run.py"]
    for package in OUR_PACKAGES:
        files.extend(sorted((ROOT / package).rglob("*.py")))
    return files


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_no_function_level_import_of_our_code_outside_the_composition_root():
    offenders, seen = [], set()
    for path in product_files():
        name = relative(path)
        if name.startswith(COMPOSITION_ROOT):
            continue
        for line, module in deferred_imports(path.read_text(encoding="utf-8"), name):
            seen.add((name, module))
            if (name, module) not in LAZY_ALLOWED:
                offenders.append(f"{name}:{line}: {module}")
    assert offenders == [], "move these imports to module level (or to the composition root):\n" + "\n".join(offenders)
    stale = sorted(set(LAZY_ALLOWED) - seen)
    assert stale == [], f"no longer imported lazily, drop from LAZY_ALLOWED: {stale}"
    assert all(why.strip() for why in LAZY_ALLOWED.values()), "every allowed lazy import says why"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f():\n    from ops_center.read import kpis\n", [(2, "ops_center.read")]),
        ("class C:\n    def m(self):\n        import rules.engine as e\n", [(3, "rules.engine")]),
        ("def f():\n    if True:\n        from .sibling import x\n", [(3, ".sibling")]),
        ("def f():\n    import selenium\n    from xlsxwriter import Workbook\n", []),
        ("from ops_center.core import geo\nif geo:\n    from rules import engine\n", []),
        ("try:\n    from layouts import ids\nexcept ImportError:\n    ids = None\n", []),
    ],
    ids=["function", "method", "relative", "third-party", "module-level-if", "module-level-try"],
)
def test_deferred_imports_finds_exactly_nested_imports_of_our_packages(source, expected):
    assert deferred_imports(source) == expected
