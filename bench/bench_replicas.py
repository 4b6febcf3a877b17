"""Benchmark: rollout rate with 1, 2 and 3 ``reconciler run`` replicas on one PostgreSQL, and failover.

Run: ``python bench/bench_replicas.py [--gateways N] [--replicas 1,2,3] [--failovers K]``.

A throwaway PostgreSQL cluster (``initdb``/``pg_ctl`` in a temporary folder), the
simulator as its own process over a synthetic repository of ``N`` gateways
(default 100,000; 500 profiles), and for each replica count a fresh database and
that many daemons: the figure is the rate from the first job to the last gateway
Accepted (gateways/s, counted in the database every second).  The one-replica
rate measured in the same run is the baseline: the script prints each count's
scaling factor against it.  On a 2-core machine the daemons, the simulator and
PostgreSQL share the cores, so replicas cannot add speed here; what the figures
show is that coordination (claims, guarded writes, leases) costs nothing
noticeable: the factor must not fall well below 1.

Failover: with three replicas idle after the rollout, the leader is killed
(``kill -9``) ``K`` times; each time the seconds until another replica says
it leads (its ``/readyz``), against the lease term (default 15 s).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import psycopg

from reconciler.testing.postgres import PostgresCluster
from reconciler.testing.replicas import ReplicaRig, rig_repo, wait


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as db:
        rows = db.execute("SELECT status, count(*) FROM gateways GROUP BY status").fetchall()
    return {str(status): int(n) for status, n in rows}


def rollout(base: Path, url: str, repo: Path, replicas: int, gateways: int, term: float) -> float:
    """Gateways/s from the first job to every gateway Accepted, with ``replicas`` daemons."""
    rig = ReplicaRig(base, url, repo, lease_term_s=term, job_step_ms=200)
    try:
        rig.start_fleet([f"b{i}" for i in range(1, replicas + 1)])
        started = 0.0
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            jobs = int(rig.counters()["jobs_created"])
            if jobs and not started:
                started = time.monotonic()
            if started and counts(url).get("Accepted", 0) >= gateways:
                return gateways / (time.monotonic() - started)
            time.sleep(0.5)
        raise SystemExit("the rollout did not end within an hour")
    finally:
        rig.close()


def failovers(base: Path, url: str, repo: Path, times: int, term: float) -> list[float]:
    """Seconds from ``kill -9`` of the leader to another replica leading, ``times`` times."""
    rig = ReplicaRig(base, url, repo, lease_term_s=term, job_step_ms=200)
    found = []
    try:
        rig.start_fleet(["f1", "f2", "f3"])
        for _ in range(times):
            leader = wait(rig.leader, 120, "a leader")
            killed = rig.kill(leader)
            wait(rig.leader, 4 * term, "a new leader", every=0.05)
            found.append(time.monotonic() - killed)
            rig.wait_ready(rig.start(leader.name))
    finally:
        rig.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateways", type=int, default=100_000)
    parser.add_argument("--profiles", type=int, default=500)
    parser.add_argument("--replicas", default="1,2,3")
    parser.add_argument("--failovers", type=int, default=5)
    parser.add_argument("--lease-term", type=float, default=15.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as folder:
        base = Path(folder)
        cluster = PostgresCluster()
        try:
            repo = rig_repo(base, args.gateways, profiles=args.profiles, max_in_flight=100)
            rates: dict[int, float] = {}
            for n in (int(x) for x in args.replicas.split(",")):
                run = base / f"run-{n}"
                run.mkdir()
                url = cluster.create_database()
                rates[n] = rollout(run, url, repo, n, args.gateways, args.lease_term)
                print(f"{n} replica(s): {rates[n]:,.0f} gateways/s", flush=True)
            baseline = rates.get(1) or next(iter(rates.values()))
            print(f"\nrollout of {args.gateways:,} gateways, scaling against 1 replica:")
            for n, rate in rates.items():
                print(f"  {n} replica(s): {rate:8,.0f} gateways/s  x{rate / baseline:.2f}")
            if args.failovers:
                run = base / "failover"
                run.mkdir()
                url = cluster.create_database()
                times = failovers(run, url, repo, args.failovers, args.lease_term)
                print(
                    f"\nfailover after kill -9 of the leader ({len(times)} times, lease term "
                    f"{args.lease_term:g} s): median {statistics.median(times):.2f} s, "
                    f"max {max(times):.2f} s ({max(times) / args.lease_term:.2f} terms)"
                )
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
