"""The OCPP head-end over time: events, reboots when idle, disconnects mid-job, restarts on the same state."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.drivers.base import JobRequest
from reconciler.testing.ocpp_headend import HeadendHandle, running_headend
from tests.ocpp.charger_doubles import (
    Fake16,
    Fake201,
    connect,
    driver_for,
    final_status,
    run,
    until,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def headend(tmp_path: Path) -> Any:
    with running_headend(tmp_path / "state.db", accept_unknown=True, call_timeout_s=2.0) as h:
        yield h


def test_events_long_poll_connected_booted_firmware_changed_disconnected(
    headend: HeadendHandle,
) -> None:
    async def scenario() -> None:
        async with driver_for(headend) as driver:
            now = await driver.events(None, 5)
            assert now is not None and now.events == () and now.next_cursor
            started = time.monotonic()
            empty = await driver.events(now.next_cursor, 0.3)
            assert empty is not None and empty.events == ()
            assert time.monotonic() - started >= 0.25
            waiting = asyncio.create_task(driver.events(now.next_cursor, 20))
            await asyncio.sleep(0.1)
            started = time.monotonic()
            async with connect(headend.ocpp_url, "CP-1", Fake16) as cp:
                woken = await waiting
                assert time.monotonic() - started < 5  # woken by the event, not the timeout
                assert woken is not None
                assert [(e.gateway_id, e.kind) for e in woken.events] == [("CP-1", "connected")]
                await cp.boot(firmware="1.0")
                await cp.boot(firmware="1.0")
                await cp.boot(firmware="1.1")
            cursor = woken.next_cursor
            kinds: list[str] = []
            while "disconnected" not in kinds:
                page = await driver.events(cursor, 10)
                assert page is not None
                kinds += [e.kind for e in page.events]
                cursor = page.next_cursor
            assert kinds == ["booted", "booted", "booted", "firmware_changed", "disconnected"]
            assert all(e.at.endswith("Z") for e in page.events)

    run(scenario())


@pytest.mark.parametrize("kind", [Fake16, Fake201])
def test_when_idle_never_resets_during_a_transaction_and_resets_after_it(
    headend: HeadendHandle, kind: Any
) -> None:
    key = "HeartbeatInterval" if kind is Fake16 else "OCPPCommCtrlr.HeartbeatInterval"

    async def begin(cp: Any) -> Any:
        if kind is Fake16:
            return await cp.start_transaction()
        await cp.transaction("Started", "T-9")
        return "T-9"

    async def end(cp: Any, transaction: Any) -> None:
        if kind is Fake16:
            await cp.stop_transaction(transaction)
        else:
            await cp.transaction("Ended", transaction, seq=1)

    async def scenario() -> None:
        async with driver_for(headend) as driver:
            async with connect(
                headend.ocpp_url, "CP-1", kind, answers={key: "RebootRequired"}
            ) as cp:
                await cp.boot()
                transaction = await begin(cp)
                job = JobRequest("CP-1", {key: 60}, "k1", reboot="when_idle")
                sub = await driver.submit_job(job)
                await until(lambda: any(a != "GetVariables" for a in cp.actions()))
                await asyncio.sleep(0.5)
                (status,) = await driver.job_status([str(sub.job_id)])
                assert status.status == "sent"
                assert "Reset" not in cp.actions()
                assert (await driver.inventory())[0].busy is True
                await end(cp, transaction)
                await until(lambda: cp.reset_type is not None)
                assert cp.reset_type == ("Soft" if kind is Fake16 else "OnIdle")
                (status,) = await driver.job_status([str(sub.job_id)])
                assert status.status == "sent"  # until the charger is back
            async with connect(headend.ocpp_url, "CP-1", kind) as cp:
                await cp.boot()
                status = await final_status(driver, str(sub.job_id))
                assert status.status == "accepted" and status.reboot_required
            never = JobRequest("CP-1", {key: 70}, "k2")  # reboot: never
            async with connect(headend.ocpp_url, "CP-1", kind, answers={key: "RebootRequired"}) as cp:  # fmt: skip
                sub = await driver.submit_job(never)
                status = await final_status(driver, str(sub.job_id))
                assert status.status == "accepted" and status.reboot_required
                assert "Reset" not in cp.actions()

    run(scenario())


def test_a_job_waits_for_its_charger_and_resumes_after_a_disconnect(
    headend: HeadendHandle,
) -> None:
    async def scenario() -> None:
        async with driver_for(headend) as driver:
            async with connect(headend.ocpp_url, "CP-1", Fake16) as cp:
                await cp.boot()
            waiting = await driver.submit_job(JobRequest("CP-1", {"HeartbeatInterval": 60}, "w"))
            await asyncio.sleep(0.3)
            assert (await driver.job_status([str(waiting.job_id)]))[0].status == "requested"
            params = {"AKey": 1, "BKey": 2, "CKey": 3}
            async with connect(headend.ocpp_url, "CP-1", Fake16, answers={"BKey": "timeout"}) as cp:  # fmt: skip
                assert (await final_status(driver, str(waiting.job_id))).status == "accepted"
                sub = await driver.submit_job(JobRequest("CP-1", params, "resume"))
                await until(lambda: ("ChangeConfiguration", {"key": "BKey", "value": "2"}) in cp.calls)  # fmt: skip
                (status,) = await driver.job_status([str(sub.job_id)])
                assert status.status == "sent"
            await until(lambda: _status(driver, str(sub.job_id), "requested"))
            async with connect(headend.ocpp_url, "CP-1", Fake16) as cp:
                status = await final_status(driver, str(sub.job_id))
                assert status.status == "accepted"
                keys = [p["key"] for a, p in cp.calls if a == "ChangeConfiguration"]
                assert keys == ["BKey", "CKey"]  # AKey was answered before the disconnect

    run(scenario())


async def _status(driver: Any, job_id: str, wanted: str) -> bool:
    (status,) = await driver.job_status([job_id])
    return bool(status.status == wanted)


def test_a_restart_on_the_same_state_keeps_inventory_jobs_and_events(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    box: dict[str, Any] = {}

    async def before(h: HeadendHandle) -> None:
        async with connect(h.ocpp_url, "CP-1", Fake16) as cp:
            await cp.boot(firmware="3.2.1")
            await cp.status(1)
        async with connect(h.ocpp_url, "CP-2", Fake201) as cp:
            await cp.boot()
            async with driver_for(h) as driver:
                sub = await driver.submit_job(JobRequest("CP-2", {"OCPPCommCtrlr.HeartbeatInterval": 99}, "hb"))  # fmt: skip
                await final_status(driver, str(sub.job_id))
        async with driver_for(h) as driver:
            box["pending"] = await driver.submit_job(
                JobRequest("CP-1", {"HeartbeatInterval": 77}, "pending")
            )
            box["cursor"] = (await driver.events(None, 0)).next_cursor  # type: ignore[union-attr]

    async def after(h: HeadendHandle) -> None:
        async with driver_for(h) as driver:
            gateways = {g.id: g for g in await driver.inventory()}
            assert gateways["CP-1"].firmware == "3.2.1" and gateways["CP-1"].connected is False
            assert gateways["CP-1"].stations[0].ports == ("1",)
            (status,) = await driver.job_status([str(box["pending"].job_id)])
            assert status.status == "requested"
            again = await driver.submit_job(JobRequest("CP-1", {"HeartbeatInterval": 77}, "pending"))  # fmt: skip
            assert again.job_id == box["pending"].job_id
            async with connect(h.ocpp_url, "CP-1", Fake16) as cp:
                assert (await final_status(driver, str(again.job_id))).status == "accepted"
                assert cp.actions() == ["ChangeConfiguration"]
            page = await driver.events(box["cursor"], 5)
            assert page is not None and [e.kind for e in page.events][:1] == ["connected"]
            async with connect(h.ocpp_url, "CP-2", Fake201) as cp:
                assert (await cp.boot()).interval == 99

    with running_headend(state, accept_unknown=True) as h:
        run(before(h))
    with running_headend(state, accept_unknown=True) as h:
        run(after(h))
