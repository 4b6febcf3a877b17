"""Hostile committed files: the daemon marks the commit invalid, keeps the last good one, and lives.

Before the bounded-depth check a file of 30,000 ``[`` killed the daemon with SIGSEGV
on every start, and a 5,000-digit integer kept it in an internal-error loop with the
commit never marked invalid.  Each case runs in the daemon's own thread, so a crash
would take this test process down with it: the test passing is the proof.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.testing import SimulatorHandle
from tests.daemon.conftest import DaemonThread, commit, git, http, metric, settled, wait_for

StartDaemon = Callable[..., DaemonThread]

HOSTILE = {
    "30000-brackets": ("gateways.d/deep.yaml", "gateways: " + "[" * 30_000 + "]" * 30_000 + "\n"),
    "compact-sequences": ("gateways.d/deep.yaml", "gateways:\n" + "- " * 30_000 + "x\n"),
    "5000-digit-integer": (
        "profiles.d/huge.yaml",
        "name: huge\nparameters:\n  LSX:\n    backend:\n      HeartbeatInterval: "
        + "9" * 5_000
        + "\n",
    ),
}


@pytest.mark.parametrize(("path", "text"), list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_hostile_file_is_an_invalid_commit_and_the_daemon_lives_on(
    start_daemon: StartDaemon,
    config_repo: Path,
    simulator: SimulatorHandle,
    path: str,
    text: str,
) -> None:
    daemon = start_daemon()
    seed = git(config_repo, "rev-parse", "HEAD")
    wait_for(lambda: settled(daemon, seed), what="the first rollout")
    jobs = simulator.counters()["jobs_created"]
    (config_repo / path).write_text(text, encoding="utf-8")
    bad = commit(config_repo, "hostile file", {})
    report = wait_for(
        lambda: (r := daemon.report())["commit"]["sha"] == bad and r,
        what="the hostile commit in the report",
    )
    assert report["valid"] is False
    assert report["applied_commit"]["sha"] == seed
    (error,) = report["errors"]
    assert error["file"] == path and error["line"] >= 1
    assert "9" * 100 not in error["message"]
    assert metric(daemon, "reconciler_last_commit_valid") == 0
    status, _ = http(daemon.url + "/healthz")
    assert status == 200
    assert simulator.counters()["jobs_created"] == jobs, "a hostile commit was rolled out"
