"""One error tree: every error TRIS defines or raises hangs under TrisError, is drawn, and is
mapped once to an HTTP status and a CLI exit code."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import tris
from tris.domain.errors import TrisError
from tris.interfaces.cli.errors import EXIT_CODES, exit_code_for
from tris.interfaces.http.errors import STATUS_BY_ERROR, status_for

PACKAGE = Path(tris.__file__).parent
DRAWINGS = (PACKAGE / "application" / "errors.py", PACKAGE / "domain" / "errors.py")
# Answered as `internal-error` over HTTP on purpose: the server is misconfigured.
SERVER_SIDE = {"TrisError", "ConfigurationError", "DatabaseURLError", "ServerKeyError"}


def tris_modules() -> list[object]:
    """Every module of the package, imported."""
    names = [m.name for m in pkgutil.walk_packages(tris.__path__, "tris.")]
    return [importlib.import_module(n) for n in names if not n.endswith("__main__")]


def exception_classes() -> list[type[BaseException]]:
    """Every exception class defined in tris/."""
    found: dict[str, type[BaseException]] = {}
    for module in tris_modules():
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__.startswith("tris.")
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[k] for k in sorted(found)]


CLASSES = exception_classes()


def test_the_walk_finds_the_errors_of_every_layer() -> None:
    modules = {cls.__module__.split(".")[1] for cls in CLASSES}
    assert {"domain", "application", "storage", "interfaces", "config"} <= modules


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
def test_every_error_class_is_in_the_tree_and_documented(cls: type[BaseException]) -> None:
    assert issubclass(cls, TrisError), f"{cls.__qualname__} is outside the TrisError tree"
    assert cls.__doc__ and cls.__doc__.strip(), f"{cls.__qualname__} has no docstring"


@pytest.mark.parametrize(
    "cls", [c for c in CLASSES if not c.__name__.startswith("_")], ids=lambda c: c.__qualname__
)
def test_every_public_error_is_drawn_in_a_tree_docstring(cls: type[BaseException]) -> None:
    drawn = "".join(path.read_text(encoding="utf-8") for path in DRAWINGS)
    docstrings = "".join(
        ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "" for path in DRAWINGS
    )
    assert cls.__name__ in docstrings, f"{cls.__name__} is not drawn in the tree"
    assert drawn


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
def test_every_error_maps_to_a_status_and_an_exit_code(cls: type[BaseException]) -> None:
    error = cls.__new__(cls)  # the mapping goes by class, not by message
    status = status_for(error)  # type: ignore[arg-type]
    if cls.__name__ in SERVER_SIDE:
        assert status == 500
    else:
        assert 400 <= status < 500 or status == 503, f"{cls.__qualname__} answers {status}"
    assert any(isinstance(error, kind) for kind, _ in EXIT_CODES)
    assert exit_code_for(error) in {1, 2, 3, 4, 5}  # type: ignore[arg-type]


def test_the_tables_name_only_classes_of_the_tree() -> None:
    assert all(issubclass(cls, TrisError) for cls in STATUS_BY_ERROR)
    assert all(issubclass(cls, TrisError) for cls, _ in EXIT_CODES)


def raised_names(source: str) -> set[str]:
    """Names of the classes a module raises (`raise X(...)`, `raise X`, `raise m.X`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(target, ast.Name):
                names.add(target.id)
            elif isinstance(target, ast.Attribute):
                names.add(target.attr)
    return names


def test_no_module_raises_a_tris_class_outside_the_tree() -> None:
    defined = {cls.__name__ for cls in CLASSES}
    outside = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for name in raised_names(path.read_text(encoding="utf-8"))
        if name in defined and not issubclass(_by_name(name), TrisError)
    }
    assert not outside


def _by_name(name: str) -> type[BaseException]:
    return next(cls for cls in CLASSES if cls.__name__ == name)


def test_the_raise_scan_sees_calls_names_and_attributes() -> None:
    source = "raise A('x')\nraise B\nraise errors.C('y')\ntry:\n    pass\nexcept D:\n    raise\n"
    assert raised_names(source) == {"A", "B", "C"}
