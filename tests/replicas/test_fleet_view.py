"""What every replica shows: the leader's name, the whole fleet, and a webhook passed to the leader.

Two ``reconciler run`` replicas on one PostgreSQL store watch a repository as a
remote (``file://``) that they fetch only every ten minutes: the follower's
``/readyz``, console and JSON name the leader; its metrics count every gateway
(those the other replica's worker rolled out too), with one leader among the
two; and a push webhook that reaches the follower makes the leader fetch and
roll out at once.
"""

from __future__ import annotations

import re
import subprocess
import urllib.request
from pathlib import Path

import pytest

from reconciler.testing.replicas import GIT, ReplicaRig, get_json, metric, rig_repo, wait

pytestmark = pytest.mark.timeout(300)

GATEWAYS = 400


def accepted(url: str) -> float:
    return metric(url, "reconciler_gateways", status="Accepted")


def test_any_replica_shows_the_leader_and_the_whole_fleet(
    tmp_path: Path, postgres_url: str
) -> None:
    repo = rig_repo(tmp_path, GATEWAYS, profiles=4, max_in_flight=20)
    rig = ReplicaRig(
        tmp_path,
        postgres_url,
        repo,
        job_step_ms=100,
        repo_url=f"file://{repo}",
        extra_args=["--poll-interval", "600"],
    )
    try:
        rig.start_fleet(["a", "b"])
        leader = wait(rig.leader, 60, "a leader")
        follower = next(r for r in rig.replicas.values() if r is not leader)
        wait(lambda: accepted(follower.url) == GATEWAYS, 120, "the follower to count every gateway")
        jobs = rig.counters()["jobs_created"]
        assert jobs == GATEWAYS

        ready = follower.ready()
        assert ready is not None
        assert (ready["leader"], ready["replica"], ready["leading"]) == (
            leader.name,
            "b" if leader.name == "a" else "a",
            False,
        )
        profiles = get_json(f"{follower.url}/api/v1/profiles")
        assert profiles["replicas"]["leader"] == leader.name
        assert profiles["replicas"]["live"] == 2
        with urllib.request.urlopen(f"{follower.url}/", timeout=10) as response:
            page = response.read().decode()
        assert f"leader: <strong>{leader.name}</strong>" in page
        assert [metric(r.url, "reconciler_leader") for r in (leader, follower)] == [1.0, 0.0]
        assert metric(follower.url, "reconciler_replicas_live") == 2.0
        assert metric(follower.url, "reconciler_leader_epoch") >= 1.0

        # A commit, announced to the follower only: the leader rolls it out now, not in 10 min.
        for path in (repo / "profiles.d").glob("*.yaml"):
            path.write_text(re.sub(r"(HeartbeatInterval: )(\d+)", r"\g<1>1234", path.read_text()))
        subprocess.run([*GIT, "commit", "-qam", "heartbeat"], cwd=repo, check=True)
        urllib.request.urlopen(
            urllib.request.Request(f"{follower.url}/hooks/git", data=b"{}", method="POST"),
            timeout=10,
        ).close()
        wait(lambda: rig.counters()["jobs_created"] >= 2 * GATEWAYS, 60, "the new commit's jobs")
        wait(lambda: accepted(follower.url) == GATEWAYS, 60, "every gateway Accepted again")
        assert rig.counters()["jobs_created"] == 2 * GATEWAYS
    finally:
        rig.close()
