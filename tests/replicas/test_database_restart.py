"""The database restarts in the middle of a rollout (every session ended, as in a managed
PostgreSQL's failover): two ``reconciler run`` replicas reconnect and finish it, no job twice."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from reconciler.testing.postgres import PostgresCluster, server_bindir
from reconciler.testing.replicas import ReplicaRig, rig_repo, wait

pytestmark = pytest.mark.timeout(600)

GATEWAYS = 2_000


def test_a_restarted_database_is_reconnected_and_the_rollout_ends(
    tmp_path: Path, postgres_cluster: PostgresCluster
) -> None:
    cluster = PostgresCluster(server_bindir())  # its own: the restart ends every session
    try:
        url = cluster.create_database()
        repo = rig_repo(tmp_path, GATEWAYS, profiles=4, max_in_flight=50)
        rig = ReplicaRig(tmp_path, url, repo, lease_term_s=5.0, job_step_ms=500)
        try:
            rig.start_fleet(["d1", "d2"])
            wait(
                lambda: 0 < rig.statuses()["Accepted"] < GATEWAYS // 2, 120, "the rollout under way"
            )
            cluster.restart()
            wait(
                lambda: rig.statuses() == Counter({"Accepted": GATEWAYS}),
                300,
                "every gateway Accepted after the restart",
                every=1.0,
            )
            counters = rig.counters()
            alive = [r.alive for r in rig.replicas.values()]
            ready = [r.ready() for r in rig.replicas.values()]
        finally:
            rig.close()
    finally:
        cluster.stop()
    assert counters["jobs_created"] == GATEWAYS
    assert alive == [True, True]
    assert all(r is not None for r in ready)
    for replica in rig.replicas.values():  # warnings that say what happened, no traceback
        for line in replica.log.read_text(errors="replace").splitlines():
            entry = json.loads(line)
            assert "exception" not in entry, entry
