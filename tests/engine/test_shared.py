"""Rollouts on a shared store (real PostgreSQL, real simulator over loopback): a supervisor and
two workers in one process, as two replicas would run them.

The supervisor (an engine with ``shared=True``) opens the rollout and submits nothing;
the workers claim and carry it out.  A profile's ``max_in_flight`` holds across both
workers, the abort policy judges the whole rollout (and the workers stop taking its
waiting gateways), and ``max_per_minute`` is shared out between live replicas.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from reconciler.drivers.http import HttpDriver
from reconciler.drivers.settings import HeadendSettings
from reconciler.engine.rollouts import Engine, Outcome
from reconciler.engine.settings import EngineSettings
from reconciler.engine.shared import Worker
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.model.files import AbortPolicy, RolloutPolicy
from reconciler.model.state import Status
from reconciler.plan.planning import Planner
from reconciler.store import open_store
from reconciler.store.base import SharedStore, shared_store
from reconciler.testing import SimulatorHandle, running_simulator, write
from tests.engine.test_engine import PROFILE, TOKEN, gateways

FAST = EngineSettings(poll_interval_s=0.02, resubmit_backoff_s=0.01, submit_attempts=3)
GATEWAYS = 40


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write(
        tmp_path / "config",
        {"profiles.d/fleet.yaml": PROFILE, "gateways.d/a.yaml": gateways(GATEWAYS)},
    )


@pytest.fixture
def simulator(config: Path) -> Iterator[SimulatorHandle]:
    with running_simulator(gateways_repo=config, token=TOKEN, job_step_ms=150, seed=3) as handle:
        yield handle


def shared(url: str) -> SharedStore:
    found = shared_store(open_store(url))
    assert found is not None
    return found


def roll_out(
    url: str, config: Path, handle: SimulatorHandle, policy: RolloutPolicy
) -> tuple[Outcome, list[int]]:
    """Apply the config with a supervisor and two workers; returns the outcome and the
    gateways in work (Requested or Sent) sampled every 20 ms."""
    repo = load_repo(DirectorySource(config))
    sampled: list[int] = []

    async def go() -> Outcome:
        headend = HeadendSettings(base_url=handle.url, token=TOKEN, max_attempts=2, timeout_s=5)
        async with HttpDriver(headend) as driver:
            inventory = {g.id: g for g in await driver.inventory()}
            with (
                closing(shared(url)) as leader,
                closing(shared(url)) as w1,
                closing(shared(url)) as w2,
            ):
                leader.fence(None, None)
                workers = [
                    Worker(
                        driver=driver,
                        store=store,
                        name=name,
                        catalog=repo.catalog,
                        resolve_secret={}.get,
                        settings=FAST,
                        term_s=5.0,
                    )
                    for name, store in (("w1", w1), ("w2", w2))
                ]
                for worker in workers:
                    worker.policies = {"fleet": policy}
                tasks = [asyncio.create_task(w.run()) for w in workers]
                engine = Engine(
                    driver=driver,
                    store=leader,
                    catalog=repo.catalog,
                    resolve_secret={}.get,
                    settings=FAST,
                    shared=True,
                )

                async def sample() -> None:
                    while True:
                        counts = leader.rollout_counts([r.rollout_id for r in leader.rollouts()])
                        sampled.append(
                            sum(c[Status.REQUESTED] + c[Status.SENT] for c in counts.values())
                        )
                        await asyncio.sleep(0.02)

                sampler = asyncio.create_task(sample())
                plan = Planner(repo.catalog).plan(repo, inventory, leader.applied())
                outcome = await engine.apply(plan, commit="c1", policies={"fleet": policy})
                sampler.cancel()
                for worker in workers:
                    worker.stopping.set()
                await asyncio.wait_for(asyncio.gather(*tasks), 30)
                return outcome

    return asyncio.run(go()), sampled


def test_max_in_flight_holds_across_two_workers(
    postgres_url: str, config: Path, simulator: SimulatorHandle
) -> None:
    outcome, sampled = roll_out(postgres_url, config, simulator, RolloutPolicy(max_in_flight=5))
    assert outcome.all_accepted
    assert outcome.counts()[Status.ACCEPTED] == GATEWAYS
    assert max(sampled) <= 5  # never more than the profile allows, whichever worker holds them
    assert max(sampled) >= 2  # and both workers did work in parallel
    assert simulator.counters()["jobs_created"] == GATEWAYS
    with closing(open_store(postgres_url, read_only=True)) as store:
        states = store.applied().values()
        assert {s.status for s in states} == {Status.ACCEPTED}
        assert [r.state for r in store.rollouts()] == ["finished"]


def test_the_abort_policy_judges_the_whole_rollout(
    postgres_url: str, config: Path, simulator: SimulatorHandle
) -> None:
    simulator.set_faults(decline_rate=1.0)
    policy = RolloutPolicy(
        max_in_flight=4, abort=AbortPolicy(min_attempted=6, max_declined_ratio=0.2)
    )
    outcome, _ = roll_out(postgres_url, config, simulator, policy)
    assert "declined" in outcome.groups["fleet"].aborted
    with closing(open_store(postgres_url, read_only=True)) as store:
        rollout = store.rollouts()[-1]
        statuses = [s.status for s in store.applied().values()]
    assert rollout.state == "aborted"
    # The workers stopped taking its waiting gateways: most stay Initial, none is in work.
    assert statuses.count(Status.INITIAL) >= GATEWAYS // 2
    assert Status.REQUESTED not in statuses and Status.SENT not in statuses
    assert simulator.counters()["jobs_created"] < GATEWAYS // 2


def test_max_per_minute_is_shared_out_between_live_replicas(postgres_url: str) -> None:
    with closing(shared(postgres_url)) as store:
        worker = Worker(
            driver=None,  # type: ignore[arg-type]  # not used: no work is run
            store=store,
            name="w",
            catalog=None,  # type: ignore[arg-type]
            resolve_secret={}.get,
        )
        worker.policies = {"fleet": RolloutPolicy(max_per_minute=100, max_in_flight=7)}
        assert worker.policy("fleet").max_per_minute == 100
        worker.live = 3
        assert worker.policy("fleet").max_per_minute == 34  # rounded up: never 0
        assert worker.max_in_flight("fleet") == 7  # held across replicas by the claims
        assert worker.policy(None).max_per_minute is None
