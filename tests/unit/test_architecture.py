"""The house rules: imports run domain ← storage ← application ← interfaces, only the entry
points import the composition root, no import circle, and nothing built at import."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "tris"

DOMAIN_MAY_IMPORT = ("eventsourcing.domain", "cryptography", "rfc8785", "orjson", "tris.domain")
APPLICATION_MUST_NOT_IMPORT = (
    "tris.interfaces",
    "tris.bootstrap",
    "tris.demo",
    "fastapi",
    "starlette",
    "uvicorn",
    "typer",
    # Databases are storage's business.
    "psycopg",
    "psycopg_pool",
    "sqlite3",
    "eventsourcing.sqlite",
    "eventsourcing.postgres",
    "tris.storage.sqlite",
    "tris.storage.postgres",
    "tris.storage.postgres_parallel",
)
STORAGE_MUST_NOT_IMPORT = ("tris.application", "tris.interfaces", "tris.bootstrap", "tris.demo")
# Who may import the composition root: the entry points and the demo (and the tests).
BOOTSTRAP_IMPORTERS = ("tris.interfaces", "tris.demo", "tris.bootstrap")
BUILDERS = {"load_settings", "Settings", "build", "EventStore", "TrisApplication", "create_app"}


def module_name(path: Path) -> str:
    """The dotted module name of a file under tris/."""
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(under: str = "") -> list[Path]:
    """Every Python file of the package (or of one subpackage)."""
    root = PACKAGE / under if under else PACKAGE
    return sorted(root.rglob("*.py"))


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in a file of the package."""
    yield from imports_in(path.read_text(encoding="utf-8"), module_name(path), path.name)


def imports_in(source: str, module: str, filename: str) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in a source, anywhere in it, relative ones resolved."""
    tree = ast.parse(source, filename=filename)
    package = module.split(".")
    if filename != "__init__.py":
        package.pop()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from pkg import mod` imports pkg.mod when it is a module, else a name of pkg.
                yield node.lineno, f"{base}.{alias.name}" if alias.name != "*" else base


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    """True when `module` is one of `prefixes` or inside one of them."""
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def is_stdlib(module: str) -> bool:
    """True for a module of the standard library."""
    return module.split(".", maxsplit=1)[0] in sys.stdlib_module_names


def test_every_package_is_checked() -> None:
    assert modules("domain") and modules("storage") and modules("application")
    assert modules("interfaces") and modules("demo")


@pytest.mark.parametrize("path", modules("domain"), ids=module_name)
def test_the_domain_imports_only_the_standard_library_and_pure_computation(path: Path) -> None:
    foreign = [
        f"line {line}: {module}"
        for line, module in imports(path)
        if not is_stdlib(module) and not within(module, DOMAIN_MAY_IMPORT)
        # `from eventsourcing.domain import X` arrives as eventsourcing.domain.X: fine.
    ]
    assert not foreign, f"{module_name(path)} imports outside the domain's allowance: {foreign}"


@pytest.mark.parametrize("path", modules("application"), ids=module_name)
def test_the_application_never_imports_interfaces_or_web_frameworks(path: Path) -> None:
    outward = [
        f"line {line}: {module}"
        for line, module in imports(path)
        if within(module, APPLICATION_MUST_NOT_IMPORT)
    ]
    assert not outward, f"{module_name(path)} imports outward: {outward}"


@pytest.mark.parametrize("path", modules("storage"), ids=module_name)
def test_storage_never_imports_the_layers_above_it(path: Path) -> None:
    upward = [
        f"line {line}: {module}"
        for line, module in imports(path)
        if within(module, STORAGE_MUST_NOT_IMPORT)
    ]
    assert not upward, f"{module_name(path)} imports a layer above storage: {upward}"


def test_only_the_entry_points_and_the_demo_import_the_composition_root() -> None:
    importers = sorted(
        f"{module_name(path)} (line {line})"
        for path in modules()
        for line, module in imports(path)
        if within(module, ("tris.bootstrap",))
        and not within(module_name(path), BOOTSTRAP_IMPORTERS)
    )
    assert not importers, f"these modules import tris.bootstrap: {importers}"


def import_graph() -> dict[str, set[str]]:
    """Module → the modules of tris it imports (a `from m import Name` counts as m)."""
    known = {module_name(p) for p in modules()}

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for path in modules():
        me = module_name(path)
        targets = {resolve(m) for _, m in imports(path) if within(m, ("tris",))}
        # A package's __init__ is not a dependency of its own modules' imports of siblings.
        graph[me] = {t for t in targets if t is not None and t != me and t != "tris"}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_check_finds_a_circle_and_only_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_anywhere_in_tris() -> None:
    assert not cycles(import_graph())


def test_the_import_check_sees_relative_nested_and_guarded_imports() -> None:
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "from ..application import store\n"
        "from . import values\n"
        "import fastapi.routing\n"
        "if TYPE_CHECKING:\n"
        "    from tris.interfaces.http import app\n"
        "def late():\n"
        "    import typer\n"
    )
    found = [module for _, module in imports_in(source, "tris.domain.probe", "probe.py")]

    assert found == [
        "__future__.annotations",
        "typing.TYPE_CHECKING",
        "tris.application.store",
        "tris.domain.values",
        "fastapi.routing",
        "tris.interfaces.http.app",
        "typer",
    ]
    refused = [m for m in found if not is_stdlib(m) and not within(m, DOMAIN_MAY_IMPORT)]
    assert refused == [
        "tris.application.store",
        "fastapi.routing",
        "tris.interfaces.http.app",
        "typer",
    ]
    assert not within("tris.domainx", DOMAIN_MAY_IMPORT)
    assert not within("eventsourcing.application", DOMAIN_MAY_IMPORT)
    assert within("eventsourcing.domain.Aggregate", DOMAIN_MAY_IMPORT)


def top_level_calls(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, name) of every call made by a module's top-level statements."""

    def runs_at_import(statement: ast.stmt) -> Iterator[ast.AST]:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            # Decorators and defaults run at import; bodies do not.
            yield from statement.decorator_list
            if not isinstance(statement, ast.ClassDef):
                yield from statement.args.defaults
                yield from (d for d in statement.args.kw_defaults if d is not None)
            return
        if isinstance(statement, ast.If) and "__main__" in ast.unparse(statement.test):
            return
        yield statement

    for statement in tree.body:
        for root in runs_at_import(statement):
            for node in ast.walk(root):
                if isinstance(node, ast.Call):
                    func = node.func
                    name = func.attr if isinstance(func, ast.Attribute) else ast.unparse(func)
                    yield node.lineno, name


def test_the_import_time_check_sees_builders_outside_function_bodies() -> None:
    source = (
        "settings = load_settings()\n"
        "def handler(services=build()):\n"
        "    return EventStore('sqlite:///x.db')\n"
        "if __name__ == '__main__':\n"
        "    create_app()\n"
        "app = factory.create_app()\n"
    )
    found = [name for _, name in top_level_calls(ast.parse(source)) if name in BUILDERS]

    assert found == ["load_settings", "build", "create_app"]


@pytest.mark.parametrize("path", modules(), ids=module_name)
def test_no_module_builds_settings_stores_or_applications_at_import(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    built = [f"line {line}: {name}()" for line, name in top_level_calls(tree) if name in BUILDERS]
    assert not built, f"{module_name(path)} builds at import: {built}"


IMPORT_EVERYTHING = """
import importlib, sys
names = sys.argv[1:]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


@pytest.mark.parametrize(
    "database_url", [None, "postgresql://nobody@127.0.0.1:1/none"], ids=["unset", "unreachable"]
)
def test_importing_every_module_touches_no_database(
    tmp_path: Path, database_url: str | None
) -> None:
    names = [module_name(p) for p in modules() if p.stem != "__main__"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIS_")}
    if database_url is not None:
        env["TRIS_DATABASE_URL"] = database_url

    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING, *names],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(names))
    assert not (tmp_path / "tris.db").exists()
    assert list(tmp_path.iterdir()) == []
