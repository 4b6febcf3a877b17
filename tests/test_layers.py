"""The layers of docs/reference/layers.md point one way: a layer imports only the layers above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "reconciler"
ORDER = [
    "model",
    "loading",
    "editing",
    "plan",
    "members",
    "store",
    "drivers",
    "headends",
    "engine",
    "daemon",
    "cli",
]
# Modules outside the layers: the version, the entry point and test builders (imported by no layer).
FREE = {"__init__", "__main__", "testing", "errors"}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "reconciler" or len(parts) < 2:
        return None
    return parts[1]


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_earlier_layers(path: Path) -> None:
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    for module in imports_of(path):
        target = layer_of(module)
        if target is None or target == own:
            continue
        if target == "testing":
            assert own in FREE, f"{path.name} imports reconciler.testing"
            continue
        if own in FREE or target in FREE - {"testing"}:
            continue
        assert target in ORDER, f"unknown layer {target}"
        assert ORDER.index(target) < ORDER.index(own), f"{own} must not import {target}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_says_its_role(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if path.name == "__init__.py" and not path.read_text().strip():
        pytest.fail(f"{path} is empty; give it a docstring")
    assert ast.get_docstring(tree), f"{path} has no module docstring"


PURE_LAYERS = ("model", "plan", "members")
"""Layers of pure decisions: tested with plain values, so they do no I/O of any kind."""

IO_MODULES = {
    "asyncio",
    "aiohttp",
    "httpx",
    "urllib",
    "http",
    "socket",
    "ssl",
    "websockets",
    "git",
    "subprocess",
    "sqlite3",
    "psycopg",
    "asyncpg",
    "watchfiles",
}
HEADEND_FORBIDDEN = {"engine", "daemon", "cli"}


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if p.relative_to(PACKAGE).parts[0] in PURE_LAYERS],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_pure_layers_import_no_io_module(path: Path) -> None:
    for module in imports_of(path):
        assert module.split(".")[0] not in IO_MODULES, f"{path.name} imports {module}"


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if p.relative_to(PACKAGE).parts[0] == "headends"],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_headends_never_import_the_engine_the_daemon_or_the_cli(path: Path) -> None:
    for module in imports_of(path):
        assert layer_of(module) not in HEADEND_FORBIDDEN, f"{path.name} imports {module}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 400, (
        f"{path.relative_to(PACKAGE)} has {lines} lines; give its second concept a home"
    )


def test_every_exception_is_defined_in_errors_py() -> None:
    import reconciler.errors as tree

    names = {
        name
        for name, value in vars(tree).items()
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    for path in MODULES:
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b).split(".")[-1] for b in node.bases}
                exceptional = {
                    b for b in bases if b in names or b.endswith(("Error", "Exception", "Warning"))
                }
                assert not exceptional, (
                    f"{path.relative_to(PACKAGE)}: exception {node.name} belongs in errors.py"
                )
