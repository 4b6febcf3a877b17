"""A newer commit supersedes the rollout under way: against the simulator over loopback."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.daemon.running import Daemon
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.model.state import Status
from reconciler.testing import SimulatorHandle
from tests.daemon.conftest import DaemonThread, commit, git, settled, wait_for

StartDaemon = Callable[..., DaemonThread]
KEY = "HeartbeatInterval"
SLOW = "canary"
"""One job at a time (``max_in_flight: 1``): its rollout takes seconds with slow jobs."""


def every(old: str, new: str) -> Callable[[str], str]:
    """Replace every occurrence (a profile sets a key once per gateway type)."""

    def edit(text: str) -> str:
        assert old in text, f"{old!r} not found"
        return text.replace(old, new)

    return edit


def jobs_by_commit(daemon: Daemon, gateway_ids: set[str]) -> dict[str, list[str | None]]:
    """Per gateway: the commit of each job the head-end acknowledged (Requested), in order."""
    commits = {r.rollout_id: r.commit for r in daemon.store.rollouts()}
    jobs: dict[str, list[str | None]] = defaultdict(list)
    for gateway_id in gateway_ids:
        for t in sorted(daemon.store.transitions(gateway_id), key=lambda t: t.at):
            if t.status is Status.REQUESTED:
                jobs[gateway_id].append(commits.get(t.rollout_id or -1))
    return dict(jobs)


def first_job_of(daemon: Daemon, sha: str) -> bool:
    """Whether the head-end acknowledged a job of a rollout of ``sha``."""
    ids = {r.rollout_id for r in daemon.store.rollouts() if r.commit == sha}
    return any(
        s.rollout_id in ids and s.status is not Status.INITIAL
        for s in daemon.store.applied().values()
    )


@pytest.mark.timeout(120)
@pytest.mark.parametrize("simulator", [{"job_step_ms": 400}], indirect=True)
def test_a_newer_commit_supersedes_the_rollout_under_way(
    start_daemon: StartDaemon, config_repo: Path, simulator: SimulatorHandle
) -> None:
    daemon = start_daemon()
    wait_for(
        lambda: settled(daemon, git(config_repo, "rev-parse", "HEAD")),
        timeout=60,
        what="the first rollout",
    )
    repo = load_repo(DirectorySource(config_repo))
    slow = set(repo.members[SLOW])
    quick = {g for g in repo.members["public-ac"] if repo.gateways[g].type == "LSX"}
    other = set(repo.members["highway-hpc"])
    profiles = f"profiles.d/{SLOW}.yaml"

    # The first commit: the slow profile one job at a time, public-ac's LSX all at once.
    first = commit(
        config_repo,
        "heartbeats 610",
        {
            profiles: every(f"{KEY}: 600", f"{KEY}: 610"),
            "profiles.d/public-ac.yaml": every(f"{KEY}: 900", f"{KEY}: 910"),
        },
    )
    wait_for(
        lambda: any(first in j for j in daemon.call(lambda d: jobs_by_commit(d, slow)).values()),
        what="the first commit's first job of the slow profile",
    )
    # The second commit, while the slow rollout has most of its jobs ahead of it.
    started = time.monotonic()
    second = commit(
        config_repo,
        "heartbeats 620 and highway 320",
        {
            profiles: every(f"{KEY}: 610", f"{KEY}: 620"),
            "profiles.d/highway-hpc.yaml": every(f"{KEY}: 300", f"{KEY}: 320"),
        },
    )
    wait_for(lambda: daemon.call(lambda d: first_job_of(d, second)), what="its first job")
    elapsed = time.monotonic() - started
    print(f"commit to first job while a rollout runs: {elapsed:.2f} s")
    # Without superseding, it would wait for the slow rollout: ~1.2 s per member, 4 or more to go.
    assert elapsed < 2.5, f"the newer commit's first job came {elapsed:.1f} s after it"

    def done() -> bool:
        states = daemon.call(lambda d: d.store.applied())
        return all(
            states[g].status is Status.ACCEPTED and states[g].accepted[KEY] == value
            for gateways, value in ((slow, 620), (quick, 910), (other, 320))
            for g in gateways
        )

    wait_for(done, timeout=60, what="every changed gateway to accept the newer values")
    wait_for(lambda: settled(daemon, second), timeout=30, what="the newer commit to settle")

    jobs = daemon.call(lambda d: jobs_by_commit(d, slow | quick | other))
    before = {g for g in slow if first in jobs.get(g, [])}
    # Superseded: most of the slow profile's members never got the first commit's job...
    assert 1 <= len(before) <= len(slow) // 2, jobs
    for g in slow - before:
        assert jobs[g][-1:] == [second] and first not in jobs[g], (g, jobs[g])
    # ... and those that did finished it, were compared, and got the newer value after.
    for g in before:
        assert jobs[g][-2:] == [first, second], (g, jobs[g])
    # Jobs already at the head-end that carried what the newer commit wants are not redone.
    for g in quick:
        assert jobs[g][-1] == first and jobs[g].count(first) == 1, (g, jobs[g])
    rollouts = [r for r in daemon.call(lambda d: d.store.rollouts()) if r.commit == first]
    superseded = [r for r in rollouts if r.profile == SLOW]
    assert superseded and all(
        r.state == "finished" and "superseded" in r.reason for r in superseded
    )

    report = daemon.report()
    assert report["applied_commit"]["sha"] == second
    managed = [g for g in report["gateways"] if g["status"] is not None]
    assert managed and all(g["status"] == "Accepted" for g in managed)
