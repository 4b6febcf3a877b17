"""The engine's pure decisions, with plain values: admission, statuses, aborts, resubmission, timeouts, lost jobs, stalls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from reconciler import errors
from reconciler.drivers.base import JobStatus
from reconciler.engine import decisions
from reconciler.engine.decisions import DEFAULT_POLICY, policy_for
from reconciler.engine.settings import EngineSettings
from reconciler.model.files import AbortPolicy, RolloutPolicy
from reconciler.model.state import AppliedGateway, Status


@dataclass
class Queued:
    name: str
    not_before: float = 0.0


@dataclass
class Group:
    policy: RolloutPolicy
    started_at: float = 0.0
    submitted: int = 0
    aborted: str = ""


def queue(count: int, *, prefix: str = "g") -> list[Queued]:
    return [Queued(f"{prefix}{n}") for n in range(count)]


# --- policy_for ----------------------------------------------------------------------------------


def test_a_profile_gets_its_own_policy_and_everything_else_the_default() -> None:
    own = RolloutPolicy(max_in_flight=7)
    policies = {"fleet": own}
    assert policy_for(policies, "fleet") is own
    assert policy_for(policies, "depot") is DEFAULT_POLICY
    assert policy_for(policies, None) is DEFAULT_POLICY
    assert policy_for(policies, "") is DEFAULT_POLICY


# --- admission -----------------------------------------------------------------------------------


def test_the_quota_is_the_smallest_of_engine_room_and_profile_room() -> None:
    policy = RolloutPolicy(max_in_flight=10)
    assert decisions.quota(policy, room=100, active=4, submitted=0, elapsed=0) == 10 - 4
    assert decisions.quota(policy, room=3, active=4, submitted=0, elapsed=0) == 3
    assert decisions.quota(policy, room=100, active=10, submitted=0, elapsed=0) <= 0


def test_the_pace_lets_the_nth_job_start_n_intervals_after_the_rollout_began() -> None:
    pace = 30
    interval = 60 / pace
    policy = RolloutPolicy(max_in_flight=1_000, max_per_minute=pace)
    for started in range(5):
        due = started * interval
        assert decisions.quota(policy, room=1_000, active=0, submitted=started, elapsed=due) == 1
        early = due - interval / 2 if started else None
        if early is not None:
            assert (
                decisions.quota(policy, room=1_000, active=0, submitted=started, elapsed=early) <= 0
            )
    # A rollout that fell behind (jobs waited for room) catches up by at most what the pace allows.
    behind = decisions.quota(policy, room=1_000, active=0, submitted=0, elapsed=60)
    assert behind == pace + 1


def test_admission_takes_due_jobs_from_the_front_and_defers_those_backing_off() -> None:
    jobs = queue(6)
    jobs[1].not_before = jobs[3].not_before = 50.0
    admission = decisions.admissible(jobs, 3, now=10.0)
    assert [j.name for j in admission.start] == ["g0", "g2", "g4"]
    assert [j.name for j in admission.deferred] == ["g1", "g3"]
    assert admission.taken == len(admission.start) + len(admission.deferred)
    later = decisions.admissible(jobs, 3, now=50.0)
    assert [j.name for j in later.start] == ["g0", "g1", "g2"] and later.deferred == []


def test_admission_starts_nothing_without_quota() -> None:
    admission = decisions.admissible(queue(4), 0, now=0.0)
    assert admission.start == [] and admission.deferred == [] and admission.taken == 0


def test_engine_room_is_shared_out_in_queue_order_and_aborted_profiles_start_nothing() -> None:
    roomy = RolloutPolicy(max_in_flight=100)
    queues = {"a": queue(5, prefix="a"), "b": queue(5, prefix="b"), "c": queue(5, prefix="c")}
    groups = {
        "a": Group(roomy),
        "b": Group(roomy, aborted="aborted: 4 of 4 declined"),
        "c": Group(roomy),
    }
    room = 7
    chosen = decisions.admit(queues, groups, active={}, room=room, now=0.0)
    assert "b" not in chosen
    assert len(chosen["a"].start) == len(queues["a"])
    assert len(chosen["c"].start) == room - len(queues["a"])


def test_a_profile_at_its_max_in_flight_waits_while_others_start() -> None:
    narrow = RolloutPolicy(max_in_flight=2)
    queues = {"a": queue(5, prefix="a"), "b": queue(5, prefix="b")}
    groups = {"a": Group(narrow), "b": Group(narrow)}
    chosen = decisions.admit(queues, groups, active={"a": 2, "b": 1}, room=100, now=0.0)
    assert "a" not in chosen
    assert len(chosen["b"].start) == narrow.max_in_flight - 1


# --- job statuses --------------------------------------------------------------------------------

TARGET = {"HeartbeatInterval": 600}


def reported(status: str, **extra: object) -> JobStatus:
    return JobStatus("job-1", "LSX-000000", status, **extra)  # type: ignore[arg-type]


def at(status: Status, **fields: Any) -> AppliedGateway:
    base: dict[str, Any] = {"target": TARGET, "send": TARGET}
    return AppliedGateway("LSX-000000", "LSX", "2.0.0", "p", status, **(base | fields))


def no_reboot(key: str) -> bool:
    return False


def test_sent_moves_requested_to_sent_once() -> None:
    assert decisions.next_status(at(Status.REQUESTED), reported("sent"), no_reboot) == (
        (Status.SENT, {}),
    )
    assert decisions.next_status(at(Status.SENT), reported("sent"), no_reboot) == ()
    assert decisions.next_status(at(Status.REQUESTED), reported("requested"), no_reboot) == ()


def test_accepted_takes_the_target_as_the_accepted_configuration() -> None:
    ((status, fields),) = decisions.next_status(at(Status.SENT), reported("accepted"), no_reboot)
    assert status is Status.ACCEPTED
    assert fields == {
        "accepted": TARGET,
        "send": {},
        "reason": "",
        "mismatch": {},
        "reboot_pending": (),
    }


@pytest.mark.parametrize("answer", ["accepted", "declined"])
def test_an_answer_seen_while_still_requested_records_sent_first(answer: str) -> None:
    steps = decisions.next_status(at(Status.REQUESTED), reported(answer), no_reboot)
    assert [status for status, _ in steps] == [Status.SENT, Status(answer.capitalize())]


def test_a_decline_keeps_the_reason_and_every_rejected_parameter() -> None:
    answer = reported(
        "declined",
        reason="gateway refused",
        rejected_parameters={"Zeta": "out of bounds", "ApnName": "not in LSX 2.0.0 syntax"},
    )
    ((status, fields),) = decisions.next_status(at(Status.SENT), answer, no_reboot)
    assert status is Status.DECLINED
    assert fields["reason"] == (
        "gateway refused; rejected: ApnName: not in LSX 2.0.0 syntax, Zeta: out of bounds"
    )
    assert "accepted" not in fields  # nothing applied: the accepted configuration stays
    assert decisions.declined_reason(None, {}) == "declined"


def test_a_job_applied_in_part_keeps_the_applied_keys_as_accepted() -> None:
    target = {"HeartbeatInterval": 600, "ConnectionTimeOut": 90, "Bogus": "x"}
    state = at(Status.SENT, target=target, send=target, accepted={"HeartbeatInterval": 900})
    answer = reported(
        "declined",
        reason="Bogus: not supported",
        rejected_parameters={"Bogus": "not supported"},
        applied_parameters=("HeartbeatInterval", "ConnectionTimeOut"),
    )
    ((status, fields),) = decisions.next_status(state, answer, no_reboot)
    assert status is Status.DECLINED
    assert fields["accepted"] == {"HeartbeatInterval": 600, "ConnectionTimeOut": 90}


def test_reboot_required_marks_the_keys_that_need_a_reboot_pending() -> None:
    target = {"HeartbeatInterval": 600, "NetworkConfigurationPriority": "1,0"}
    state = at(Status.SENT, target=target, send=target)
    answer = reported("accepted", reboot_required=True)
    ((status, fields),) = decisions.next_status(
        state, answer, lambda key: key == "NetworkConfigurationPriority"
    )
    assert status is Status.ACCEPTED
    assert fields["reboot_pending"] == ("NetworkConfigurationPriority",)
    # The catalog names no reboot key: every key sent is pending.
    ((_, fields),) = decisions.next_status(state, answer, no_reboot)
    assert fields["reboot_pending"] == ("HeartbeatInterval", "NetworkConfigurationPriority")
    # Without the flag, keys still pending from an earlier job stay pending.
    earlier = at(Status.SENT, target=target, send={}, reboot_pending=("X",))
    ((_, fields),) = decisions.next_status(earlier, reported("accepted"), no_reboot)
    assert fields["reboot_pending"] == ("X",)


# --- giving up -----------------------------------------------------------------------------------

ABORTING = RolloutPolicy(abort=AbortPolicy(min_attempted=10, max_declined_ratio=0.2))


def test_no_abort_before_min_attempted_whatever_the_share() -> None:
    below = ABORTING.abort.min_attempted - 1  # type: ignore[union-attr]
    assert decisions.abort_reason(below, below, ABORTING) == ""


def test_an_abort_needs_a_declined_share_above_the_ratio() -> None:
    abort = ABORTING.abort
    assert abort is not None
    attempted = abort.min_attempted
    at_ratio = round(attempted * abort.max_declined_ratio)
    assert decisions.abort_reason(attempted, at_ratio, ABORTING) == ""
    reason = decisions.abort_reason(attempted, at_ratio + 1, ABORTING)
    assert reason.startswith(f"aborted: {at_ratio + 1} of {attempted} declined")


def test_without_abort_criteria_a_rollout_never_aborts() -> None:
    assert decisions.abort_reason(1_000, 1_000, DEFAULT_POLICY) == ""


SETTINGS = EngineSettings(submit_attempts=4, resubmit_backoff_s=2.0)
OUTAGE = errors.ServerError("unavailable", endpoint="jobs:batch", status=503)


def test_a_transient_failure_is_resubmitted_with_a_doubling_backoff() -> None:
    now = 100.0
    delays = []
    for attempts in range(SETTINGS.submit_attempts - 1):
        verdict = decisions.resubmission(attempts, OUTAGE, SETTINGS, now)
        assert verdict.attempts == attempts + 1
        assert verdict.retry_at is not None
        delays.append(verdict.retry_at - now)
    assert delays == [SETTINGS.resubmit_backoff_s * 2**n for n in range(len(delays))]


def test_the_last_transient_failure_declines_with_retries_exhausted() -> None:
    verdict = decisions.resubmission(SETTINGS.submit_attempts - 1, OUTAGE, SETTINGS, 0.0)
    assert verdict.retry_at is None
    assert verdict.attempts == SETTINGS.submit_attempts
    assert verdict.reason == f"retries exhausted: {OUTAGE}"


def test_a_permanent_failure_declines_at_once_with_its_message() -> None:
    refused = errors.PermanentHeadendError("bad request", endpoint="jobs:batch", status=400)
    verdict = decisions.resubmission(0, refused, SETTINGS, 0.0)
    assert verdict.retry_at is None and verdict.attempts == 1
    assert verdict.reason == str(refused)


def test_a_job_times_out_only_after_more_than_job_timeout_s() -> None:
    timeout = 60.0
    assert decisions.timeout_reason(0.0, timeout, timeout) == ""
    assert decisions.timeout_reason(0.0, timeout + 0.25, timeout) == "no answer within 60 s"


def test_a_job_is_lost_only_when_unreported_for_more_than_the_grace() -> None:
    grace = SETTINGS.lost_job_grace_s
    assert not decisions.is_lost(0.0, grace, grace)
    assert decisions.is_lost(0.0, grace + 0.25, grace)


def test_a_lost_job_is_resubmitted_until_lost_job_attempts_losses_then_declined() -> None:
    attempts = SETTINGS.lost_job_attempts
    assert all(decisions.lost_reason(n, SETTINGS) == "" for n in range(1, attempts))
    assert decisions.lost_reason(attempts, SETTINGS) == (
        f"lost by the head-end {attempts} times (left out of its job status answers "
        f"for over {SETTINGS.lost_job_grace_s:.0f} s each time)"
    )


def test_a_run_is_stalled_by_a_long_quiet_with_jobs_in_flight_or_by_jobs_lost_again() -> None:
    after = SETTINGS.stall_after_s

    def quiet(in_flight: int, quiet_s: float) -> str:
        return decisions.stall_reason(
            in_flight=in_flight, quiet_s=quiet_s, relost=0, relost_ago=None, stall_after_s=after
        )

    def relost(ago: float) -> str:
        return decisions.stall_reason(
            in_flight=1, quiet_s=0.0, relost=2, relost_ago=ago, stall_after_s=after
        )

    assert quiet(3, after) == "" and quiet(0, after + 1) == ""
    assert quiet(3, after + 1) == f"3 jobs in flight and none moved for {after + 1:.0f} s"
    assert relost(after) == (
        f"the head-end keeps losing jobs: 2 lost again after a resubmission, the last {after:.0f} s ago"
    )
    assert relost(after + 1) == ""


def test_drift_is_reapplied_once_and_only_under_reapply() -> None:
    reapply = RolloutPolicy(on_mismatch="reapply")
    assert decisions.reapplies(reapply, already_reapplied=False)
    assert not decisions.reapplies(reapply, already_reapplied=True)
    assert not decisions.reapplies(DEFAULT_POLICY, already_reapplied=False)
