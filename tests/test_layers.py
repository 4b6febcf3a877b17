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
