"""Test modules share code through tests/support/ and fixtures, never by importing each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


def imported_modules(source: str) -> set[str]:
    """Every module a source imports (`from m import x` counts as m and m.x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def is_test_code(module: str) -> bool:
    """A test module or a conftest: code no other test code may import."""
    parts = module.split(".")
    return parts[0] == "tests" and (parts[-1].startswith("test_") or parts[-1] == "conftest")


def test_the_check_knows_test_modules_from_support_modules() -> None:
    source = "from tests.unit.test_merkle import ref_mth\nimport tests.e2e.conftest\n"
    found = {m for m in imported_modules(source) if is_test_code(m)}
    assert found == {"tests.unit.test_merkle", "tests.e2e.conftest"}
    assert not is_test_code("tests.support.server")
    assert not is_test_code("tris.application.store")


@pytest.mark.parametrize(
    "path", sorted(TESTS.rglob("*.py")), ids=lambda p: str(p.relative_to(TESTS))
)
def test_no_test_code_imports_a_test_module_or_a_conftest(path: Path) -> None:
    imported = {m for m in imported_modules(path.read_text(encoding="utf-8")) if is_test_code(m)}
    assert not imported, f"{path.relative_to(TESTS)} imports {sorted(imported)}; use tests/support/"
