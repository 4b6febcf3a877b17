"""A config repository another user owns: git refuses it ("dubious ownership"), the daemon says so once.

The layout of deploy/systemd: a bare repository under ``/srv/git`` owned by
the git server's user, read by the daemon's own user.  git (2.35.2 and later)
refuses such a repository until it is a ``safe.directory``.  These tests give
a real repository to ``nobody`` (uid 65534) with ``os.chown`` (root only), run
the daemon on it with the real git CLI, and check every place an operator
looks: ``/readyz``, ``report.json``, ``reconciler_git_unsafe_repository`` and
one ERROR line in the log; then apply the fix the message names
(``git config --system --add safe.directory PATH``, with ``GIT_CONFIG_SYSTEM``
pointing ``--system`` at a file of the test, so the machine's
``/etc/gitconfig`` is untouched) and see the daemon recover without a
restart.  A last test runs the daemon with the ``GIT_CONFIG_*`` variables of
deploy/systemd/reconciler.service.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.conftest import DaemonThread, get_json, git, http, metric, wait_for

StartDaemon = Callable[..., DaemonThread]

NOBODY = 65534
UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "reconciler.service"
ENV_EXAMPLE = UNIT.with_name("env.example")
GIT_VARIABLES = ("GIT_CONFIG_COUNT", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_NOSYSTEM", "GIT_DIR")


def _git_version() -> tuple[int, ...]:
    done = subprocess.run(["git", "--version"], capture_output=True, text=True, check=True)
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", done.stdout)
    return tuple(int(x) for x in found.groups()) if found else (0,)


pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="needs root: the tests give the repository to another user with os.chown",
    ),
    pytest.mark.skipif(
        _git_version() < (2, 35, 2),
        reason="this git has no ownership check (safe.directory came with git 2.35.2)",
    ),
]


@pytest.fixture
def git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty system and global git configs of the test's own (``--system`` writes the first)."""
    system = tmp_path / "system.gitconfig"
    system.touch()
    (tmp_path / "global.gitconfig").touch()
    monkeypatch.setenv("GIT_CONFIG_SYSTEM", str(system))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "global.gitconfig"))
    for name in GIT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return system


def give_away(path: Path) -> None:
    """``chown -R nobody:nogroup PATH``."""
    os.chown(path, NOBODY, NOBODY)
    for root, folders, files in os.walk(path):
        for name in folders + files:
            os.chown(os.path.join(root, name), NOBODY, NOBODY, follow_symlinks=False)


def bare_repository(config_repo: Path, tmp_path: Path) -> Path:
    """A bare clone of ``config_repo`` under ``srv/git/``, owned by nobody (the systemd layout)."""
    bare = tmp_path / "srv" / "git" / "charging-config.git"
    bare.parent.mkdir(parents=True)
    git(tmp_path, "clone", "-q", "--bare", str(config_repo), str(bare))
    give_away(bare)
    return bare


def unready(daemon: DaemonThread) -> list[str] | None:
    status, body = http(daemon.url + "/readyz")
    reasons: list[str] = json.loads(body)["reasons"]
    return reasons if status == 503 and any("dubious ownership" in r for r in reasons) else None


def report_reasons(report_dir: Path) -> list[str] | None:
    try:
        report: dict[str, Any] = json.loads((report_dir / "report.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None  # not written yet (or being replaced)
    return [r for r in report["not_ready_reasons"] if "dubious ownership" in r] or None


def head_sha(daemon: DaemonThread) -> str | None:
    return daemon.call(lambda d: d.status.head.info.sha if d.status.head else None)


@pytest.mark.parametrize("layout", ["bare path", "file URL", "working copy"])
def test_a_repository_another_user_owns_is_reported_once_with_the_fix_and_recovers(
    start_daemon: StartDaemon,
    config_repo: Path,
    tmp_path: Path,
    git_config: Path,
    caplog: pytest.LogCaptureFixture,
    layout: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="reconciler.daemon")
    seed = git(config_repo, "rev-parse", "HEAD")
    if layout == "working copy":
        refused, repo = config_repo, str(config_repo)
        give_away(config_repo)
    else:
        refused = bare_repository(config_repo, tmp_path)
        repo = str(refused) if layout == "bare path" else f"file://{refused}"
    fix = f"git config --system --add safe.directory {refused}"

    daemon = start_daemon(repo=repo, retry_backoff_s=0.1, retry_backoff_max_s=0.2)

    reasons = wait_for(lambda: unready(daemon), what="/readyz to say dubious ownership")
    (reason,) = [r for r in reasons if "dubious ownership" in r]
    assert fix in reason and "or give it to the daemon's user (root)" in reason
    assert metric(daemon, "reconciler_git_unsafe_repository") == 1
    (in_report,) = wait_for(lambda: report_reasons(tmp_path / "report"), what="report.json")
    assert fix in in_report
    assert get_json(daemon.url + "/api/v1/status")["ready"] is False
    wait_for(
        lambda: metric(daemon, "reconciler_git_errors_total") >= 5,
        what="several retries",
    )
    said = [r for r in caplog.records if "dubious ownership" in r.getMessage()]
    errors = [r for r in said if r.levelno == logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert fix in errors[0].getMessage()
    assert all(r.levelno == logging.DEBUG for r in said if r is not errors[0])
    assert len(said) >= 4
    assert head_sha(daemon) is None
    cloning = [r for r in caplog.records if r.getMessage().startswith("cloning ")]
    assert len([r for r in cloning if r.levelno == logging.INFO]) == (layout == "file URL")

    # The fix as the message words it; no restart.
    subprocess.run(fix.split(), check=True, capture_output=True)
    assert str(refused) in git_config.read_text("utf-8")

    wait_for(lambda: head_sha(daemon) == seed, timeout=30, what="the commit to be loaded")
    wait_for(lambda: http(daemon.url + "/readyz")[0] == 200, timeout=30, what="ready")
    assert metric(daemon, "reconciler_git_unsafe_repository") == 0
    wait_for(lambda: report_reasons(tmp_path / "report") is None, what="report.json")
    assert any("works again" in r.getMessage() for r in caplog.records)
    errors = [
        r
        for r in caplog.records
        if r.levelno == logging.ERROR and "dubious ownership" in r.getMessage()
    ]
    assert len(errors) == 1


def unit_environment() -> dict[str, str]:
    found = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if line.startswith("Environment="):
            name, _, value = line.removeprefix("Environment=").partition("=")
            found[name] = value
    return found


@pytest.mark.skipif(
    _git_version() < (2, 38),
    reason="git before 2.38 ignores safe.directory in command-line configuration",
)
def test_the_systemd_units_git_variables_make_the_daemon_trust_the_documented_repository(
    start_daemon: StartDaemon,
    config_repo: Path,
    tmp_path: Path,
    git_config: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environment = {k: v for k, v in unit_environment().items() if k.startswith("GIT_CONFIG_")}
    documented = next(
        line.partition("=")[2]
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line.startswith("RECONCILER_REPO=")
    )
    assert environment == {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "safe.directory",
        "GIT_CONFIG_VALUE_0": documented,
    }
    bare = bare_repository(config_repo, tmp_path)  # stands in for /srv/git/charging-config.git
    refused = subprocess.run(
        ["git", "-C", str(bare), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    assert refused.returncode != 0 and "dubious ownership" in refused.stderr
    for name, value in environment.items():
        monkeypatch.setenv(name, value.replace(documented, str(bare)))

    daemon = start_daemon(repo=str(bare))
    seed = git(config_repo, "rev-parse", "HEAD")
    wait_for(lambda: head_sha(daemon) == seed, timeout=30, what="the commit to be loaded")
    assert metric(daemon, "reconciler_git_unsafe_repository") == 0
    assert daemon.call(lambda d: d.status.git_error) == ""
