"""What a simulated OCPP-J 1.6 charge point answers and sends.

The rules object :data:`RULES` is used by :class:`~reconciler.headends.ocpp.chargepoint.SimCharger`
for chargers of subprotocol ``ocpp1.6``.  Handlers take the CALL's camelCase
payload (already schema-checked) and return the CALLRESULT payload plus what to
do once it is sent (a reboot after Reset, a StartTransaction after a remote
start, a reconnect after a password change).  Unregistered actions get the
``ocpp`` library's CALLERROR NotImplemented.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from reconciler.headends.ocpp.chargepoint import Answer

if TYPE_CHECKING:
    from reconciler.headends.ocpp.chargepoint import SimCharger

CONNECTORS = (0, 1, 2)
"""StatusNotification is sent for connector 0 (the charge point) and its two connectors."""

TRIGGERABLE = ("BootNotification", "Heartbeat", "StatusNotification")


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _reconnect_if_password(
    charger: SimCharger, keys: list[str]
) -> Callable[[], Awaitable[None]] | None:
    if charger.store.model.password_key in keys:
        return charger.reconnect
    return None


def change_configuration(charger: SimCharger, payload: dict[str, Any], raw: str) -> Answer:
    key, value = str(payload["key"]), str(payload["value"])
    status = charger.store.change(key, value)
    after = _reconnect_if_password(charger, [key]) if status == "Accepted" else None
    return {"status": status}, after


def get_configuration(charger: SimCharger, payload: dict[str, Any], raw: str) -> Answer:
    specs = charger.store.model.specs
    asked = payload.get("key")
    keys = list(specs) if not asked else [str(k) for k in asked]
    found: list[dict[str, Any]] = []
    unknown: list[str] = []
    for key in keys:
        spec = specs.get(key)
        if spec is None or not spec.readable:
            unknown.append(key)
            continue
        entry: dict[str, Any] = {"key": key, "readonly": not spec.settable}
        value = charger.store.get(key)
        if value is not None:
            entry["value"] = value[:500]
        found.append(entry)
    answer: dict[str, Any] = {"configurationKey": found}
    if unknown:
        answer["unknownKey"] = unknown
    return answer, None


def reset(charger: SimCharger, payload: dict[str, Any], raw: str) -> Answer:
    reason = "HardReset" if payload.get("type") == "Hard" else "SoftReset"

    async def reboot() -> None:
        if charger.transaction is not None:
            await charger.stop_transaction(reason)
        await charger.reboot(reason)

    return {"status": "Accepted"}, reboot


def remote_start(charger: SimCharger, payload: dict[str, Any], raw: str) -> Answer:
    if charger.busy:
        return {"status": "Rejected"}, None

    async def start() -> None:
        await charger.start_transaction(None)

    return {"status": "Accepted"}, start


def remote_stop(charger: SimCharger, payload: dict[str, Any], raw: str) -> Answer:
    if charger.transaction is None or str(payload.get("transactionId")) != charger.transaction:
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


def change_availability(charger: SimCharger, payload: dict[str, Any], raw: str) -> Answer:
    return {"status": "Scheduled" if charger.busy else "Accepted"}, None


def clear_cache(charger: SimCharger, payload: dict[str, Any], raw: str) -> Answer:
    return {"status": "Accepted"}, None


def unlock_connector(charger: SimCharger, payload: dict[str, Any], raw: str) -> Answer:
    return {"status": "Unlocked"}, None


def data_transfer(charger: SimCharger, payload: dict[str, Any], raw: str) -> Answer:
    return {"status": "UnknownVendorId"}, None


class Rules16:
    """OCPP 1.6 answers and the calls a 1.6 charge point makes."""

    version = "1.6"

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[SimCharger, dict[str, Any], str], Answer]] = {
            "ChangeConfiguration": change_configuration,
            "GetConfiguration": get_configuration,
            "Reset": reset,
            "RemoteStartTransaction": remote_start,
            "RemoteStopTransaction": remote_stop,
            "TriggerMessage": trigger_message,
            "ChangeAvailability": change_availability,
            "ClearCache": clear_cache,
            "UnlockConnector": unlock_connector,
            "DataTransfer": data_transfer,
        }

    async def boot(self, charger: SimCharger) -> dict[str, Any]:
        model = charger.store.model
        charger.count("boot_notifications")
        return await charger.call(
            "BootNotification",
            {
                "chargePointVendor": model.vendor[:20],
                "chargePointModel": model.model[:20],
                "chargePointSerialNumber": charger.serial,
                "firmwareVersion": charger.firmware[:50],
            },
        )

    async def after_boot(self, charger: SimCharger) -> None:
        if charger.firmware_installed:
            charger.firmware_installed = False
            await charger.call("FirmwareStatusNotification", {"status": "Installed"})
        for connector in CONNECTORS:
            await self._status(charger, connector)

    async def _status(self, charger: SimCharger, connector: int) -> None:
        status = "Charging" if charger.busy and connector == 1 else "Available"
        await charger.call(
            "StatusNotification",
            {
                "connectorId": connector,
                "errorCode": "NoError",
                "status": status,
                "timestamp": now(),
            },
        )

    async def start_transaction(self, charger: SimCharger, remote_id: int | None) -> None:
        answer = await charger.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "SIMULATED", "meterStart": 0, "timestamp": now()},
        )
        if "transactionId" in answer:
            charger.transaction = str(answer["transactionId"])

    async def stop_transaction(self, charger: SimCharger, reason: str) -> None:
        transaction = charger.transaction or "0"
        await charger.call(
            "StopTransaction",
            {
                "transactionId": int(transaction) if transaction.isdigit() else 0,
                "meterStop": 1000,
                "timestamp": now(),
                "reason": reason if reason in _STOP_REASONS else "Local",
            },
        )

    async def trigger(self, charger: SimCharger, message: str) -> None:
        if message == "BootNotification":
            await self.boot(charger)
        elif message == "Heartbeat":
            await charger.call("Heartbeat", {})
        else:
            for connector in CONNECTORS:
                await self._status(charger, connector)


_STOP_REASONS = frozenset(
    {
        "EmergencyStop",
        "EVDisconnected",
        "HardReset",
        "Local",
        "Other",
        "PowerLoss",
        "Reboot",
        "Remote",
        "SoftReset",
        "UnlockCommand",
        "DeAuthorized",
    }
)

RULES = Rules16()
