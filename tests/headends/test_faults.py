"""Each injected fault and the driver's reaction, verified by the simulator's own counters."""

from __future__ import annotations

import asyncio
import time

import pytest

from reconciler import errors
from reconciler.drivers.answers import parse_retry_after
from reconciler.drivers.base import JobRequest
from reconciler.testing import SimulatorHandle
from tests.drivers.conftest import StartSimulator
from tests.drivers.helpers import driver_for


def requests_to(sim: SimulatorHandle, endpoint: str) -> int:
    return int(sim.counters()["requests"].get(endpoint, 0))


async def test_a_5xx_is_retried_until_it_succeeds(simulator: SimulatorHandle) -> None:
    simulator.set_faults(fail_next=["error", "error"])
    async with driver_for(simulator) as driver:
        configs = await driver.read_configs(["LSX-000000"])
    assert "LSX-000000" in configs
    assert simulator.counters()["responses"]["gateways:config"] == {"200": 1, "503": 2}


async def test_a_429_is_retried_after_the_retry_after_delay(
    start_simulator: StartSimulator,
) -> None:
    sim = start_simulator(retry_after_s=1)
    sim.set_faults(fail_next=["throttle"])
    async with driver_for(sim, backoff_base_s=0.001, backoff_max_s=0.001) as driver:
        start = time.monotonic()
        await driver.read_configs(["LSX-000000"])
        elapsed = time.monotonic() - start
    assert elapsed >= 1.0  # the backoff alone would be a millisecond
    assert sim.counters()["responses"]["gateways:config"] == {"200": 1, "429": 1}


async def test_a_retry_after_beyond_the_cap_is_cut_to_the_cap(
    start_simulator: StartSimulator,
) -> None:
    sim = start_simulator(retry_after_s=60)
    sim.set_faults(fail_next=["throttle"])
    async with driver_for(sim, max_retry_after_s=0.05) as driver:
        await driver.read_configs(["LSX-000000"])
    assert requests_to(sim, "gateways:config") == 2


@pytest.mark.parametrize("mode", [pytest.param("hang", id="hang"), pytest.param("drop", id="drop")])
async def test_a_timeout_or_dropped_connection_is_retried(
    simulator: SimulatorHandle, mode: str
) -> None:
    simulator.set_faults(fail_next=["timeout"], timeout_mode=mode, hang_s=5)
    async with driver_for(simulator, timeout_s=0.3) as driver:
        configs = await driver.read_configs(["LSX-000000"])
    assert "LSX-000000" in configs
    counters = simulator.counters()
    assert counters["faults"]["timeout"] == 1
    assert counters["requests"]["gateways:config"] == 2


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        pytest.param("error", errors.ServerError, id="5xx"),
        pytest.param("throttle", errors.ThrottledError, id="429"),
        pytest.param("timeout", errors.HeadendTimeoutError, id="timeout"),
    ],
)
async def test_when_retries_are_exhausted_the_transient_error_is_raised(
    start_simulator: StartSimulator, fault: str, error: type[errors.TransientHeadendError]
) -> None:
    sim = start_simulator(retry_after_s=0, timeout_mode="hang", hang_s=5)
    sim.set_faults(**{f"{fault}_rate": 1.0})
    async with driver_for(sim, max_attempts=3, timeout_s=0.2) as driver:
        with pytest.raises(error) as caught:
            await driver.submit_jobs([JobRequest("LSX-000000", {"HeartbeatInterval": 60}, "k")])
    assert isinstance(caught.value, errors.TransientHeadendError)
    assert caught.value.endpoint == "jobs:batch"
    assert requests_to(sim, "jobs:batch") == 3


async def test_a_connection_refused_is_a_transient_connection_error(
    start_simulator: StartSimulator,
) -> None:
    sim = start_simulator()
    async with driver_for(sim, base_url="http://127.0.0.1:9", max_attempts=2) as driver:
        with pytest.raises(errors.HeadendConnectionError):
            await driver.inventory()


async def test_an_outage_is_ridden_out_when_the_head_end_recovers_in_time(
    simulator: SimulatorHandle,
) -> None:
    simulator.set_faults(error_rate=1.0)
    async with driver_for(
        simulator, max_attempts=50, backoff_base_s=0.02, backoff_max_s=0.05
    ) as driver:
        call = asyncio.create_task(driver.read_configs(["LSX-000000"]))
        await asyncio.sleep(0.3)
        assert not call.done()
        await asyncio.to_thread(simulator.set_faults, error_rate=0.0)
        configs = await call
    assert "LSX-000000" in configs
    assert simulator.counters()["responses"]["gateways:config"]["503"] >= 3


async def test_a_wrong_token_is_an_authentication_error_and_not_retried(
    simulator: SimulatorHandle,
) -> None:
    async with driver_for(simulator, token="wrong") as driver:
        with pytest.raises(errors.AuthenticationError) as caught:
            await driver.inventory()
    assert caught.value.status == 401
    assert requests_to(simulator, "gateways") == 1


async def test_an_unknown_gateway_is_not_found_and_not_retried(simulator: SimulatorHandle) -> None:
    async with driver_for(simulator) as driver:
        with pytest.raises(errors.NotFoundError) as caught:
            await driver.submit_job(JobRequest("LSX-999999", {"HeartbeatInterval": 60}, "k"))
    assert "LSX-999999" in str(caught.value)
    assert isinstance(caught.value, errors.PermanentHeadendError)
    assert requests_to(simulator, "jobs") == 1


async def test_a_malformed_job_is_refused_with_422_and_not_retried(
    simulator: SimulatorHandle,
) -> None:
    async with driver_for(simulator) as driver:
        with pytest.raises(errors.MalformedRequestError) as caught:
            await driver.submit_jobs([JobRequest("LSX-000000", {"HeartbeatInterval": 60}, "")])
    assert "idempotency_key" in str(caught.value)
    assert requests_to(simulator, "jobs:batch") == 1


async def test_declines_are_drawn_at_the_decline_rate_with_a_reason(
    start_simulator: StartSimulator,
) -> None:
    sim = start_simulator(decline_rate=1.0)
    async with driver_for(sim) as driver:
        [submission] = await driver.submit_jobs(
            [JobRequest("LSX-000000", {"HeartbeatInterval": 60}, "k")]
        )
        assert submission.job_id is not None
        await asyncio.sleep(0.05)
        [status] = await driver.job_status([submission.job_id])
    assert status.status == "declined"
    assert status.reason
    assert "simulated decline" in status.reason
    assert status.rejected_parameters == {}
    assert sim.counters()["faults"]["decline"] == 1


async def test_the_client_side_rate_limit_spaces_requests(simulator: SimulatorHandle) -> None:
    async with driver_for(simulator, max_requests_per_s=20, max_concurrency=1) as driver:
        start = time.monotonic()
        await asyncio.gather(*(driver.read_configs(["LSX-000000"]) for _ in range(6)))
        elapsed = time.monotonic() - start
    assert elapsed >= 0.24  # 6 requests at 20/s with a burst of 1: five gaps of 50 ms


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        pytest.param("3", 3.0, id="delta-seconds"),
        pytest.param("Wed, 21 Oct 2015 07:28:00 GMT", 0.0, id="a date in the past"),
        pytest.param("soon", None, id="garbage"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(
    header: str | None, seconds: float | None
) -> None:
    assert parse_retry_after(header) == seconds
