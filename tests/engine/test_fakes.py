"""The test seams themselves: FakeClock's virtual time and FakeDriver's scripted head-end."""

from __future__ import annotations

import asyncio

import pytest

from reconciler import errors
from reconciler.drivers.base import JobRequest
from reconciler.testing import FakeClock, FakeDriver, fleet


def test_fake_clock_sleeps_advance_virtual_time_at_once() -> None:
    clock = FakeClock(start=100.0)

    async def nap() -> None:
        await clock.sleep(3600)
        await clock.sleep(0.25)

    asyncio.run(nap())
    assert clock.now() == 100.0 + 3600 + 0.25
    assert clock.elapsed == 3600.25 and clock.sleeps == [3600, 0.25]


def test_fake_driver_answers_on_the_scripted_poll_and_replays_by_key() -> None:
    gateways = fleet(2)
    ok, refused = list(gateways)
    driver = FakeDriver(gateways, answer_after=3)
    driver.decline(refused, reason="no", rejected={"Key": "bad"})

    async def go() -> list[list[str]]:
        requests = [JobRequest(gid, {"HeartbeatInterval": 60}, f"key-{gid}") for gid in gateways]
        first = await driver.submit_jobs(requests)
        again = await driver.submit_jobs(requests)
        assert [s.job_id for s in first] == [s.job_id for s in again]
        ids = [s.job_id for s in first if s.job_id]
        return [[s.status for s in await driver.job_status(ids)] for _ in range(3)]

    polls = asyncio.run(go())
    assert polls == [["requested"] * 2, ["sent"] * 2, ["accepted", "declined"]]
    assert len(driver.created) == len(gateways) and len(driver.requests) == 2 * len(gateways)
    assert driver.live[ok].parameters == {"HeartbeatInterval": 60}
    assert driver.live[refused].parameters == {}


def test_fake_driver_raises_for_the_next_k_calls_only() -> None:
    driver = FakeDriver(fleet(1))
    failures = 2
    driver.fail_next(failures, method="read_configs")

    async def read() -> object:
        return await driver.read_configs(list(driver.gateways))

    for _ in range(failures):
        with pytest.raises(errors.TransientHeadendError):
            asyncio.run(read())
    assert asyncio.run(read()) == driver.live
    assert driver.calls["read_configs"] == failures + 1


def test_fake_driver_drops_its_jobs_on_a_restart_and_creates_them_again_by_key() -> None:
    gateways = fleet(3)
    driver = FakeDriver(gateways, answer_after=2)
    requests = [JobRequest(gid, {"HeartbeatInterval": 60}, f"key-{gid}") for gid in gateways]
    driver.before_poll(2, driver.drop_jobs)

    async def go() -> tuple[list[str], list[str], list[str]]:
        first = [s.job_id or "" for s in await driver.submit_jobs(requests)]
        polled = [s.job_id for s in await driver.job_status(first)]
        after_restart = [s.job_id for s in await driver.job_status(first)]
        again = [s.job_id or "" for s in await driver.submit_jobs(requests)]
        assert [s.status for s in await driver.job_status(again)] == ["sent"] * len(gateways)
        return polled, after_restart, again

    polled, after_restart, again = asyncio.run(go())
    assert len(polled) == len(gateways) and after_restart == []
    assert len(driver.dropped) == len(gateways)
    assert set(again).isdisjoint(j.job_id for j in driver.dropped)
    assert len(driver.created) == 2 * len(gateways)


def test_fake_driver_keeps_losing_the_jobs_of_forgotten_gateways() -> None:
    gateways = fleet(2)
    kept, forgotten = list(gateways)
    driver = FakeDriver(gateways)
    driver.forget(forgotten)
    requests = [JobRequest(gid, {"HeartbeatInterval": 60}, f"key-{gid}") for gid in gateways]

    async def submit_and_poll() -> list[str]:
        ids = [s.job_id or "" for s in await driver.submit_jobs(requests)]
        return [s.gateway_id for s in await driver.job_status(ids)]

    assert asyncio.run(submit_and_poll()) == [kept]
    assert asyncio.run(submit_and_poll()) == [kept]  # the same job, replayed by its key
    assert [j.gateway_id for j in driver.dropped] == [forgotten, forgotten]
