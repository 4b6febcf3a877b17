"""What a simulated OCPP 2.0.1 charging station answers and sends.

The rules object :data:`RULES` is used by :class:`~reconciler.headends.ocpp.chargepoint.SimCharger`
for chargers of subprotocol ``ocpp2.0.1``.  SetVariables and GetVariables honour
``DeviceDataCtrlr.ItemsPerMessage``/``BytesPerMessage`` (CALLERROR
``OccurenceConstraintViolation`` -- the spelling of OCPP 2.0.1 and of the
``ocpp`` library -- for too many entries, ``FormatViolation`` for too many
bytes); only the ``Actual`` attribute exists.  Reset ``OnIdle`` during a
transaction is ``Scheduled`` and runs when the transaction ends.
"""

# The ocpp library ships no type information.
# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import FormatViolationError, OccurenceConstraintViolationError

from reconciler.headends.ocpp.chargepoint import Answer

if TYPE_CHECKING:
    from reconciler.headends.ocpp.chargepoint import SimCharger

EVSES = ((1, 1), (2, 1))
"""(evseId, connectorId) of the station's connectors: two EVSEs with one connector each."""

TRIGGERABLE = ("BootNotification", "Heartbeat", "StatusNotification")
BOOT_REASONS = frozenset(
    {
        "ApplicationReset",
        "FirmwareUpdate",
        "LocalReset",
        "PowerUp",
        "RemoteReset",
        "ScheduledReset",
        "Triggered",
        "Unknown",
        "Watchdog",
    }
)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _limits(charger: SimCharger, kind: str, entries: int, raw: str) -> None:
    store = charger.store
    items = store.get(f"DeviceDataCtrlr.ItemsPerMessage.{kind}")
    size = store.get(f"DeviceDataCtrlr.BytesPerMessage.{kind}")
    if items and items.isdigit() and entries > int(items):
        raise OccurenceConstraintViolationError(
            description=f"{entries} entries, ItemsPerMessage{kind} is {items}"
        )
    if size and size.isdigit() and len(raw.encode()) > int(size):
        raise FormatViolationError(description=f"message exceeds BytesPerMessage{kind} ({size})")


def _address(entry: dict[str, Any]) -> tuple[str, str, str | None]:
    variable = entry["variable"]
    instance = variable.get("instance")
    return str(entry["component"]["name"]), str(variable["name"]), instance


def _echo(entry: dict[str, Any]) -> dict[str, Any]:
    return {"component": entry["component"], "variable": entry["variable"]}


def _lookup(charger: SimCharger, entry: dict[str, Any]) -> tuple[str | None, str | None]:
    """The catalog key of an entry, or the status that says why there is none."""
    component, variable, instance = _address(entry)
    model = charger.store.model
    if component not in model.components:
        return None, "UnknownComponent"
    key = model.key_at(component, variable, instance)
    if key not in model.specs:
        return None, "UnknownVariable"
    return key, None


def set_variables(charger: SimCharger, payload: dict[str, Any], raw: str) -> Answer:
    entries = payload["setVariableData"]
    charger.count("SetVariables.entries", len(entries))
    _limits(charger, "SetVariables", len(entries), raw)
    results: list[dict[str, Any]] = []
    accepted: list[str] = []
    for entry in entries:
        attribute = entry.get("attributeType", "Actual")
        key, status = _lookup(charger, entry)
        if key is not None:
            if attribute != "Actual":
                status = "NotSupportedAttributeType"
            else:
                status = charger.store.change(key, str(entry["attributeValue"]))
                if status == "NotSupported":
                    status = "UnknownVariable"
                if status == "Accepted":
                    accepted.append(key)
        result = {"attributeType": attribute, "attributeStatus": status, **_echo(entry)}
        results.append(result)
    after = charger.reconnect if charger.store.model.password_key in accepted else None
    return {"setVariableResult": results}, after


def get_variables(charger: SimCharger, payload: dict[str, Any], raw: str) -> Answer:
    entries = payload["getVariableData"]
    charger.count("GetVariables.entries", len(entries))
    _limits(charger, "GetVariables", len(entries), raw)
    results: list[dict[str, Any]] = []
    for entry in entries:
        attribute = entry.get("attributeType", "Actual")
        key, status = _lookup(charger, entry)
        result: dict[str, Any] = {"attributeType": attribute, **_echo(entry)}
        if key is not None:
            spec = charger.store.model.specs[key]
            if attribute != "Actual":
                status = "NotSupportedAttributeType"
            elif not spec.readable:
                status = "Rejected"
            else:
                status = "Accepted"
                value = charger.store.get(key)
                if value is not None:
                    result["attributeValue"] = value[:2500]
        result["attributeStatus"] = status
        results.append(result)
    return {"getVariableResult": results}, None


def reset(charger: SimCharger, payload: dict[str, Any], raw: str) -> Answer:
    if payload.get("type") == "OnIdle" and charger.busy:
        charger.reset_scheduled = True
        return {"status": "Scheduled"}, None

    async def reboot() -> None:
        if charger.transaction is not None:
            await charger.stop_transaction("ImmediateReset")
        await charger.reboot("RemoteReset")

    return {"status": "Accepted"}, reboot


def request_start(charger: SimCharger, payload: dict[str, Any], raw: str) -> Answer:
    if charger.busy:
        return {"status": "Rejected"}, None
    remote_id = int(payload["remoteStartId"])

    async def start() -> None:
        await charger.start_transaction(remote_id)

    return {"status": "Accepted"}, start


def request_stop(charger: SimCharger, payload: dict[str, Any], raw: str) -> Answer:
    if charger.transaction is None or payload.get("transactionId") != charger.transaction:
        return {"status": "Rejected"}, None

    async def stop() -> None:
        await charger.stop_transaction("Remote")

    return {"status": "Accepted"}, stop


def trigger_message(charger: SimCharger, payload: dict[str, Any], raw: str) -> Answer:
    requested = str(payload["requestedMessage"])
    if requested not in TRIGGERABLE:
        return {"status": "NotImplemented"}, None

    async def send() -> None:
        await RULES.trigger(charger, requested)

    return {"status": "Accepted"}, send


def _status(value: str) -> Callable[[SimCharger, dict[str, Any], str], Answer]:
    def handler(charger: SimCharger, payload: dict[str, Any], raw: str) -> Answer:
        return {"status": value}, None

    return handler


def change_availability(charger: SimCharger, payload: dict[str, Any], raw: str) -> Answer:
    return {"status": "Scheduled" if charger.busy else "Accepted"}, None


class Rules201:
    """OCPP 2.0.1 answers and the calls a 2.0.1 charging station makes."""

    version = "2.0.1"

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[SimCharger, dict[str, Any], str], Answer]] = {
            "SetVariables": set_variables,
            "GetVariables": get_variables,
            "Reset": reset,
            "RequestStartTransaction": request_start,
            "RequestStopTransaction": request_stop,
            "TriggerMessage": trigger_message,
            "ChangeAvailability": change_availability,
            "ClearCache": _status("Accepted"),
            "UnlockConnector": _status("Unlocked"),
            "DataTransfer": _status("UnknownVendorId"),
        }

    async def boot(self, charger: SimCharger) -> dict[str, Any]:
        model = charger.store.model
        charger.count("boot_notifications")
        reason = charger.boot_reason if charger.boot_reason in BOOT_REASONS else "RemoteReset"
        return await charger.call(
            "BootNotification",
            {
                "chargingStation": {
                    "vendorName": model.vendor[:50],
                    "model": model.model[:20],
                    "serialNumber": charger.serial,
                    "firmwareVersion": charger.firmware[:50],
                },
                "reason": reason,
            },
        )

    async def after_boot(self, charger: SimCharger) -> None:
        charger.firmware_installed = False
        for evse, connector in EVSES:
            await self._status(charger, evse, connector)

    async def _status(self, charger: SimCharger, evse: int, connector: int) -> None:
        status = "Occupied" if charger.busy and evse == 1 else "Available"
        await charger.call(
            "StatusNotification",
            {
                "timestamp": now(),
                "connectorStatus": status,
                "evseId": evse,
                "connectorId": connector,
            },
        )

    async def _event(
        self, charger: SimCharger, event: str, reason: str, info: dict[str, Any]
    ) -> None:
        payload: dict[str, Any] = {
            "eventType": event,
            "timestamp": now(),
            "triggerReason": reason,
            "seqNo": charger.tx_seq,
            "transactionInfo": {"transactionId": charger.transaction or "", **info},
            "evse": {"id": 1, "connectorId": 1},
        }
        if event == "Started":
            payload["idToken"] = {"idToken": "SIMULATED", "type": "Central"}
        charger.tx_seq += 1
        await charger.call("TransactionEvent", payload)

    async def start_transaction(self, charger: SimCharger, remote_id: int | None) -> None:
        info: dict[str, Any] = {"chargingState": "Charging"}
        if remote_id is not None:
            info["remoteStartId"] = remote_id
        await self._event(
            charger, "Started", "RemoteStart" if remote_id is not None else "CablePluggedIn", info
        )

    async def stop_transaction(self, charger: SimCharger, reason: str) -> None:
        stopped = {"Remote": "Remote", "ImmediateReset": "ImmediateReset"}.get(reason, "Local")
        trigger = (
            "RemoteStop"
            if reason == "Remote"
            else "ResetCommand"
            if reason == "ImmediateReset"
            else "EVDeparted"
        )
        await self._event(
            charger, "Ended", trigger, {"stoppedReason": stopped, "chargingState": "Idle"}
        )

    async def trigger(self, charger: SimCharger, message: str) -> None:
        if message == "BootNotification":
            reason, charger.boot_reason = charger.boot_reason, "Triggered"
            try:
                await self.boot(charger)
            finally:
                charger.boot_reason = reason
        elif message == "Heartbeat":
            await charger.call("Heartbeat", {})
        else:
            for evse, connector in EVSES:
                await self._status(charger, evse, connector)


RULES = Rules201()
