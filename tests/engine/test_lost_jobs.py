"""Jobs the head-end loses, in virtual time: resubmitted after the grace with their keys, bounded, visible."""

from __future__ import annotations

import logging

import pytest

from reconciler.model.files import RolloutPolicy
from reconciler.model.state import Status

from .rig import RigFactory

SLOTS = 4
"""``max_in_flight`` of the profile in these tests: fewer slots than gateways."""


def test_jobs_a_restarted_headend_forgot_are_resubmitted_with_their_keys_after_the_grace(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig({"fleet": 3 * SLOTS}, answer_after=4)
    restarted_at: list[float] = []

    def restart() -> None:
        restarted_at.append(rig.clock.now())
        rig.driver.drop_jobs()

    rig.driver.before_poll(2, restart)
    with caplog.at_level(logging.INFO, logger="reconciler.engine"):
        outcome = rig.apply({"fleet": RolloutPolicy(max_in_flight=SLOTS)})

    lost = [job.gateway_id for job in rig.driver.dropped]
    assert len(lost) == SLOTS  # every job in flight when the head-end restarted
    assert outcome.all_accepted and rig.statuses() == {Status.ACCEPTED: len(rig.gateways)}
    assert len(rig.driver.created) == len(rig.gateways) + len(
        lost
    )  # each lost job created once more
    for gid in lost:
        assert len({r.idempotency_key for r in rig.driver.requests if r.gateway_id == gid}) == 1
        _, again = rig.driver.jobs_for(gid)
        # Last reported by the poll before the restart; resubmitted at the first poll after the grace.
        last_seen = restarted_at[0] - rig.settings.poll_interval_s
        grace = rig.settings.lost_job_grace_s
        assert grace < again.created_at - last_seen <= grace + rig.settings.poll_interval_s
    assert rig.driver.peak_active() <= SLOTS
    assert outcome.lost_jobs == len(lost) and rig.lost == [len(lost)]
    lines = [r.getMessage() for r in caplog.records if "no longer reports" in r.getMessage()]
    assert lines == [
        f"the head-end no longer reports {len(lost)} jobs (absent for over "
        f"{rig.settings.lost_job_grace_s:.0f} s): {len(lost)} resubmitted with their idempotency "
        f"keys, 0 declined after {rig.settings.lost_job_attempts} losses"
    ]
    assert {reason for _, reason in rig.stalls} == {""}  # lost once, taken back: not a stall


def test_the_lost_slots_free_up_so_the_remaining_gateways_start(make_rig: RigFactory) -> None:
    rig = make_rig({"fleet": 3 * SLOTS}, answer_after=4)
    rig.driver.before_poll(2, rig.driver.drop_jobs)
    rig.apply({"fleet": RolloutPolicy(max_in_flight=SLOTS)})
    lost = {job.gateway_id for job in rig.driver.dropped}
    resubmitted_at = max(rig.driver.jobs_for(gid)[-1].created_at for gid in lost)
    waiting = [job for job in rig.driver.created if job.gateway_id not in lost]
    assert len(waiting) == len(rig.gateways) - SLOTS
    # They start once the lost jobs are taken again, not when job_timeout_s frees the slots.
    assert all(resubmitted_at <= job.created_at for job in waiting)
    assert rig.clock.elapsed < rig.settings.job_timeout_s
    assert rig.statuses() == {Status.ACCEPTED: len(rig.gateways)}


def test_a_job_the_headend_keeps_losing_is_declined_after_lost_job_attempts_losses(
    make_rig: RigFactory,
) -> None:
    rig = make_rig({"fleet": 4}, answer_after=3)
    forgotten = list(rig.gateways)[-1]
    rig.driver.forget(forgotten)
    outcome = rig.apply()
    attempts = rig.settings.lost_job_attempts
    state = rig.store.get(forgotten)
    assert state is not None and state.status is Status.DECLINED
    assert state.reason.startswith(f"lost by the head-end {attempts} times")
    assert len(rig.driver.jobs_for(forgotten)) == attempts  # created once per submission
    assert len({r.idempotency_key for r in rig.driver.requests if r.gateway_id == forgotten}) == 1
    assert [t.status for t in rig.store.transitions(forgotten)] == [
        Status.INITIAL,
        Status.REQUESTED,
        Status.DECLINED,
    ]
    assert rig.statuses()[Status.ACCEPTED] == len(rig.gateways) - 1
    assert outcome.lost_jobs == attempts and sum(rig.lost) == attempts
    assert rig.clock.elapsed < rig.settings.job_timeout_s


def test_a_headend_that_keeps_losing_jobs_is_reported_as_stalled(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig({"fleet": 2})
    rig.driver.forget(*rig.gateways)
    with caplog.at_level(logging.WARNING, logger="reconciler.engine"):
        rig.apply()
    reasons = [reason for _, reason in rig.stalls if reason]
    assert reasons and all(r.startswith("the head-end keeps losing jobs: ") for r in reasons)
    first = next(elapsed for elapsed, reason in rig.stalls if reason)
    # Stalled once a resubmitted job was lost again: two graces (and a tick each) in.
    grace, tick = rig.settings.lost_job_grace_s, rig.settings.poll_interval_s
    assert 2 * grace < first <= 2 * (grace + tick)
    assert sum("rollout stalled" in r.getMessage() for r in caplog.records) == 1


def test_jobs_without_an_answer_stall_the_run_after_stall_after_s_until_they_time_out(
    make_rig: RigFactory,
) -> None:
    rig = make_rig({"fleet": 3})
    rig.driver.never_answer(*rig.gateways)
    rig.apply()
    stall_after = rig.settings.stall_after_s
    stalled = [(elapsed, reason) for elapsed, reason in rig.stalls if reason]
    assert stalled and stall_after < stalled[0][0] <= stall_after + rig.settings.poll_interval_s
    quiet_after = [e for e, reason in rig.stalls if not reason and e > stall_after]
    assert quiet_after == [rig.stalls[-1][0]]  # the last tick: the jobs timed out, none in flight
    assert (
        stalled[0][1]
        == f"{len(rig.gateways)} jobs in flight and none moved for {stall_after:.0f} s"
    )
    assert rig.statuses() == {Status.DECLINED: len(rig.gateways)}  # job_timeout_s still ends them


def test_a_rollout_that_moves_is_never_stalled(make_rig: RigFactory) -> None:
    rig = make_rig({"fleet": 10}, answer_after=3)
    outcome = rig.apply()
    assert outcome.all_accepted and outcome.lost_jobs == 0 and outcome.stalled == ""
    assert {reason for _, reason in rig.stalls} == {""} and rig.lost == []
