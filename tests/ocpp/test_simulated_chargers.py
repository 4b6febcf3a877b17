"""Simulated OCPP 1.6 charge points against the test central system, over real WebSockets.

Boot, status, heartbeat interval adoption, every ChangeConfiguration answer,
GetConfiguration (write-only keys never returned), reboot keys after a Reset,
remote transactions, TriggerMessage and the small actions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.v16 import call

from reconciler.testing.chargers import simulated_fleet
from tests.ocpp.csms import Csms

CP = "CP-000000"


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 60))


async def booted(csms: Csms, charger_id: str = CP, boots: int = 1) -> None:
    """Wait until the charger booted ``boots`` times and reported its connectors since."""
    seen = csms.seen_of(charger_id)

    def done() -> bool:
        calls = [name for name, _ in seen.calls]
        if calls.count("BootNotification") < boots:
            return False
        last = len(calls) - 1 - calls[::-1].index("BootNotification")
        return calls[last:].count("StatusNotification") >= 3

    await csms.until(done)


def config(answer: Any) -> dict[str, Any]:
    return {entry["key"]: entry.get("value") for entry in answer.configuration_key}


def test_boot_status_and_the_boot_interval() -> None:
    async def scenario() -> None:
        csms = Csms(interval=77)
        async with csms.serving() as url, simulated_fleet(url, count=1, protocol="ocpp1.6"):
            await booted(csms)
            boot = csms.seen_of(CP).of("BootNotification")[0]
            assert boot["charge_point_serial_number"] == f"SN-{CP}"
            assert boot["firmware_version"] == "1.0.0"
            assert boot["charge_point_vendor"] == "Reconciler"
            statuses = csms.seen_of(CP).of("StatusNotification")
            assert [s["connector_id"] for s in statuses] == [0, 1, 2]
            assert {s["status"] for s in statuses} == {"Available"}
            assert csms.seen_of(CP).connections[0].subprotocol == "ocpp1.6"
            assert csms.seen_of(CP).connections[0].username is None  # no password: no header
            answer = await csms.call(CP, call.GetConfiguration(key=["HeartbeatInterval"]))
            assert config(answer) == {"HeartbeatInterval": "77"}

    run(scenario)


def test_change_configuration_answers_and_reboot_keys() -> None:
    async def scenario() -> None:
        csms = Csms(interval=300)
        options = {"count": 1, "protocol": "ocpp1.6", "reboot_keys": ("ClockAlignedDataInterval",)}
        async with csms.serving() as url, simulated_fleet(url, **options) as fleet:
            await booted(csms)

            async def change(key: str, value: str) -> str:
                answer = await csms.call(CP, call.ChangeConfiguration(key=key, value=value))
                return str(answer.status)

            assert await change("MeterValueSampleInterval", "30") == "Accepted"
            assert await change("NumberOfConnectors", "3") == "Rejected"  # read-only
            assert await change("HeartbeatInterval", "abc") == "Rejected"
            assert await change("HeartbeatInterval", "100000") == "Rejected"  # above max
            assert await change("StopTransactionOnInvalidId", "maybe") == "Rejected"
            assert (
                await change("MeterValuesSampledData", "Energy.Active.Import.Register,Nope")
                == "Rejected"
            )
            assert await change("AuthorizationKey", "short") == "Rejected"  # 16..40 characters
            assert await change("NoSuchKey", "1") == "NotSupported"
            assert await change("ClockAlignedDataInterval", "900") == "RebootRequired"
            charger = fleet.chargers[CP]
            assert sorted(charger.store.pending) == ["ClockAlignedDataInterval"]
            answer = await csms.call(CP, call.GetConfiguration(key=["ClockAlignedDataInterval"]))
            assert config(answer) == {"ClockAlignedDataInterval": "0"}  # not before a reboot

            reset = await csms.call(CP, call.Reset(type="Hard"))
            assert reset.status == "Accepted"
            await booted(csms, boots=2)
            answer = await csms.call(
                CP,
                call.GetConfiguration(key=["ClockAlignedDataInterval", "MeterValueSampleInterval"]),
            )
            assert config(answer) == {
                "ClockAlignedDataInterval": "900",
                "MeterValueSampleInterval": "30",  # kept across the reboot
            }
            assert charger.counters["ChangeConfiguration"] == 9
            assert charger.counters["boots"] == 2

    run(scenario)


def test_get_configuration_never_returns_write_only_keys() -> None:
    async def scenario() -> None:
        csms = Csms()
        async with csms.serving() as url, simulated_fleet(url, count=1, protocol="ocpp1.6"):
            await booted(csms)
            everything = await csms.call(CP, call.GetConfiguration())
            keys = {entry["key"]: entry for entry in everything.configuration_key}
            assert "AuthorizationKey" not in keys
            assert keys["NumberOfConnectors"] == {
                "key": "NumberOfConnectors",
                "readonly": True,
                "value": "2",
            }
            assert keys["HeartbeatInterval"]["readonly"] is False
            assert "value" not in keys["CpoName"]  # known, not set
            asked = await csms.call(
                CP, call.GetConfiguration(key=["AuthorizationKey", "WebSocketPingInterval", "X"])
            )
            assert config(asked) == {"WebSocketPingInterval": "30"}
            assert asked.unknown_key == ["AuthorizationKey", "X"]

    run(scenario)


def test_remote_transactions_make_the_charger_busy() -> None:
    async def scenario() -> None:
        csms = Csms()
        async with (
            csms.serving() as url,
            simulated_fleet(url, count=1, protocol="ocpp1.6") as fleet,
        ):
            await booted(csms)
            started = await csms.call(CP, call.RemoteStartTransaction(id_tag="TAG1"))
            assert started.status == "Accepted"
            await csms.until(lambda: csms.seen_of(CP).of("StartTransaction"))
            charger = fleet.chargers[CP]
            await csms.until(lambda: charger.transaction == "1001")
            assert charger.busy
            again = await csms.call(CP, call.RemoteStartTransaction(id_tag="TAG1"))
            assert again.status == "Rejected"
            wrong = await csms.call(CP, call.RemoteStopTransaction(transaction_id=5))
            assert wrong.status == "Rejected"
            stopped = await csms.call(CP, call.RemoteStopTransaction(transaction_id=1001))
            assert stopped.status == "Accepted"
            stop = await csms.until(lambda: csms.seen_of(CP).of("StopTransaction"))
            assert stop[0]["transaction_id"] == 1001
            assert stop[0]["reason"] == "Remote"
            await csms.until(lambda: not charger.busy)

    run(scenario)


def test_trigger_message_small_actions_and_unknown_ones() -> None:
    async def scenario() -> None:
        csms = Csms()
        async with csms.serving() as url, simulated_fleet(url, count=1, protocol="ocpp1.6"):
            await booted(csms)
            answer = await csms.call(CP, call.TriggerMessage(requested_message="Heartbeat"))
            assert answer.status == "Accepted"
            await csms.until(lambda: csms.seen_of(CP).of("Heartbeat"))
            answer = await csms.call(CP, call.TriggerMessage(requested_message="MeterValues"))
            assert answer.status == "NotImplemented"
            answer = await csms.call(
                CP, call.ChangeAvailability(connector_id=1, type="Inoperative")
            )
            assert answer.status == "Accepted"
            assert (await csms.call(CP, call.ClearCache())).status == "Accepted"
            assert (await csms.call(CP, call.UnlockConnector(connector_id=1))).status == "Unlocked"
            answer = await csms.call(CP, call.DataTransfer(vendor_id="acme"))
            assert answer.status == "UnknownVendorId"
            with pytest.raises(OcppNotImplemented):
                await csms.call(CP, call.GetDiagnostics(location="ftp://example.invalid/"))

    run(scenario)
