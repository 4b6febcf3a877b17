"""The OCPP head-end: inventory from BootNotification, jobs for 1.6 and 2.0.1, answers, read-back.

Real WebSockets over loopback to fake chargers (:mod:`tests.ocpp.charger_doubles`),
the project's HTTP driver against the head-end's API, a real SQLite state file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.drivers.base import JobRequest
from reconciler.errors import NotFoundError
from reconciler.testing import write
from reconciler.testing.ocpp_headend import HeadendHandle, running_headend
from tests.ocpp.charger_doubles import (
    Fake16,
    Fake201,
    connect,
    driver_for,
    final_status,
    run,
)

pytestmark = pytest.mark.timeout(120)

ABB = """\
type: ABB-TERRA
extends: OCPP16
match: {vendor: ABB, model: "Terra AC.*"}
parameters:
  - key: LedBrightness
    section: display
    type: integer
    min: 0
    max: 100
    default: 80
"""

KEMPOWER = """\
type: KEMPOWER
extends: OCPP201
match: {vendor: Kempower}
"""


@pytest.fixture
def headend(tmp_path: Path) -> Any:
    with running_headend(tmp_path / "state.db", accept_unknown=True, call_timeout_s=1.0) as h:
        yield h


def test_inventory_of_both_protocols_typed_by_the_catalog_d_match(tmp_path: Path) -> None:
    repo = write(
        tmp_path / "repo",
        {
            "catalog.d/abb.yaml": ABB,
            "catalog.d/kempower.yaml": KEMPOWER,
            "gateways.d/site.yaml": "gateways:\n  - {id: CP-A, type: ABB-TERRA}\n"
            "  - {id: CP-B, type: KEMPOWER}\n  - {id: CP-C, type: OCPP16}\n",
        },
    )

    async def scenario(h: HeadendHandle) -> None:
        async with (
            connect(h.ocpp_url, "CP-A", Fake16) as a,
            connect(h.ocpp_url, "CP-B", Fake201) as b,
            connect(h.ocpp_url, "CP-C", Fake16) as c,
        ):
            await a.boot(vendor="ABB", model="Terra AC W22", firmware="1.6.4")
            await a.status(1, "Available")
            await a.status(2, "Charging")
            await b.boot(vendor="Kempower", model="S-Series", firmware="2.1")
            await b.status(1, 1)
            await b.status(2, 1)
            await c.boot(vendor="Other", model="X")
            async with driver_for(h) as driver:
                gateways = {g.id: g for g in await driver.inventory()}
        assert gateways["CP-A"].type == "ABB-TERRA"
        assert gateways["CP-A"].firmware == "1.6.4"
        assert gateways["CP-A"].vendor == "ABB" and gateways["CP-A"].model == "Terra AC W22"
        assert gateways["CP-A"].protocol == "ocpp1.6"
        assert [(s.id, s.ports) for s in gateways["CP-A"].stations] == [("CP-A", ("1", "2"))]
        assert gateways["CP-A"].busy is True  # connector 2 is Charging
        assert gateways["CP-A"].connected is True and gateways["CP-A"].last_seen
        assert gateways["CP-B"].type == "KEMPOWER" and gateways["CP-B"].protocol == "ocpp2.0.1"
        assert gateways["CP-B"].stations[0].ports == ("1-1", "2-1")
        assert gateways["CP-C"].type == "OCPP16"

    with running_headend(tmp_path / "state.db", repo=repo) as h:
        run(scenario(h))


ANSWERS_16 = ["Accepted", "RebootRequired", "Rejected", "NotSupported", "callerror", "timeout"]
ANSWERS_201 = [
    "Accepted",
    "RebootRequired",
    "Rejected",
    "UnknownVariable",
    "UnknownComponent",
    "NotSupportedAttributeType",
    "callerror",
    "timeout",
]


def _expect(answer: str, status: Any, key: str) -> None:
    if answer == "Accepted":
        assert status.status == "accepted" and not status.reboot_required
    elif answer == "RebootRequired":
        assert status.status == "accepted" and status.reboot_required
    else:
        assert status.status == "declined"
        reason = status.rejected_parameters[key]
        expected = {
            "callerror": "CALLERROR InternalError",
            "timeout": "no answer within 1 s",
            "Rejected": "rejected",
            "NotSupported": "does not support",
            "UnknownVariable": "no such variable",
            "UnknownComponent": "no such component",
            "NotSupportedAttributeType": "attribute type",
        }[answer]
        assert expected in reason
        assert key in (status.reason or "")
        assert "HeartbeatInterval" in status.applied_parameters[0]


@pytest.mark.parametrize("answer", ANSWERS_16)
def test_every_16_answer_becomes_the_job_status(headend: HeadendHandle, answer: str) -> None:
    async def scenario() -> None:
        answers = {"MeterValueSampleInterval": answer}
        async with connect(headend.ocpp_url, "CP-16", Fake16, answers=answers) as cp:
            await cp.boot()
            async with driver_for(headend) as driver:
                params = {"HeartbeatInterval": 120, "MeterValueSampleInterval": 30}
                sub = await driver.submit_job(JobRequest("CP-16", params, f"k-{answer}"))
                assert sub.status == "requested"
                status = await final_status(driver, str(sub.job_id))
            _expect(answer, status, "MeterValueSampleInterval")
            assert cp.max_outstanding == 1
            assert [p["key"] for a, p in cp.calls if a == "ChangeConfiguration"] == [
                "HeartbeatInterval",
                "MeterValueSampleInterval",
            ]

    run(scenario())


@pytest.mark.parametrize("answer", ANSWERS_201)
def test_every_201_answer_becomes_the_job_status(headend: HeadendHandle, answer: str) -> None:
    key = "SampledDataCtrlr.TxUpdatedInterval"

    async def scenario() -> None:
        limits = {"ItemsPerMessage.SetVariables": 1}  # one key per call: the others still answer
        async with connect(
            headend.ocpp_url, "CP-201", Fake201, answers={key: answer}, limits=limits
        ) as cp:
            await cp.boot()
            async with driver_for(headend) as driver:
                params = {"OCPPCommCtrlr.HeartbeatInterval": 120, key: 30}
                sub = await driver.submit_job(JobRequest("CP-201", params, f"k-{answer}"))
                status = await final_status(driver, str(sub.job_id))
            _expect(answer, status, key)

    run(scenario())


def test_the_same_idempotency_key_returns_the_same_job(headend: HeadendHandle) -> None:
    async def scenario() -> None:
        async with connect(headend.ocpp_url, "CP-1", Fake16) as cp:
            await cp.boot()
            async with driver_for(headend) as driver:
                job = JobRequest("CP-1", {"HeartbeatInterval": 60}, "same-key")
                first = await driver.submit_job(job)
                again = await driver.submit_jobs([job, job])
                assert {s.job_id for s in again} == {first.job_id}
                await final_status(driver, str(first.job_id))
                later = await driver.submit_job(job)
                assert later.job_id == first.job_id and later.status == "accepted"
                unknown = await driver.submit_jobs([JobRequest("CP-404", {"A": 1}, "k-404")])
                assert unknown[0].error_code == "not_found"
                with pytest.raises(NotFoundError):
                    await driver.submit_job(JobRequest("CP-404", {"A": 1}, "k-405"))
            assert [a for a in cp.actions() if a == "ChangeConfiguration"] == [
                "ChangeConfiguration"
            ]

    run(scenario())


def test_16_one_call_outstanding_even_with_many_jobs_and_reads(headend: HeadendHandle) -> None:
    async def scenario() -> None:
        async with connect(headend.ocpp_url, "CP-1", Fake16, delay_s=0.01) as cp:
            await cp.boot()
            async with driver_for(headend) as driver:
                jobs = [
                    JobRequest("CP-1", {f"Key{i}": i, "HeartbeatInterval": 60 + i}, f"k{i}")
                    for i in range(5)
                ]
                subs = await driver.submit_jobs(jobs)
                for _ in range(3):
                    await driver.read_configs(["CP-1"])
                for sub in subs:
                    await final_status(driver, str(sub.job_id))
            assert cp.max_outstanding == 1
            changed = [p["key"] for a, p in cp.calls if a == "ChangeConfiguration"]
            assert changed[:2] == ["HeartbeatInterval", "Key0"]  # creation order, keys sorted
            assert len(changed) == 10

    run(scenario())


def test_201_batches_stay_within_items_and_bytes_per_message(headend: HeadendHandle) -> None:
    async def scenario() -> None:
        limits = {"ItemsPerMessage.SetVariables": 3, "BytesPerMessage.SetVariables": 400}
        async with connect(headend.ocpp_url, "CP-2", Fake201, limits=limits) as cp:
            await cp.boot()
            params = {f"Vendor.Var{i}": f"value-{i:03d}" for i in range(10)}
            async with driver_for(headend) as driver:
                sub = await driver.submit_job(JobRequest("CP-2", params, "k"))
                status = await final_status(driver, str(sub.job_id))
            assert status.status == "accepted"
            assert sorted(k for batch in cp.batches for k in batch) == sorted(params)
            assert all(len(batch) <= 3 for batch in cp.batches)
            sets = [raw for raw in cp.frames_in if json.loads(raw)[2] == "SetVariables"]
            assert all(len(raw.encode()) <= 400 for raw in sets)
            assert len(sets) >= 4
            # the limits were read once, with GetVariables, before the first SetVariables
            assert cp.actions()[0] == "GetVariables"

    run(scenario())


def test_201_limits_fall_back_to_defaults_when_the_charger_cannot_say(
    headend: HeadendHandle,
) -> None:
    async def scenario() -> None:
        async with connect(headend.ocpp_url, "CP-2", Fake201) as cp:
            await cp.boot()
            params = {f"Vendor.Var{i}": i for i in range(10)}
            async with driver_for(headend) as driver:
                sub = await driver.submit_job(JobRequest("CP-2", params, "k"))
                assert (await final_status(driver, str(sub.job_id))).status == "accepted"
            assert [len(b) for b in cp.batches] == [8, 2]  # callplans.DEFAULT_ITEMS_PER_MESSAGE

    run(scenario())


def test_read_back_asks_only_for_keys_set_and_never_write_only_ones(
    headend: HeadendHandle,
) -> None:
    async def scenario() -> None:
        config16 = {"HeartbeatInterval": "900", "MeterValuesSampledData": "Energy.Active.Import.Register", "Other": "x"}  # fmt: skip
        async with (
            connect(headend.ocpp_url, "CP-1", Fake16, config=config16) as one,
            connect(headend.ocpp_url, "CP-2", Fake201, limits={"ItemsPerMessage.GetVariables": 2}) as two,
        ):  # fmt: skip
            await one.boot()
            await two.boot()
            async with driver_for(headend) as driver:
                assert {c.gateway_id: c.parameters for c in (await driver.read_configs(["CP-1", "CP-2", "CP-9"])).values()} == {"CP-1": {}, "CP-2": {}}  # fmt: skip
                jobs = [
                    JobRequest(
                        "CP-1",
                        {
                            "HeartbeatInterval": 300,
                            "MeterValuesSampledData": ["Energy.Active.Import.Register", "Voltage"],
                            "AuthorizationKey": "0123456789abcdef0123",
                            "StopTransactionOnEVSideDisconnect": True,
                        },
                        "k1",
                    ),
                    JobRequest(
                        "CP-2",
                        {
                            "OCPPCommCtrlr.HeartbeatInterval": 300,
                            "SecurityCtrlr.BasicAuthPassword": "0123456789abcdef0123",
                            "SampledDataCtrlr.TxUpdatedInterval": 15,
                            "TxCtrlr.EVConnectionTimeOut": 90,
                        },
                        "k2",
                    ),
                ]
                for sub in await driver.submit_jobs(jobs):
                    assert (await final_status(driver, str(sub.job_id))).status == "accepted"
                one.config.pop("StopTransactionOnEVSideDisconnect")  # forgotten: left out
                configs = await driver.read_configs(["CP-1", "CP-2"])
            assert configs["CP-1"].parameters == {
                "HeartbeatInterval": 300,
                "MeterValuesSampledData": ["Energy.Active.Import.Register", "Voltage"],
            }
            assert configs["CP-2"].parameters == {
                "OCPPCommCtrlr.HeartbeatInterval": 300,
                "SampledDataCtrlr.TxUpdatedInterval": 15,
                "TxCtrlr.EVConnectionTimeOut": 90,
            }
            asked16 = [p["key"] for a, p in one.calls if a == "GetConfiguration"]
            assert asked16 == [
                ["HeartbeatInterval", "MeterValuesSampledData", "StopTransactionOnEVSideDisconnect"]
            ]
            reads = [p["getVariableData"] for a, p in two.calls if a == "GetVariables"][1:]
            asked201 = [(e["component"]["name"], e["variable"]["name"]) for r in reads for e in r]
            assert ("SecurityCtrlr", "BasicAuthPassword") not in asked201
            assert len(asked201) == 3 and all(len(r) <= 2 for r in reads)
            assert all("0123456789abcdef0123" not in json.dumps(c.parameters) for c in configs.values())  # fmt: skip

    run(scenario())


def test_boot_interval_is_the_last_accepted_heartbeat_interval(headend: HeadendHandle) -> None:
    async def scenario() -> None:
        for kind, key, ident in ((Fake16, "HeartbeatInterval", "CP-1"), (Fake201, "OCPPCommCtrlr.HeartbeatInterval", "CP-2")):  # fmt: skip
            async with connect(headend.ocpp_url, ident, kind) as cp:
                assert (await cp.boot()).interval == 900  # the catalog default before a rollout
                async with driver_for(headend) as driver:
                    sub = await driver.submit_job(JobRequest(ident, {key: 240}, f"hb-{ident}"))
                    await final_status(driver, str(sub.job_id))
                    assert (await cp.boot()).interval == 240
                    cp.answers[key] = "Rejected"
                    sub = await driver.submit_job(JobRequest(ident, {key: 30}, f"hb2-{ident}"))
                    assert (await final_status(driver, str(sub.job_id))).status == "declined"
                assert (await cp.boot()).interval == 240

    run(scenario())


def test_api_answers_422_for_malformed_bodies_and_pages_the_inventory(
    headend: HeadendHandle,
) -> None:
    async def scenario() -> None:
        import aiohttp

        for i in range(5):
            async with connect(headend.ocpp_url, f"CP-{i}", Fake16) as cp:
                await cp.boot()
        auth = {"Authorization": f"Bearer {headend.token}"}
        async with aiohttp.ClientSession(headers=auth) as http:
            bad = await http.post(headend.api_url + "/api/v1/jobs", json={"gateway_id": "CP-1"})
            assert bad.status == 422
            bad = await http.post(headend.api_url + "/api/v1/jobs:status", data=b"{nope")
            assert bad.status == 422
            page = await (await http.get(headend.api_url + "/api/v1/gateways?limit=2")).json()
            assert [g["id"] for g in page["items"]] == ["CP-0", "CP-1"]
            assert page["next_cursor"]
            health = await http.get(headend.api_url + "/healthz")
            assert health.status == 200
        async with driver_for(headend, page_size=2) as driver:
            assert [g.id for g in await driver.inventory()] == [f"CP-{i}" for i in range(5)]

    run(scenario())
