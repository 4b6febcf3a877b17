"""Benchmark: psycopg 3 (sync, the store's driver) against asyncpg on the PostgreSQL store's hot paths.

Run: ``python bench/bench_pg_driver.py [--gateways N --rounds R]`` (needs the
PostgreSQL server binaries, and ``pip install asyncpg``: asyncpg is for this
benchmark only, never a dependency of the package).

Setup: a throwaway server (:class:`reconciler.testing.postgres.PostgresCluster`,
fsync off), the store's own schema (migrated by
:class:`~reconciler.store.postgres.PostgresStore`) holding ``--gateways``
(20,000) rows, one running rollout.  Both drivers run the same SQL, each over
one connection, rounds interleaved in ABBA order so machine noise hits both alike:

- guarded update: 1,000 rows in one ``UPDATE ... FROM unnest(...) WHERE status = expected``
  statement, one transaction (psycopg: binary array parameters, ``%b``);
- claim: 500 Initial rows ``FOR UPDATE SKIP LOCKED``, claimed and returned whole
  (``UPDATE ... RETURNING``), one transaction.

Then the store itself: :meth:`PostgresStore.write` of 1,000 states (guarded,
transitions, configurations, fencing checks) and :meth:`PostgresStore.claim`
of 500 by a registered replica (untimed between claims: the gateways claimed
are marked Accepted, as finished work is).  Targets: write < 60 ms, claim < 30 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import psycopg

from reconciler.model.state import AppliedGateway, Status
from reconciler.store.postgres import PostgresStore
from reconciler.store.rows import COLUMNS
from reconciler.testing.postgres import PostgresCluster

BATCH = 1000
CLAIM = 500
STATUSES = ("Requested", "Sent")

UPDATE = (
    "UPDATE gateways g SET status = v.status, updated_at = v.updated_at, reason = v.reason, "
    "attempts = v.attempts FROM unnest({0}::text[], {1}::text[], {2}::text[], {3}::float8[], "
    "{4}::text[], {5}::int[]) AS v(gateway_id, expected, status, updated_at, reason, attempts) "
    "WHERE g.gateway_id = v.gateway_id AND g.status = v.expected RETURNING g.gateway_id"
)
CLAIMING = (
    "WITH c AS (SELECT gateway_id FROM gateways WHERE status = 'Initial' AND rollout_id = {0} "
    "AND claimed_by IS NULL ORDER BY gateway_id LIMIT {1} FOR UPDATE SKIP LOCKED) "
    f"UPDATE gateways g SET claimed_by = {{2}} FROM c WHERE g.gateway_id = c.gateway_id RETURNING {', '.join('g.' + c for c in COLUMNS.split(', '))}"
)
PSYCOPG_UPDATE = UPDATE.format(*(["%b"] * 6))
ASYNCPG_UPDATE = UPDATE.format(*(f"${n}" for n in range(1, 7)))
PSYCOPG_CLAIM = CLAIMING.format("%s", "%s", "%s")
ASYNCPG_CLAIM = CLAIMING.format("$1", "$2", "$3")


def update_args(round_number: int) -> tuple[list[Any], ...]:
    ids = [f"GW-{n:06d}" for n in range(BATCH)]
    expected, status = STATUSES[round_number % 2], STATUSES[(round_number + 1) % 2]
    return (
        ids,
        [expected] * BATCH,
        [status] * BATCH,
        [float(round_number)] * BATCH,
        [f"round {round_number}"] * BATCH,
        [round_number] * BATCH,
    )


def populate(url: str, gateways: int) -> int:
    config = {f"Key{i}": i for i in range(40)}
    with PostgresStore(url) as store:
        rollout = store.start_rollout("bench", "bench", time.time())
        for start in range(0, gateways, 1000):
            store.write(
                [
                    AppliedGateway(
                        f"GW-{n:06d}",
                        "LSX",
                        "1.0",
                        "bench",
                        Status.REQUESTED if n < BATCH else Status.INITIAL,
                        accepted=config,
                        target=config,
                        rollout_id=rollout,
                    )
                    for n in range(start, min(gateways, start + 1000))
                ]
            )
    return rollout


def unclaim(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE gateways SET claimed_by = NULL WHERE claimed_by IS NOT NULL")
        conn.execute("VACUUM ANALYZE gateways")


def timed(call: Callable[..., object], *args: Any) -> float:
    started = time.perf_counter()
    call(*args)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateways", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=16)
    args = parser.parse_args()
    with PostgresCluster() as cluster:
        url = cluster.create_database()
        rollout = populate(url, args.gateways)
        unclaim(url)
        loop = asyncio.new_event_loop()
        sync = psycopg.connect(url)
        apg = loop.run_until_complete(asyncpg.connect(url))
        times: dict[str, list[float]] = {k: [] for k in ("pu", "au", "pc", "ac")}

        def psycopg_update(n: int) -> None:
            with sync.transaction():
                assert len(sync.execute(PSYCOPG_UPDATE, update_args(n)).fetchall()) == BATCH

        async def asyncpg_update_(n: int) -> None:
            async with apg.transaction():
                assert len(await apg.fetch(ASYNCPG_UPDATE, *update_args(n))) == BATCH

        def psycopg_claim(n: int) -> None:
            with sync.transaction():
                assert (
                    len(sync.execute(PSYCOPG_CLAIM, (rollout, CLAIM, f"p{n}")).fetchall()) == CLAIM
                )

        async def asyncpg_claim_(n: int) -> None:
            async with apg.transaction():
                assert len(await apg.fetch(ASYNCPG_CLAIM, rollout, CLAIM, f"a{n}")) == CLAIM

        n = 0
        free = args.gateways - BATCH
        for round_number in range(args.rounds):
            if free < 2 * CLAIM:
                unclaim(url)  # untimed: every Initial row claimable again
                free = args.gateways - BATCH
            free -= 2 * CLAIM
            order = ("p", "a") if round_number % 2 == 0 else ("a", "p")
            for driver in order:
                if driver == "p":
                    times["pu"].append(timed(psycopg_update, n))
                    times["pc"].append(timed(psycopg_claim, n))
                else:
                    times["au"].append(
                        timed(lambda k: loop.run_until_complete(asyncpg_update_(k)), n)
                    )
                    times["ac"].append(
                        timed(lambda k: loop.run_until_complete(asyncpg_claim_(k)), n)
                    )
                n += 1
        loop.run_until_complete(apg.close())
        loop.close()
        sync.close()
        unclaim(url)

        store = PostgresStore(url)
        worker = PostgresStore(url)
        worker.register("bench", 600)
        states = list(store.applied().values())[:BATCH]
        cycle = (Status.SENT, Status.REQUESTED)
        writes, claims = [], []
        for round_number in range(args.rounds):
            batch = [
                AppliedGateway(
                    s.gateway_id,
                    s.type,
                    s.firmware,
                    s.profile,
                    cycle[round_number % 2],
                    accepted=s.accepted,
                    target=s.target,
                    rollout_id=s.rollout_id,
                    updated_at=float(round_number),
                )
                for s in states
            ]
            writes.append(timed(store.write, batch))
            assert not store.skipped
            if (round_number + 1) * CLAIM <= args.gateways - BATCH:
                claims.append(timed(worker.claim, CLAIM, lambda profile: None))
                with psycopg.connect(url, autocommit=True) as side:  # untimed: the work is done
                    side.execute(
                        "UPDATE gateways SET status = 'Accepted' WHERE claimed_by = %s "
                        "AND status = 'Initial'",
                        (worker.replica_id,),
                    )
        store.close()
        worker.close()

    def med(values: list[float]) -> float:
        return statistics.median(values)

    print(f"{args.gateways} gateways, {args.rounds} rounds, median ms per operation")
    print(f"{'':34}{'psycopg 3':>12}{'asyncpg':>12}{'ratio':>8}")
    for label, p, a in (
        (f"guarded update of {BATCH}", "pu", "au"),
        (f"SKIP LOCKED claim of {CLAIM}", "pc", "ac"),
    ):
        print(
            f"{label:34}{med(times[p]):12.1f}{med(times[a]):12.1f}{med(times[p]) / med(times[a]):8.2f}"
        )
    print(f"PostgresStore.write({BATCH}):        {med(writes):8.1f} ms (target < 60)")
    print(f"PostgresStore.claim({CLAIM}):         {med(claims):8.1f} ms (target < 30)")
    print("claims:", [round(c, 1) for c in claims], "writes:", [round(w, 1) for w in writes])


if __name__ == "__main__":
    main()
