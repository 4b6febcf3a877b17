"""Shared fixtures: the example repository, a factory for small repositories on disk, PostgreSQL.

``postgres_cluster`` (one throwaway server per test session,
:class:`reconciler.testing.postgres.PostgresCluster`) and ``postgres_url`` (a
fresh database per test) skip the test where the PostgreSQL server binaries
are missing, and fail it in CI (``CI`` set), where they must be installed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.model.repos import Repo
from reconciler.testing import write
from reconciler.testing.postgres import PostgresCluster, server_bindir

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


NO_POSTGRES = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: "
    "install Debian's postgresql package to run the PostgreSQL tests"
)
_skipped_for_postgres: list[str] = []


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL server of the test session's own (127.0.0.1, a free port, fsync off)."""
    bindir = server_bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail(NO_POSTGRES)
        pytest.skip(NO_POSTGRES)
    cluster = PostgresCluster(bindir)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """The URL of a new, empty database (``postgresql://postgres@127.0.0.1:PORT/NAME``)."""
    return postgres_cluster.create_database()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and isinstance(report.longrepr, tuple) and NO_POSTGRES in report.longrepr[2]:
        _skipped_for_postgres.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped_for_postgres:
        terminalreporter.write_line(
            f"PostgreSQL tests skipped: {len(_skipped_for_postgres)} ({NO_POSTGRES})", yellow=True
        )
