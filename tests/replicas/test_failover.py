"""Three ``reconciler run`` replicas on one PostgreSQL store, with the leader and a worker
``kill -9``'d at random moments of a 10,000-gateway rollout (real processes, simulator, database).

What must hold: no job made twice (the simulator's counters), no gateway left unowned,
every gateway Accepted, and a new leader within one lease term of each kill.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest

from reconciler.store import open_store
from reconciler.store.base import shared_store
from reconciler.testing.replicas import ReplicaRig, metric, rig_repo, wait

pytestmark = pytest.mark.timeout(900)

GATEWAYS = 10_000
ROUNDS = 10
TERM_S = 3.0


def test_leader_and_worker_killed_ten_times(tmp_path: Path, postgres_url: str) -> None:
    repo = rig_repo(tmp_path, GATEWAYS, profiles=10, max_in_flight=60)
    rig = ReplicaRig(tmp_path, postgres_url, repo, lease_term_s=TERM_S, job_step_ms=1500)
    rng = random.Random(19)
    failovers: list[float] = []
    accepted: list[int] = []
    try:
        rig.start_fleet(["r1", "r2", "r3"])
        wait(rig.leader, 60, "a leader")
        wait(lambda: sum(rig.statuses().values()) > 0, 120, "the rollout to start")
        # Any replica's metrics show the claims held across the live replicas.
        some = rig.replicas["r2"].url
        wait(lambda: metric(some, "reconciler_claims_held") > 0, 60, "claims in the metrics")
        assert metric(some, "reconciler_replicas_live") == 3
        for _ in range(ROUNDS):
            time.sleep(rng.uniform(0.5, 3.0))
            leader = wait(rig.leader, 60, "a leader")
            worker = rng.choice([r for r in rig.replicas.values() if r is not leader and r.alive])
            killed_at = rig.kill(leader)
            rig.kill(worker)
            new = wait(rig.leader, 4 * TERM_S, "a new leader", every=0.05)
            failovers.append(time.monotonic() - killed_at)
            assert new.name not in (leader.name, worker.name)
            accepted.append(rig.statuses()["Accepted"])
            # The dead replicas' jobs are taken over once their leases run out.
            wait(lambda: unowned(postgres_url) == 0, 3 * TERM_S, "no unowned gateway")
            rig.start(leader.name)
            rig.start(worker.name)
        for replica in rig.replicas.values():
            rig.wait_ready(replica)
        wait(
            lambda: rig.statuses() == Counter({"Accepted": GATEWAYS}),
            600,
            "every gateway Accepted",
            every=2.0,
        )
        counters = rig.counters()
        exported = [metric(r.url, "reconciler_gateways_unowned") for r in rig.replicas.values()]
    finally:
        rig.close()
    print(f"failovers (s): {', '.join(f'{f:.2f}' for f in failovers)}; accepted: {accepted}")
    assert accepted[-1] < GATEWAYS  # every kill hit the rollout in progress
    assert counters["jobs_created"] == GATEWAYS, counters  # each gateway's job made once
    assert counters["declines"] == 0
    assert exported == [0.0, 0.0, 0.0]
    # One lease term from the kill (the lease was renewed up to a third of a term before it),
    # plus the probe's own polling.
    assert max(failovers) <= TERM_S + 0.5, failovers


def unowned(url: str) -> int:
    with closing(open_store(url, read_only=True)) as store:
        found = shared_store(store)
        assert found is not None
        return found.unowned()


def test_a_leader_stopped_by_sigterm_hands_over_at_once(tmp_path: Path, postgres_url: str) -> None:
    """A rolling update or a drain: the leader resigns its lease as it exits, so another
    replica leads within seconds, not after the lease term (30 s here)."""
    repo = rig_repo(tmp_path, 200, profiles=2, max_in_flight=50)
    rig = ReplicaRig(tmp_path, postgres_url, repo, lease_term_s=30.0, job_step_ms=100)
    try:
        rig.start_fleet(["s1", "s2"])
        leader = wait(rig.leader, 60, "a leader")
        signalled = time.monotonic()
        leader.process.terminate()
        assert leader.process.wait(30) == 0
        new = wait(rig.leader, 25, "a new leader", every=0.05)
        handover = time.monotonic() - signalled
    finally:
        rig.close()
    assert new is not leader
    assert handover < 10.0, handover
