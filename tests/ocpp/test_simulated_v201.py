"""Simulated OCPP 2.0.1 charging stations against the test central system, over real WebSockets.

SetVariables (every status, ItemsPerMessage), GetVariables (write-only keys
never returned, the message limits reported), Reset OnIdle during a
transaction, remote transactions as TransactionEvents.
"""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.exceptions import OccurenceConstraintViolationError
from ocpp.v201 import call

from reconciler.testing.chargers import simulated_fleet
from tests.ocpp.csms import Csms
from tests.ocpp.test_simulated_chargers import run

CS = "CP-000001"


async def booted(csms: Csms, boots: int = 1) -> None:
    seen = csms.seen_of(CS)

    def done() -> bool:
        calls = [name for name, _ in seen.calls]
        if calls.count("BootNotification") < boots:
            return False
        last = len(calls) - 1 - calls[::-1].index("BootNotification")
        return calls[last:].count("StatusNotification") >= 2

    await csms.until(done)


def entry(key: str, value: str | None = None, attribute: str | None = None) -> dict[str, Any]:
    component, variable, *instance = key.split(".")
    data: dict[str, Any] = {"component": {"name": component}, "variable": {"name": variable}}
    if instance:
        data["variable"]["instance"] = instance[0]
    if value is not None:
        data["attribute_value"] = value
    if attribute is not None:
        data["attribute_type"] = attribute
    return data


async def get(csms: Csms, *keys: str) -> list[dict[str, Any]]:
    answer = await csms.call(CS, call.GetVariables(get_variable_data=[entry(k) for k in keys]))
    return list(answer.get_variable_result)


def test_boot_and_the_interval_adopted() -> None:
    async def scenario() -> None:
        csms = Csms(interval=45)
        async with csms.serving() as url, simulated_fleet(url, count=2, protocol="mixed"):
            await booted(csms)
            boot = csms.seen_of(CS).of("BootNotification")[0]
            assert boot["reason"] == "PowerUp"
            assert boot["charging_station"]["firmware_version"] == "1.0.0"
            assert csms.seen_of(CS).connections[0].subprotocol == "ocpp2.0.1"
            [result] = await get(csms, "OCPPCommCtrlr.HeartbeatInterval")
            assert result["attribute_value"] == "45"
            statuses = csms.seen_of(CS).of("StatusNotification")
            assert [(s["evse_id"], s["connector_id"]) for s in statuses] == [(1, 1), (2, 1)]

    run(scenario)


def test_set_variables_answers_and_reboot_keys() -> None:
    async def scenario() -> None:
        csms = Csms()
        options = {"count": 2, "protocol": "mixed", "items_per_message": 8}
        async with csms.serving() as url, simulated_fleet(url, **options) as fleet:
            await booted(csms)
            data = [
                entry("OCPPCommCtrlr.OfflineThreshold", "600"),
                entry("NoSuchCtrlr.Enabled", "true"),
                entry("OCPPCommCtrlr.NoSuchVariable", "1"),
                entry("SecurityCtrlr.SecurityProfile", "2"),  # read-only
                entry("AuthCacheCtrlr.Policy", "RANDOM"),  # not one of the enum's values
                entry("OCPPCommCtrlr.NetworkConfigurationPriority", "1,2"),  # reboot: true
                entry("AuthCtrlr.Enabled", "false", attribute="Target"),
            ]
            answer = await csms.call(CS, call.SetVariables(set_variable_data=data))
            statuses = [r["attribute_status"] for r in answer.set_variable_result]
            assert statuses == [
                "Accepted",
                "UnknownComponent",
                "UnknownVariable",
                "Rejected",
                "Rejected",
                "RebootRequired",
                "NotSupportedAttributeType",
            ]
            station = fleet.chargers[CS]
            assert station.counters["SetVariables.entries"] == 7
            assert station.store.pending == {"OCPPCommCtrlr.NetworkConfigurationPriority": "1,2"}
            [before] = await get(csms, "OCPPCommCtrlr.NetworkConfigurationPriority")
            assert "attribute_value" not in before  # not set before the reboot

            reset = await csms.call(CS, call.Reset(type="Immediate"))
            assert reset.status == "Accepted"
            await booted(csms, boots=2)
            assert csms.seen_of(CS).of("BootNotification")[1]["reason"] == "RemoteReset"
            results = await get(
                csms, "OCPPCommCtrlr.NetworkConfigurationPriority", "OCPPCommCtrlr.OfflineThreshold"
            )
            assert [r["attribute_value"] for r in results] == ["1,2", "600"]

    run(scenario)


def test_items_per_message_is_enforced_and_reported() -> None:
    async def scenario() -> None:
        csms = Csms()
        options = {
            "count": 2,
            "protocol": "mixed",
            "items_per_message": 3,
            "bytes_per_message": 900,
        }
        async with csms.serving() as url, simulated_fleet(url, **options):
            await booted(csms)
            results = await get(
                csms,
                "DeviceDataCtrlr.ItemsPerMessage.SetVariables",
                "DeviceDataCtrlr.BytesPerMessage.SetVariables",
            )
            assert [r["attribute_value"] for r in results] == ["3", "900"]
            data = [entry("OCPPCommCtrlr.OfflineThreshold", str(600 + n)) for n in range(4)]
            with pytest.raises(OccurenceConstraintViolationError):
                await csms.call(CS, call.SetVariables(set_variable_data=data))
            answer = await csms.call(CS, call.SetVariables(set_variable_data=data[:3]))
            assert len(answer.set_variable_result) == 3

    run(scenario)


def test_get_variables_never_returns_write_only_values() -> None:
    async def scenario() -> None:
        csms = Csms()
        async with csms.serving() as url, simulated_fleet(url, count=2, protocol="mixed"):
            await booted(csms)
            password = entry("SecurityCtrlr.BasicAuthPassword", "0123456789abcdef0123")
            answer = await csms.call(CS, call.SetVariables(set_variable_data=[password]))
            assert answer.set_variable_result[0]["attribute_status"] == "Accepted"
            seen = csms.seen_of(CS)
            await csms.until(lambda: len(seen.connections) == 2 and seen.connected)
            assert seen.connections[1].password == "0123456789abcdef0123"  # the new password
            assert seen.of("BootNotification") == seen.of("BootNotification")[:1]  # no new boot
            results = await get(
                csms,
                "SecurityCtrlr.BasicAuthPassword",
                "SecurityCtrlr.Identity",
                "Nope.Nope",
                "AuthCtrlr.Nope",
            )
            assert results[0]["attribute_status"] == "Rejected"
            assert "attribute_value" not in results[0]
            assert results[1]["attribute_value"] == CS
            assert [r["attribute_status"] for r in results[2:]] == [
                "UnknownComponent",
                "UnknownVariable",
            ]
            target = await csms.call(
                CS,
                call.GetVariables(
                    get_variable_data=[entry("AuthCtrlr.Enabled", attribute="Target")]
                ),
            )
            assert target.get_variable_result[0]["attribute_status"] == "NotSupportedAttributeType"

    run(scenario)


def test_on_idle_reset_waits_for_the_transaction_to_end() -> None:
    async def scenario() -> None:
        csms = Csms()
        async with csms.serving() as url, simulated_fleet(url, count=2, protocol="mixed") as fleet:
            await booted(csms)
            station = fleet.chargers[CS]
            start = call.RequestStartTransaction(
                id_token={"id_token": "T1", "type": "Central"}, remote_start_id=7
            )
            assert (await csms.call(CS, start)).status == "Accepted"
            events = await csms.until(lambda: csms.seen_of(CS).of("TransactionEvent"))
            assert events[0]["event_type"] == "Started"
            assert events[0]["transaction_info"]["remote_start_id"] == 7
            assert station.busy

            reset = await csms.call(CS, call.Reset(type="OnIdle"))
            assert reset.status == "Scheduled"
            assert station.connected and station.counters["boots"] == 1

            transaction_id = events[0]["transaction_info"]["transaction_id"]
            stop = await csms.call(CS, call.RequestStopTransaction(transaction_id=transaction_id))
            assert stop.status == "Accepted"
            await booted(csms, boots=2)
            ended = csms.seen_of(CS).of("TransactionEvent")[1]
            assert ended["event_type"] == "Ended"
            assert ended["transaction_info"]["stopped_reason"] == "Remote"
            assert csms.seen_of(CS).of("BootNotification")[1]["reason"] == "ScheduledReset"
            assert not station.busy

    run(scenario)
