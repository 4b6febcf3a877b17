"""A newer commit supersedes the rollout under way, in virtual time: the runner starts no
more jobs, the gateways it never submitted are planned against the newer commit, and the
jobs already at the head-end finish (polled by the next run) and are compared afterwards."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Set
from typing import Any

from reconciler.engine import cycle, decisions
from reconciler.engine.rollouts import Engine, Outcome
from reconciler.model.files import RolloutPolicy
from reconciler.model.repos import Repo
from reconciler.model.state import ACTIVE, Status
from reconciler.plan.planning import Planner

from .rig import Rig, RigFactory

KEY = "HeartbeatInterval"


def sent_values(rig: Rig, gateway_id: str) -> list[Any]:
    """The heartbeat each job created for the gateway carried, in order."""
    return [
        value
        for job in rig.driver.jobs_for(gateway_id)
        for name, value in job.request.parameters.items()
        if KEY in name
    ]


def accepted_value(rig: Rig, gateway_id: str) -> Any:
    state = rig.store.get(gateway_id)
    assert state is not None
    return next(v for k, v in state.accepted.items() if KEY in k)


def supersede_after_first_tick(engine: Engine) -> None:
    """Set the engine's ``superseded`` event once the run has ticked (its first jobs are out)."""
    engine.on_progress = lambda _: engine.superseded.set()


async def reconcile(
    rig: Rig,
    engine: Engine,
    repo: Repo,
    policies: Mapping[str, RolloutPolicy],
    *,
    affected: Set[str] | None,
    resume: bool = False,
) -> cycle.CycleResult:
    """One cycle of ``repo``, as the daemon runs it (incremental with ``affected``)."""
    engine.catalog = repo.catalog

    async def read_inventory() -> dict[str, Any]:
        return dict(rig.driver.gateways)

    return await cycle.reconcile(
        engine=engine,
        planner=Planner(repo.catalog),
        repo=repo,
        store=rig.store,
        commit=None,
        policies=policies,
        read_inventory=read_inventory,
        affected=affected,
        resume=resume,
    )


def test_a_superseded_run_starts_no_more_jobs_and_hands_on_those_at_the_headend(
    make_rig: RigFactory,
) -> None:
    rig = make_rig({"fleet": 10}, answer_after=3)
    slow = {"fleet": RolloutPolicy(max_in_flight=3)}
    wide = {"fleet": RolloutPolicy(max_in_flight=10)}
    gateways = set(rig.gateways)

    async def scenario(
        engine: Engine, repo: Repo
    ) -> tuple[Counter[Status], Outcome, frozenset[str], cycle.CycleResult, cycle.CycleResult]:
        supersede_after_first_tick(engine)
        first = await engine.apply(rig.plan(repo), commit="c1", policies=slow)
        counts = first.counts()  # the carried jobs' counts move on in the next run
        carried = engine.carried
        engine.on_progress = None
        engine.superseded.clear()
        # The newer commit: the daemon plans again every gateway the superseded one planned.
        rig.edit_profile("fleet", 700)
        second = await reconcile(rig, engine, rig.repo(), wide, affected=gateways)
        # Its deferred gateways (their job was at the head-end) are planned again later.
        third = await reconcile(rig, engine, rig.repo(), wide, affected=second.plan.deferred)
        return counts, first, carried, second, third

    counts, first, carried, second, third = rig.run(scenario)

    # The superseded run started three jobs, no more, and ended without waiting for them.
    assert first.superseded and first.left == 7 and len(carried) == 3
    assert counts[Status.INITIAL] == 7 and sum(counts[s] for s in ACTIVE) == 3
    submitted = {job.gateway_id for job in rig.driver.created[:3]}
    assert carried == submitted
    (rollout, *later) = rig.store.rollouts()
    assert rollout.state == "finished" and "superseded" in rollout.reason

    # The newer commit: the seven never submitted got its value and nothing else; its jobs
    # started while the three carried ones were still at the head-end.
    assert not second.superseded and second.plan.deferred == submitted
    assert second.applied.groups["fleet"].total == 7
    assert any(submitted <= active for active in rig.driver.active_at_submit[1:])
    for gid in gateways - submitted:
        assert sent_values(rig, gid) == [700]
    # The carried jobs finished with the old value, then were compared and pushed again.
    assert third.applied.all_accepted and third.applied.groups["fleet"].total == 3
    for gid in submitted:
        assert sent_values(rig, gid) == [600, 700]
    assert rig.statuses() == {Status.ACCEPTED: 10}
    assert {accepted_value(rig, gid) for gid in gateways} == {700}
    assert all(r.state == "finished" for r in later)


def test_a_resume_leaves_a_superseded_rollouts_initial_gateways_to_the_new_plan(
    make_rig: RigFactory,
) -> None:
    rig = make_rig({"fleet": 6, "depot": 4}, answer_after=3)
    slow = {"fleet": RolloutPolicy(max_in_flight=2), "depot": RolloutPolicy(max_in_flight=2)}
    fleet = set(rig.members["fleet"])

    async def superseded(engine: Engine, repo: Repo) -> Outcome:
        supersede_after_first_tick(engine)
        return await engine.apply(rig.plan(repo), commit="c1", policies=slow)

    first = rig.run(superseded)
    assert first.superseded and first.left == 6
    left = {s.gateway_id for s in rig.with_status(Status.INITIAL)}
    submitted = set(rig.gateways) - left
    # A restart: a new process resumes (it polls the jobs at the head-end but submits none of
    # the left Initial gateways), then plans everything against the newer commit, which
    # changes depot only: fleet's left gateways are pushed what they were heading for.
    rig.edit_profile("depot", 900)

    async def restarted(engine: Engine, repo: Repo) -> cycle.CycleResult:
        return await reconcile(rig, engine, repo, slow, affected=None, resume=True)

    second = rig.run(restarted)
    assert second.resumed is not None and second.resumed.counts()[Status.INITIAL] == 0
    for gid in left & fleet:
        assert sent_values(rig, gid) == [600]
    for gid in left - fleet:
        assert sent_values(rig, gid) == [900]
    for gid in submitted & fleet:
        assert sent_values(rig, gid) == [600]
    for gid in submitted - fleet:  # its job finished with the old value, then was compared
        assert sent_values(rig, gid) == [601, 900]
    assert rig.statuses()[Status.INITIAL] == 0


def test_gateways_left_initial_that_already_have_the_newer_value_need_no_job(
    make_rig: RigFactory,
) -> None:
    rig = make_rig({"fleet": 8}, answer_after=3)
    slow = {"fleet": RolloutPolicy(max_in_flight=2)}
    rig.apply(slow)  # everything at 600
    jobs = len(rig.driver.created)
    rig.edit_profile("fleet", 700)

    async def revert(
        engine: Engine, repo: Repo
    ) -> tuple[Outcome, cycle.CycleResult, cycle.CycleResult]:
        supersede_after_first_tick(engine)
        first = await engine.apply(rig.plan(repo), commit="c2", policies=slow)
        engine.on_progress = None
        engine.superseded.clear()
        rig.edit_profile("fleet", 600)  # the newer commit reverts it
        second = await reconcile(rig, engine, rig.repo(), slow, affected=set(rig.gateways))
        third = await reconcile(rig, engine, rig.repo(), slow, affected=second.plan.deferred)
        return first, second, third

    first, second, third = rig.run(revert)
    assert first.superseded and first.left == 6
    submitted = {job.gateway_id for job in rig.driver.created[jobs : jobs + 2]}
    assert second.plan.deferred == submitted
    for gid in set(rig.gateways) - submitted:
        assert sent_values(rig, gid) == [600]  # no job for 700, none to go back either
    for gid in submitted:
        assert sent_values(rig, gid) == [600, 700, 600]
    assert third.applied.all_accepted
    assert rig.statuses() == {Status.ACCEPTED: 8}
    assert {accepted_value(rig, gid) for gid in rig.gateways} == {600}


def test_carried_jobs_leave_a_tenth_of_the_engine_wide_slots_to_a_newer_commit() -> None:
    assert decisions.room(100, in_flight=0, carried=0) == 100
    assert decisions.room(100, in_flight=40, carried=0) == 60
    assert decisions.room(100, in_flight=100, carried=100) == 10  # full of carried jobs
    assert decisions.room(100, in_flight=105, carried=100) == 5
    assert decisions.room(100, in_flight=60, carried=50) == 40  # few carried: they count
    assert decisions.room(1, in_flight=1, carried=1) == 1
    assert decisions.room(1, in_flight=2, carried=1) == 0
