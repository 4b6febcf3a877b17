"""The reset limit in the daemon: a commit that would reset the fleet to firmware defaults is held."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.daemon import reports
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.testing import SimulatorHandle
from tests.daemon.conftest import (
    GIT_USER,
    DaemonThread,
    get_json,
    git,
    http,
    metric,
    settled,
    wait_for,
)

StartDaemon = Callable[..., DaemonThread]
PROFILE_LINE = re.compile(r"^\s*profile:.*\n", flags=re.M)


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD")


def drop_every_profile_line(repo: Path) -> str:
    """One valid commit: every ``profile:`` line of gateways.d removed; returns its sha."""
    for path in sorted((repo / "gateways.d").rglob("*.yaml")):
        path.write_text(PROFILE_LINE.sub("", path.read_text(encoding="utf-8")), encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, *GIT_USER, "commit", "-qm", "no profiles")
    return head(repo)


def expected_resets(report: dict[str, Any]) -> tuple[int, int]:
    """(gateways a commit without profiles resets, gateways managed): from the report before it."""
    managed = [g for g in report["gateways"] if g["status"] is not None]
    return sum(1 for g in managed if g["profile"] is not None), len(managed)


def test_a_commit_removing_every_profile_line_is_held_until_a_restart_allows_exactly_it(
    start_daemon: StartDaemon, config_repo: Path, simulator: SimulatorHandle
) -> None:
    daemon = start_daemon()
    seed = head(config_repo)
    wait_for(lambda: settled(daemon, seed), what="the first rollout")
    resets, managed = expected_resets(daemon.report())
    assert resets > 0.1 * managed
    jobs = simulator.counters()["jobs_created"]

    held_sha = drop_every_profile_line(config_repo)
    report = wait_for(lambda: (r := daemon.report())["held"] and r, what="the held commit")
    assert report["held"]["commit"]["sha"] == held_sha
    assert (report["held"]["resets"], report["held"]["managed"]) == (resets, managed)
    assert "firmware defaults" in report["held"]["reason"]
    assert report["valid"] is True and report["commit"]["sha"] == held_sha
    assert report["applied_commit"]["sha"] == seed and report["good_commit"]["sha"] == seed
    summary = {k: v for k, v in report.items() if k != "gateways"}
    jsonschema.validate(summary, json.loads(reports.SCHEMA_PATH.read_text()))
    assert metric(daemon, "reconciler_commit_held") == 1
    status, body = http(daemon.url + "/readyz")
    ready = json.loads(body)
    assert status == 200 and ready["ready"] is True, "a held commit is an operator's decision"
    assert ready["held"]["commit"]["sha"] == held_sha
    markdown = (Path(daemon.settings.report_dir) / "REPORT.md").read_text(encoding="utf-8")
    assert f"--allow-reset {held_sha}" in markdown
    wait_for(lambda: not daemon.call(lambda d: d.status.busy), what="the loop to rest")
    assert simulator.counters()["jobs_created"] == jobs, "a held commit reached the head-end"
    daemon.stop()

    allowed = start_daemon(allow_reset=held_sha[:12])
    wait_for(lambda: settled(allowed, held_sha), timeout=40, what="the allowed commit")
    assert simulator.counters()["jobs_created"] - jobs == resets
    after = allowed.report()
    assert after["held"] is None and metric(allowed, "reconciler_commit_held") == 0
    still = [g for g in after["gateways"] if g["status"] is not None]
    assert all(g["status"] == "Accepted" for g in still)
    # Reset gateways leave management, but those that keep subsettings of their own.
    assert {g["id"] for g in still} <= {g["id"] for g in after["gateways"] if g["subsettings"]}
    assert len(still) < managed


def test_a_later_commit_that_passes_releases_the_hold(
    start_daemon: StartDaemon, config_repo: Path
) -> None:
    daemon = start_daemon()
    seed = head(config_repo)
    wait_for(lambda: settled(daemon, seed), what="the first rollout")
    held_sha = drop_every_profile_line(config_repo)
    wait_for(lambda: daemon.report()["held"], what="the held commit")
    git(config_repo, *GIT_USER, "revert", "--no-edit", held_sha)
    reverted = head(config_repo)
    wait_for(lambda: settled(daemon, reverted), what="the commit restoring the profiles")
    assert daemon.report()["held"] is None
    assert get_json(daemon.url + "/readyz")["held"] is None


PACED_PROFILE = "highway-hpc"


@pytest.mark.parametrize("config_repo", [{"paced": [PACED_PROFILE]}], indirect=True)
def test_a_reset_under_the_limit_is_paced_by_the_profile_the_gateways_left_even_if_deleted(
    start_daemon: StartDaemon, config_repo: Path, simulator: SimulatorHandle
) -> None:
    per_minute = (
        load_repo(DirectorySource(config_repo)).profiles[PACED_PROFILE].rollout.max_per_minute
    )
    assert per_minute, f"{PACED_PROFILE} lost its max_per_minute"
    daemon = start_daemon(max_reset_share=0.5)
    seed = head(config_repo)
    wait_for(lambda: settled(daemon, seed), timeout=60, what="the first rollout")
    report = daemon.report()
    members = [g["id"] for g in report["gateways"] if g["profile"] == PACED_PROFILE and g["status"]]
    assert len(members) > 2
    jobs = simulator.counters()["jobs_created"]

    started = time.monotonic()
    (config_repo / "profiles.d" / f"{PACED_PROFILE}.yaml").unlink()
    line = re.compile(rf"^\s*profile: {PACED_PROFILE}\s*\n", flags=re.M)
    for path in sorted((config_repo / "gateways.d").rglob("*.yaml")):
        path.write_text(line.sub("", path.read_text(encoding="utf-8")), encoding="utf-8")
    git(config_repo, "add", "-A")
    git(config_repo, *GIT_USER, "commit", "-qm", f"decommission {PACED_PROFILE}")
    change = head(config_repo)
    samples: list[tuple[float, int]] = []  # (seconds since the commit, reset jobs created by then)
    deadline = started + 20 + 2 * len(members) * 60 / per_minute
    while not samples or samples[-1][1] < len(members):
        assert time.monotonic() < deadline, f"jobs created so far: {samples[-1:]}"
        samples.append((time.monotonic() - started, simulator.counters()["jobs_created"] - jobs))
        time.sleep(0.02)
    wait_for(lambda: settled(daemon, change), what="the paced reset")
    assert daemon.report()["held"] is None
    for seconds, created in samples:
        assert created <= int(seconds * per_minute / 60) + 1, (
            f"{created} jobs after {seconds:.2f} s"
        )
