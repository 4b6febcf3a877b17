"""The abort policy in virtual time, and what starts the gateways an aborted rollout left Initial."""

from __future__ import annotations

import pytest

from reconciler.engine.rollouts import NothingToRetry
from reconciler.model.files import AbortPolicy, RolloutPolicy
from reconciler.model.state import Status

from .rig import Rig, RigFactory

ABORT = AbortPolicy(min_attempted=4, max_declined_ratio=0.5)
POLICY = RolloutPolicy(max_in_flight=2, abort=ABORT)


def aborted_rollout(make_rig: RigFactory) -> tuple[Rig, int]:
    """A fleet whose every job is declined, rolled out under POLICY; returns the declines."""
    rig = make_rig({"fleet": 20})
    rig.driver.decline(*rig.gateways)
    outcome = rig.apply({"fleet": POLICY})
    assert outcome.groups["fleet"].aborted.startswith("aborted: ")
    return rig, len(rig.with_status(Status.DECLINED))


def test_the_abort_policy_stops_starting_jobs_once_the_declined_share_is_too_high(
    make_rig: RigFactory,
) -> None:
    rig, declined = aborted_rollout(make_rig)
    # Judged once min_attempted jobs were attempted: at most one tick's worth more were started.
    assert ABORT.min_attempted <= declined < ABORT.min_attempted + POLICY.max_in_flight
    assert len(rig.driver.created) == declined  # nothing started after the abort
    assert rig.statuses() == {
        Status.DECLINED: declined,
        Status.INITIAL: len(rig.gateways) - declined,
    }
    assert [r.state for r in rig.store.rollouts()] == ["aborted"]


def test_a_rollout_under_the_ratio_is_not_aborted(make_rig: RigFactory) -> None:
    rig = make_rig({"fleet": 20})
    declining = list(rig.gateways)[1::4]  # one in four: under the ratio at every point
    rig.driver.decline(*declining)
    outcome = rig.apply({"fleet": POLICY})
    assert not outcome.groups["fleet"].aborted
    assert rig.statuses() == {
        Status.DECLINED: len(declining),
        Status.ACCEPTED: len(rig.gateways) - len(declining),
    }
    assert [r.state for r in rig.store.rollouts()] == ["finished"]


def test_a_new_commit_restarts_the_gateways_an_aborted_rollout_left_initial(
    make_rig: RigFactory,
) -> None:
    rig, declined = aborted_rollout(make_rig)
    left = {s.gateway_id for s in rig.with_status(Status.INITIAL)}
    rig.driver.accept(*rig.gateways)
    # The new commit's plan leaves them out (their target is unchanged); the engine restarts them.
    outcome = rig.apply({"fleet": POLICY}, commit="c2")
    assert outcome.groups["fleet"].total == len(left)
    assert rig.statuses() == {Status.ACCEPTED: len(left), Status.DECLINED: declined}
    restarted = {s.gateway_id: s for s in rig.store.applied().values() if s.gateway_id in left}
    assert {s.commit for s in restarted.values()} == {"c2"}
    assert [r.state for r in rig.store.rollouts()] == ["aborted", "finished"]
    assert len(rig.driver.created) == declined + len(left)


def test_the_same_commit_applied_again_does_not_restart_them(make_rig: RigFactory) -> None:
    rig, _ = aborted_rollout(make_rig)
    created = len(rig.driver.created)
    assert rig.apply({"fleet": POLICY}, commit="c1").groups == {}
    assert len(rig.driver.created) == created


def test_retry_upload_pushes_the_declined_and_the_left_initial_members(
    make_rig: RigFactory,
) -> None:
    rig, _ = aborted_rollout(make_rig)
    rig.driver.accept(*rig.gateways)
    outcome = rig.run(lambda engine, _: engine.retry("fleet", policies={"fleet": POLICY}))
    assert outcome.all_accepted
    assert outcome.groups["fleet"].total == len(rig.gateways)
    assert rig.statuses() == {Status.ACCEPTED: len(rig.gateways)}


def test_retry_upload_is_refused_when_every_member_is_accepted(make_rig: RigFactory) -> None:
    rig = make_rig({"fleet": 3})
    assert rig.apply().all_accepted
    with pytest.raises(NothingToRetry, match="nothing to retry"):
        rig.run(lambda engine, _: engine.retry("fleet", policies={}))
