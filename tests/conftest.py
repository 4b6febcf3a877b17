"""Shared fixtures: the example repository and a factory for small repositories on disk."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.model.repos import Repo
from reconciler.testing import write

EXAMPLE_REPO = Path(__file__).resolve().parent.parent

MakeRepo = Callable[[Mapping[str, str]], Path]


@pytest.fixture
def make_repo(tmp_path: Path) -> MakeRepo:
    """Write ``{path: yaml}`` into a fresh directory and return it."""

    def make(files: Mapping[str, str]) -> Path:
        return write(tmp_path / "repo", files)

    return make


@pytest.fixture
def load(make_repo: MakeRepo) -> Callable[[Mapping[str, str]], Repo]:
    """Write files and load them as a repository."""

    def run(files: Mapping[str, str]) -> Repo:
        return load_repo(DirectorySource(make_repo(files)))

    return run
