"""The runner against a fake head-end: statuses, durability before each call, resume, stop, drift."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest

from reconciler.drivers.base import JobRequest, JobStatus, JobSubmission
from reconciler.engine.rollouts import Engine, Outcome
from reconciler.model.files import RolloutPolicy
from reconciler.model.repos import Repo
from reconciler.model.state import Status
from reconciler.store.sqlite import SQLiteStore
from reconciler.testing import FakeDriver

from .rig import RigFactory


def test_every_gateway_moves_through_the_statuses_to_accepted(make_rig: RigFactory) -> None:
    rig = make_rig({"fleet": 6, "depot": 4}, answer_after=3)
    outcome = rig.apply()
    assert outcome.all_accepted
    assert outcome.counts() == Counter({Status.ACCEPTED: len(rig.gateways)})
    for gid in rig.gateways:
        history = [t.status for t in rig.store.transitions(gid)]
        assert history == [Status.INITIAL, Status.REQUESTED, Status.SENT, Status.ACCEPTED]
    for status in (Status.INITIAL, Status.REQUESTED, Status.SENT, Status.ACCEPTED):
        assert rig.transitions[status] == len(rig.gateways)
    assert [r.state for r in rig.store.rollouts()] == ["finished"] * len(rig.members)


def test_an_answer_on_the_first_poll_still_records_sent(make_rig: RigFactory) -> None:
    rig = make_rig({"fleet": 2}, answer_after=1)
    rig.apply()
    for gid in rig.gateways:
        assert Status.SENT in [t.status for t in rig.store.transitions(gid)]


class Auditing(FakeDriver):
    """Checks, at every call, that what the engine acts on is already in the store."""

    store: SQLiteStore

    async def submit_jobs(self, jobs: Sequence[JobRequest]) -> list[JobSubmission]:
        applied = self.store.applied()
        for request in jobs:
            state = applied[request.gateway_id]
            assert state.status is Status.INITIAL
            assert state.job_key == request.idempotency_key
        return await super().submit_jobs(jobs)

    async def job_status(self, job_ids: Sequence[str]) -> list[JobStatus]:
        stored = {s.job_id for s in self.store.applied().values()}
        assert set(job_ids) <= stored
        return await super().job_status(job_ids)


def test_every_transition_is_stored_before_the_next_headend_call(make_rig: RigFactory) -> None:
    rig = make_rig({"fleet": 8}, answer_after=2)
    auditing = Auditing(rig.driver.gateways.values(), answer_after=2, clock=rig.clock.now)
    auditing.store = rig.store
    rig.driver = auditing
    assert rig.apply({"fleet": RolloutPolicy(max_in_flight=3)}).all_accepted
    assert rig.driver.calls["submit_jobs"] > 1


class Crashing(FakeDriver):
    """Creates the jobs of its first submission, then dies before answering (a lost answer)."""

    async def submit_jobs(self, jobs: Sequence[JobRequest]) -> list[JobSubmission]:
        answers = await super().submit_jobs(jobs)
        if self.calls["submit_jobs"] == 1:
            raise SystemExit("killed")
        return answers


def test_a_resume_after_a_crash_replays_jobs_by_key_and_creates_none_twice(
    make_rig: RigFactory,
) -> None:
    rig = make_rig({"fleet": 6})
    crashing = Crashing(rig.driver.gateways.values(), clock=rig.clock.now)
    rig.driver = crashing
    with pytest.raises(SystemExit):
        rig.apply({"fleet": RolloutPolicy(max_in_flight=4)})
    assert rig.statuses() == {Status.INITIAL: len(rig.gateways)}
    first = len(crashing.created)
    outcome = rig.run(lambda engine, _: engine.resume({"fleet": RolloutPolicy(max_in_flight=4)}))
    assert outcome.all_accepted
    assert len(crashing.created) == len(rig.gateways)  # the first batch was replayed, not redone
    assert len(crashing.requests) == len(rig.gateways) + first


def test_stopping_starts_no_more_jobs_and_a_resume_finishes_the_rest(
    make_rig: RigFactory,
) -> None:
    rig = make_rig({"fleet": 10}, answer_after=3)
    policy = RolloutPolicy(max_in_flight=3)

    async def stop_after_first_tick(engine: Engine, repo: Repo) -> Outcome:
        engine.on_progress = lambda _: engine.stopping.set()
        return await engine.apply(rig.plan(repo), commit="c1", policies={"fleet": policy})

    stopped = rig.run(stop_after_first_tick)
    assert stopped.counts() == Counter(
        {
            Status.ACCEPTED: policy.max_in_flight,
            Status.INITIAL: len(rig.gateways) - policy.max_in_flight,
        }
    )
    assert [r.state for r in rig.store.rollouts()] == ["running"]
    resumed = rig.run(lambda engine, _: engine.resume({"fleet": policy}))
    assert resumed.all_accepted
    assert rig.statuses() == {Status.ACCEPTED: len(rig.gateways)}
    assert [r.state for r in rig.store.rollouts()] == ["finished"]


def test_drift_right_after_acceptance_is_reported_as_mismatch(make_rig: RigFactory) -> None:
    rig = make_rig({"fleet": 4})
    drifting = next(iter(rig.gateways))
    rig.driver.keep_live(drifting)
    rig.apply({"fleet": RolloutPolicy(on_mismatch="report")})
    state = rig.store.get(drifting)
    assert state is not None and state.status is Status.MISMATCH
    assert state.reason.startswith("live configuration differs: ")
    assert len(rig.driver.jobs_for(drifting)) == 1


def test_drift_right_after_acceptance_is_reapplied_once_and_counted_once(
    make_rig: RigFactory,
) -> None:
    rig = make_rig({"fleet": 4})
    drifting = next(iter(rig.gateways))
    rig.driver.keep_live(drifting)
    outcome = rig.apply({"fleet": RolloutPolicy(on_mismatch="reapply")})
    assert len(rig.driver.jobs_for(drifting)) == 2  # the accepted values pushed once more
    group = outcome.groups["fleet"]
    assert all(n >= 0 for n in group.counts.values())
    assert sum(group.counts.values()) == group.total == len(rig.gateways)
    history = [t.status for t in rig.store.transitions(drifting)]
    assert (
        history.count(Status.MISMATCH) == 2
    )  # found again after the reapply: reported, not looped


def test_read_back_finds_drift_and_repair_pushes_the_accepted_values(
    make_rig: RigFactory,
) -> None:
    rig = make_rig({"fleet": 4})
    rig.apply()
    drifting = list(rig.gateways)[1]
    rig.driver.drift(drifting, {"HeartbeatInterval": 1234})
    assert rig.run(lambda engine, _: engine.read_back()) == [drifting]
    state = rig.store.get(drifting)
    assert state is not None and dict(state.mismatch) == {"HeartbeatInterval": 1234}
    policies = {"fleet": RolloutPolicy(on_mismatch="reapply")}
    repaired = rig.run(lambda engine, _: engine.repair(policies))
    assert repaired.all_accepted and repaired.groups["fleet"].total == 1
    sent = rig.driver.jobs_for(drifting)[-1].request.parameters
    assert sent == {"HeartbeatInterval": state.accepted["HeartbeatInterval"]}
    assert rig.run(lambda engine, _: engine.read_back()) == []
