"""Failures in virtual time: silent head-ends, outages, refusals and a lost token (lost jobs: test_lost_jobs)."""

from __future__ import annotations

import pytest

from reconciler import errors
from reconciler.model.state import Status

from .rig import RigFactory


def test_a_job_the_headend_never_answers_is_declined_after_job_timeout_s(
    make_rig: RigFactory,
) -> None:
    rig = make_rig({"fleet": 6})
    silent = list(rig.gateways)[:2]
    rig.driver.never_answer(*silent)
    outcome = rig.apply()
    timeout = rig.settings.job_timeout_s
    declined = rig.with_status(Status.DECLINED)
    assert sorted(s.gateway_id for s in declined) == sorted(silent)
    assert {s.reason for s in declined} == {f"no answer within {timeout:.0f} s"}
    assert rig.statuses()[Status.ACCEPTED] == len(rig.gateways) - len(silent)
    assert timeout < rig.clock.elapsed <= timeout + 2 * rig.settings.poll_interval_s
    assert not outcome.all_accepted


def test_transient_submit_failures_are_resubmitted_after_a_doubling_backoff(
    make_rig: RigFactory,
) -> None:
    rig = make_rig({"fleet": 5})
    failures = rig.settings.submit_attempts - 1
    rig.driver.fail_next(failures)
    started_at = rig.clock.now()
    outcome = rig.apply()
    assert outcome.all_accepted
    backoff = sum(rig.settings.resubmit_backoff_s * 2**n for n in range(failures))
    assert {job.created_at - started_at for job in rig.driver.created} == {backoff}
    assert rig.driver.calls["submit_jobs"] == failures + 1
    assert {s.attempts for s in rig.store.applied().values()} == {failures}
    assert len(rig.driver.created) == len(rig.gateways)


def test_an_outage_longer_than_the_resubmissions_declines_with_retries_exhausted(
    make_rig: RigFactory,
) -> None:
    rig = make_rig({"fleet": 5})
    attempts = rig.settings.submit_attempts
    rig.driver.fail_next(attempts)
    rig.apply()
    declined = rig.with_status(Status.DECLINED)
    assert len(declined) == len(rig.gateways)
    assert all(s.reason.startswith("retries exhausted: ") for s in declined)
    assert {s.attempts for s in declined} == {attempts}
    assert rig.driver.calls["submit_jobs"] == attempts
    backoff = sum(rig.settings.resubmit_backoff_s * 2**n for n in range(attempts - 1))
    assert backoff <= rig.clock.elapsed < backoff + rig.settings.poll_interval_s
    assert rig.driver.created == []


def test_a_permanent_submit_failure_declines_without_resubmitting(make_rig: RigFactory) -> None:
    rig = make_rig({"fleet": 3})
    refused = errors.PermanentHeadendError("schema says no", endpoint="jobs:batch", status=400)
    rig.driver.fail_next(error=refused)
    rig.apply()
    declined = rig.with_status(Status.DECLINED)
    assert len(declined) == len(rig.gateways)
    assert {s.reason for s in declined} == {str(refused)}
    assert rig.driver.calls["submit_jobs"] == 1


def test_an_entry_the_headend_refuses_is_declined_with_its_error_code(
    make_rig: RigFactory,
) -> None:
    rig = make_rig({"fleet": 3})
    unknown = next(iter(rig.gateways))
    rig.driver.refuse(unknown, message="no such gateway")
    rig.apply()
    state = rig.store.get(unknown)
    assert state is not None and state.status is Status.DECLINED
    assert state.reason == "not_found: no such gateway"
    assert rig.statuses()[Status.ACCEPTED] == len(rig.gateways) - 1


def test_a_decline_keeps_the_rejected_parameters_in_its_reason(make_rig: RigFactory) -> None:
    rig = make_rig({"fleet": 2})
    gid = next(iter(rig.gateways))
    rig.driver.decline(gid, reason="refused", rejected={"ApnName": "not in LSX syntax"})
    rig.apply()
    state = rig.store.get(gid)
    assert state is not None and state.reason == "refused; rejected: ApnName: not in LSX syntax"


def test_a_lost_token_stops_the_run_and_leaves_every_status_durable(
    make_rig: RigFactory,
) -> None:
    rig = make_rig({"fleet": 4})
    rig.driver.fail_next(error=errors.AuthenticationError("token refused", status=401))
    with pytest.raises(errors.AuthenticationError):
        rig.apply()
    assert rig.statuses() == {Status.INITIAL: len(rig.gateways)}
    assert all(s.job_key for s in rig.store.applied().values())
