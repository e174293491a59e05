"""Imports go one way: the framework never imports the services."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_chimera_workers_never_imports_handlers() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "chimera_workers").rglob("*.py"))
        for name in imported_modules(path)
        if name == "handlers" or name.startswith("handlers.")
    ]
    assert offenders == []


def test_chimera_workers_does_not_import_the_tests() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "chimera_workers").rglob("*.py"))
        if any(n == "tests" or n.startswith("tests.") for n in imported_modules(path))
    ]
    assert offenders == []


def test_chimera_never_imports_handlers() -> None:
    # The product library sits under the services: handlers use chimera, never the reverse.
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "chimera").rglob("*.py"))
        for name in imported_modules(path)
        if name == "handlers" or name.startswith("handlers.")
    ]
    assert offenders == []


def test_chimera_workers_never_imports_the_product() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "chimera_workers").rglob("*.py"))
        for name in imported_modules(path)
        if name == "chimera" or name.startswith("chimera.")
    ]
    assert offenders == []
