"""The HTTP driver against the real simulator over loopback: the happy paths of section 6."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from packaging.version import Version

from reconciler import errors
from reconciler.drivers.base import JobRequest, JobStatus
from reconciler.drivers.http import HttpDriver
from reconciler.loading.catalogs import shipped_catalog
from reconciler.testing import SimulatorHandle
from tests.drivers.conftest import StartSimulator
from tests.drivers.helpers import driver_for


async def wait_final(
    driver: HttpDriver, job_ids: list[str], timeout: float = 5.0
) -> list[JobStatus]:
    """Poll job status until every job is accepted or declined."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        statuses = await driver.job_status(job_ids)
        if all(s.status in ("accepted", "declined") for s in statuses):
            return statuses
        assert asyncio.get_running_loop().time() < deadline, statuses
        await asyncio.sleep(0.01)


def job(gateway_id: str, key: str, **parameters: Any) -> JobRequest:
    return JobRequest(gateway_id, parameters, key)


async def test_inventory_follows_every_page_to_the_whole_fleet(
    start_simulator: StartSimulator,
) -> None:
    sim = start_simulator(fleet=1234)
    async with driver_for(sim, page_size=100) as driver:
        gateways = await driver.inventory()
    assert len(gateways) == 1234
    assert len({g.id for g in gateways}) == 1234
    assert sim.counters()["requests"]["gateways"] == 13  # ceil(1234 / 100)


async def test_inventory_spreads_types_and_firmware_over_the_catalog_ranges(
    start_simulator: StartSimulator,
) -> None:
    sim = start_simulator(fleet=300, seed=7)
    async with driver_for(sim) as driver:
        gateways = await driver.inventory()
    ranges = {"LSX": ("1.1.0", "3.0.1"), "LSG": ("3.1.0", "4.1.3"), "ACCU": ("1.0.0", "2.0.0")}
    for gateway in gateways:
        # Types without firmware ranges in their catalog (the OCPP chargers) run vendor versions.
        low, high = ranges.get(gateway.type, ("1.0.0", "9.9.9"))
        assert Version(low) <= Version(gateway.firmware) <= Version(high)
        assert 1 <= len(gateway.stations) <= 2
        assert all(1 <= len(s.ports) <= 2 for s in gateway.stations)
        assert gateway.provider
        assert gateway.address
        assert gateway.owner
    assert {g.type for g in gateways} == set(shipped_catalog().types)
    assert len({(g.type, g.firmware) for g in gateways}) >= 10


async def test_the_same_seed_gives_the_same_fleet(start_simulator: StartSimulator) -> None:
    first, second, other = (start_simulator(fleet=50, seed=s) for s in (3, 3, 4))
    async with driver_for(first) as a, driver_for(second) as b, driver_for(other) as c:
        assert await a.inventory() == await b.inventory()
        assert await a.inventory() != await c.inventory()


async def test_live_configs_start_at_the_firmware_defaults_without_secrets(
    simulator: SimulatorHandle,
) -> None:
    async with driver_for(simulator) as driver:
        inventory = {g.id: g for g in await driver.inventory()}
        configs = await driver.read_configs(sorted(inventory))
    lsx = next(c for c in configs.values() if inventory[c.gateway_id].type == "LSX")
    assert lsx.parameters["HeartbeatInterval"] == 900
    assert lsx.parameters["MaxChargingCurrent"] == 32
    assert "AuthorizationKey" not in lsx.parameters
    accu = next(c for c in configs.values() if inventory[c.gateway_id].type == "ACCU")
    assert accu.parameters["MaxChargingCurrent"] == 125
    assert accu.parameters["MinStateOfCharge"] == 20


async def test_read_configs_leaves_unknown_gateways_out(simulator: SimulatorHandle) -> None:
    async with driver_for(simulator) as driver:
        configs = await driver.read_configs(["LSX-000000", "NOPE-1", "LSG-000001"])
    assert sorted(configs) == ["LSG-000001", "LSX-000000"]


async def test_an_accepted_job_changes_the_live_configuration(simulator: SimulatorHandle) -> None:
    async with driver_for(simulator) as driver:
        [submission] = await driver.submit_jobs(
            [job("LSX-000000", "k-1", HeartbeatInterval=600, MaxChargingCurrent=16)]
        )
        assert submission.ok
        assert submission.status == "requested"
        assert submission.job_id is not None
        seen = set()
        while True:
            [status] = await driver.job_status([submission.job_id])
            seen.add(status.status)
            if status.status == "accepted":
                break
            await asyncio.sleep(0.001)
        configs = await driver.read_configs(["LSX-000000"])
    assert {"requested", "accepted"} <= seen
    assert configs["LSX-000000"].parameters["HeartbeatInterval"] == 600
    assert configs["LSX-000000"].parameters["MaxChargingCurrent"] == 16


async def test_a_key_outside_the_firmware_syntax_is_declined_with_rejected_parameters(
    simulator: SimulatorHandle,
) -> None:
    async with driver_for(simulator) as driver:
        # LSG gateways never know LightIntensity (docs/reference/catalog.md).
        [submission] = await driver.submit_jobs(
            [job("LSG-000001", "k-1", LightIntensity=50, HeartbeatInterval=600)]
        )
        assert submission.job_id is not None
        [status] = await wait_final(driver, [submission.job_id])
        configs = await driver.read_configs(["LSG-000001"])
    assert status.status == "declined"
    assert status.reason
    assert list(status.rejected_parameters) == ["LightIntensity"]
    assert "not in the syntax of LSG" in status.rejected_parameters["LightIntensity"]
    assert configs["LSG-000001"].parameters["HeartbeatInterval"] == 900  # nothing applied


async def test_a_value_out_of_bounds_is_declined_with_the_reason(
    simulator: SimulatorHandle,
) -> None:
    async with driver_for(simulator) as driver:
        [submission] = await driver.submit_jobs(
            [job("LSX-000000", "k-1", MaxChargingCurrent=99, AuthorizationKey="short")]
        )
        assert submission.job_id is not None
        [status] = await wait_final(driver, [submission.job_id])
    assert status.status == "declined"
    assert "6 to 32" in status.rejected_parameters["MaxChargingCurrent"]
    if "AuthorizationKey" in status.rejected_parameters:  # only where the firmware knows the key
        assert "at least 16 characters" in status.rejected_parameters["AuthorizationKey"]


async def test_a_secret_within_its_length_is_accepted_and_never_read_back(
    start_simulator: StartSimulator,
) -> None:
    sim = start_simulator(fleet=3, seed=1)
    async with driver_for(sim) as driver:
        accu = next(g for g in await driver.inventory() if g.type == "ACCU")
        [submission] = await driver.submit_jobs([job(accu.id, "k-1", AuthorizationKey="x" * 20)])
        assert submission.job_id is not None
        [status] = await wait_final(driver, [submission.job_id])
        configs = await driver.read_configs([accu.id])
    assert status.status == "accepted"
    assert "AuthorizationKey" not in configs[accu.id].parameters


async def test_resubmitting_with_the_same_idempotency_key_returns_the_same_job(
    simulator: SimulatorHandle,
) -> None:
    request = job("LSX-000000", "rollout-7/LSX-000000/1", HeartbeatInterval=600)
    async with driver_for(simulator) as driver:
        [first] = await driver.submit_jobs([request])
        [again] = await driver.submit_jobs([request])
        single = await driver.submit_job(request)
    assert first.job_id == again.job_id == single.job_id
    counters = simulator.counters()
    assert counters["jobs_created"] == 1
    assert counters["idempotent_replays"] == 2


async def test_a_batch_over_500_is_split_and_results_keep_request_order(
    start_simulator: StartSimulator,
) -> None:
    sim = start_simulator(fleet=1200)
    async with driver_for(sim) as driver:
        ids = [g.id for g in await driver.inventory()][:1001]
        jobs = [job(gid, f"k-{n}", HeartbeatInterval=60 + n) for n, gid in enumerate(ids)]
        submissions = await driver.submit_jobs(jobs)
        statuses = await driver.job_status([s.job_id for s in submissions if s.job_id])
        configs = await driver.read_configs(ids)
    assert [s.gateway_id for s in submissions] == ids
    assert [s.idempotency_key for s in submissions] == [j.idempotency_key for j in jobs]
    assert all(s.ok for s in submissions)
    assert len(statuses) == 1001
    assert len(configs) == 1001
    counters = sim.counters()
    assert counters["requests"]["jobs:batch"] == 3  # 500 + 500 + 1
    assert counters["requests"]["jobs:status"] == 3
    assert counters["requests"]["gateways:config"] == 3
    assert counters["jobs_created"] == 1001


async def test_an_unknown_gateway_in_a_batch_fails_only_its_own_entry(
    simulator: SimulatorHandle,
) -> None:
    async with driver_for(simulator) as driver:
        results = await driver.submit_jobs(
            [
                job("LSX-000000", "a", HeartbeatInterval=60),
                job("LSX-999999", "b", HeartbeatInterval=60),
                job("LSG-000001", "c", HeartbeatInterval=60),
            ]
        )
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error_code == "not_found"
    assert results[1].error_message
    assert "LSX-999999" in results[1].error_message


async def test_job_status_leaves_unknown_jobs_out(simulator: SimulatorHandle) -> None:
    async with driver_for(simulator) as driver:
        [submission] = await driver.submit_jobs([job("LSX-000000", "a", HeartbeatInterval=60)])
        assert submission.job_id is not None
        statuses = await driver.job_status([submission.job_id, "job-424242"])
    assert [s.job_id for s in statuses] == [submission.job_id]


async def test_drift_forced_through_the_admin_endpoint_is_visible_in_read_configs(
    simulator: SimulatorHandle,
) -> None:
    simulator.drift("LSX-000000", {"HeartbeatInterval": 1234})
    async with driver_for(simulator) as driver:
        configs = await driver.read_configs(["LSX-000000"])
    assert configs["LSX-000000"].parameters["HeartbeatInterval"] == 1234


async def test_drift_at_a_rate_changes_live_values_over_time(
    start_simulator: StartSimulator,
) -> None:
    sim = start_simulator(fleet=20, drift_rate=50.0)
    async with driver_for(sim) as driver:
        ids = [g.id for g in await driver.inventory()]
        before = await driver.read_configs(ids)
        await asyncio.sleep(0.5)
        after = await driver.read_configs(ids)
    changed = [i for i in ids if before[i].parameters != after[i].parameters]
    assert changed
    assert sim.counters()["drifts"] >= 10


async def test_a_repository_gives_the_simulated_fleet_its_ids_and_types(
    start_simulator: StartSimulator,
) -> None:
    from reconciler.loading.repos import load_repo
    from reconciler.loading.sources import DirectorySource
    from tests.conftest import EXAMPLE_REPO

    declared = load_repo(DirectorySource(EXAMPLE_REPO)).gateways
    sim = start_simulator(gateways_repo=EXAMPLE_REPO)
    async with driver_for(sim) as driver:
        inventory = await driver.inventory()
    assert {(g.id, g.type) for g in inventory} == {(g.id, g.type) for g in declared.values()}


async def test_the_response_hook_sees_every_attempt_by_endpoint_and_code(
    simulator: SimulatorHandle,
) -> None:
    seen: list[tuple[str, str]] = []
    simulator.set_faults(fail_next=["error"])
    settings = driver_for(simulator).settings
    async with HttpDriver(settings, on_response=lambda e, c, s: seen.append((e, c))) as driver:
        await driver.read_configs(["LSX-000000"])
        await driver.inventory()
    assert seen == [("gateways:config", "503"), ("gateways:config", "200"), ("gateways", "200")]


async def test_empty_batches_make_no_request(simulator: SimulatorHandle) -> None:
    async with driver_for(simulator) as driver:
        assert await driver.submit_jobs([]) == []
        assert await driver.job_status([]) == []
        assert await driver.read_configs([]) == {}
    assert simulator.counters()["requests"] == {}


async def test_an_inventory_page_that_fails_every_attempt_is_asked_for_again(
    start_simulator: StartSimulator,
) -> None:
    fleet, page_size, attempts = 250, 100, 2
    sim = start_simulator(fleet=fleet)
    # The first page fails two whole rounds of attempts; the third round gets it.
    sim.set_faults(fail_next=["error"] * (2 * attempts))
    async with driver_for(sim, page_size=page_size, max_attempts=attempts) as driver:
        gateways = await driver.inventory()
    assert len({g.id for g in gateways}) == fleet


async def test_the_inventory_gives_up_after_its_rounds(start_simulator: StartSimulator) -> None:
    sim = start_simulator(fleet=50)
    attempts, rounds = 2, 2
    sim.set_faults(fail_next=["error"] * (attempts * rounds))
    async with driver_for(sim, max_attempts=attempts, inventory_rounds=rounds) as driver:
        with pytest.raises(errors.ServerError):
            await driver.inventory()
    assert sim.counters()["requests"]["gateways"] == attempts * rounds
