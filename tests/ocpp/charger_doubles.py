"""Fake OCPP charge points for the head-end tests, written with the ``ocpp`` library's client side.

:class:`Fake16` and :class:`Fake201` hold a configuration, answer the
head-end's calls as scripted per key (``answers``: an OCPP status,
``"callerror"`` or ``"timeout"``), and record what they saw: every CALL with
its payload, the most CALLs outstanding at once (frames are read by their own
task, so a second CALL sent before the first was answered is seen), and the
raw size of each frame.  :func:`connect` opens a WebSocket to the head-end and
starts the fake's reader; :func:`run` runs a coroutine in a fresh loop (the
tests are plain functions).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from ocpp.exceptions import InternalError
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from reconciler.headends.ocpp.wire import key_of

QUIET = logging.getLogger("tests.ocpp.fake")
QUIET.setLevel(logging.CRITICAL)

TIMEOUT = 30.0


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 90))


class _Recording:
    """Frame-level recording shared by both fakes."""

    answers: dict[str, str]
    calls: list[tuple[str, dict[str, Any]]]
    outstanding: int
    max_outstanding: int
    frames_in: list[str]

    def _setup(self, answers: dict[str, str] | None) -> None:
        self.answers = dict(answers or {})
        self.calls = []
        self.outstanding = 0
        self.max_outstanding = 0
        self.frames_in = []
        self.called = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def _dropped(self, action: str, payload: dict[str, Any]) -> bool:
        return False

    async def start(self) -> None:
        while True:
            raw = await self._connection.recv()  # type: ignore[attr-defined]
            self.frames_in.append(raw)
            message = json.loads(raw)
            if message[0] == 2:
                self.calls.append((message[2], message[3]))
                self.called.set()
                if self._dropped(message[2], message[3]):
                    continue  # never answered: the head-end's call times out
                self.outstanding += 1
                self.max_outstanding = max(self.max_outstanding, self.outstanding)
            task = asyncio.create_task(self.route_message(raw))  # type: ignore[attr-defined]
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, message: str) -> None:
        if json.loads(message)[0] in (3, 4):
            self.outstanding -= 1
        await self._connection.send(message)  # type: ignore[attr-defined]

    def actions(self) -> list[str]:
        return [action for action, _ in self.calls]


class Fake16(_Recording, ChargePoint16):  # type: ignore[misc]
    """An OCPP 1.6 charge point with a configuration of string values."""

    def __init__(
        self,
        ident: str,
        connection: ClientConnection,
        config: dict[str, str] | None = None,
        answers: dict[str, str] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        ChargePoint16.__init__(self, ident, connection, response_timeout=TIMEOUT, logger=QUIET)
        self._setup(answers)
        self.config = dict(config or {})
        self.delay_s = delay_s
        self.reset_type: str | None = None

    def _dropped(self, action: str, payload: dict[str, Any]) -> bool:
        return action == "ChangeConfiguration" and self.answers.get(payload["key"]) == "timeout"

    @on("ChangeConfiguration")
    async def on_change_configuration(self, key: str, value: str) -> Any:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        answer = self.answers.get(key, "Accepted")
        if answer == "callerror":
            raise InternalError(description="scripted failure")
        if answer in ("Accepted", "RebootRequired"):
            self.config[key] = value
        return result16.ChangeConfiguration(status=answer)

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None) -> Any:
        asked = key or list(self.config)
        known = [
            {"key": k, "readonly": False, "value": self.config[k]}
            for k in asked
            if k in self.config
        ]
        unknown = [k for k in asked if k not in self.config]
        return result16.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("Reset")
    def on_reset(self, type: str) -> Any:
        self.reset_type = type
        return result16.Reset(status="Accepted")

    async def boot(
        self, vendor: str = "ACME", model: str = "Wallbox", firmware: str = "1.0.0"
    ) -> Any:
        return await self.call(
            call16.BootNotification(
                charge_point_vendor=vendor, charge_point_model=model, firmware_version=firmware,
                charge_point_serial_number="SN-1",
            )
        )  # fmt: skip

    async def status(self, connector: int, status: str = "Available") -> None:
        await self.call(
            call16.StatusNotification(connector_id=connector, error_code="NoError", status=status)
        )

    async def start_transaction(self, connector: int = 1) -> int:
        answer = await self.call(
            call16.StartTransaction(
                connector_id=connector, id_tag="TAG", meter_start=0,
                timestamp="2024-01-01T00:00:00Z",
            )
        )  # fmt: skip
        return int(answer.transaction_id)

    async def stop_transaction(self, transaction: int) -> None:
        await self.call(
            call16.StopTransaction(
                meter_stop=10, timestamp="2024-01-01T01:00:00Z", transaction_id=transaction
            )
        )


class Fake201(_Recording, ChargePoint201):  # type: ignore[misc]
    """An OCPP 2.0.1 charging station with variables keyed like the catalog (Component.Variable[.Instance])."""

    def __init__(
        self,
        ident: str,
        connection: ClientConnection,
        config: dict[str, str] | None = None,
        answers: dict[str, str] | None = None,
        limits: dict[str, int] | None = None,
    ) -> None:
        ChargePoint201.__init__(self, ident, connection, response_timeout=TIMEOUT, logger=QUIET)
        self._setup(answers)
        self.config = dict(config or {})
        for name, value in (limits or {}).items():
            self.config[f"DeviceDataCtrlr.{name}"] = str(value)
        self.reset_type: str | None = None
        self.batches: list[list[str]] = []

    def _dropped(self, action: str, payload: dict[str, Any]) -> bool:
        if action != "SetVariables":
            return False
        keys = [_key(entry) for entry in payload["setVariableData"]]
        return any(self.answers.get(k) == "timeout" for k in keys)

    @on("SetVariables")
    def on_set_variables(self, set_variable_data: list[dict[str, Any]]) -> Any:
        keys = [_key(entry) for entry in set_variable_data]
        self.batches.append(keys)
        if any(self.answers.get(k) == "callerror" for k in keys):
            raise InternalError(description="scripted failure")
        results = []
        for key, entry in zip(keys, set_variable_data, strict=True):
            answer = self.answers.get(key, "Accepted")
            if answer in ("Accepted", "RebootRequired"):
                self.config[key] = entry["attribute_value"]
            results.append(
                {
                    "attribute_status": answer,
                    "component": entry["component"],
                    "variable": entry["variable"],
                }
            )
        return result201.SetVariables(set_variable_result=results)

    @on("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict[str, Any]]) -> Any:
        results = []
        for entry in get_variable_data:
            key = _key(entry)
            result: dict[str, Any] = {
                "component": entry["component"],
                "variable": entry["variable"],
            }
            if key in self.config:
                result.update(attribute_status="Accepted", attribute_value=self.config[key])
            else:
                result["attribute_status"] = "UnknownVariable"
            results.append(result)
        return result201.GetVariables(get_variable_result=results)

    @on("Reset")
    def on_reset(self, type: str, **_: Any) -> Any:
        self.reset_type = type
        return result201.Reset(status="Accepted")

    async def boot(
        self, vendor: str = "ACME", model: str = "DC150", firmware: str = "2.0.0"
    ) -> Any:
        return await self.call(
            call201.BootNotification(
                charging_station={
                    "vendor_name": vendor,
                    "model": model,
                    "firmware_version": firmware,
                },
                reason="PowerUp",
            )
        )

    async def status(self, evse: int, connector: int, status: str = "Available") -> None:
        await self.call(
            call201.StatusNotification(
                timestamp="2024-01-01T00:00:00Z", connector_status=status, evse_id=evse,
                connector_id=connector,
            )
        )  # fmt: skip

    async def transaction(self, event: str, transaction: str = "T-1", seq: int = 0) -> None:
        await self.call(
            call201.TransactionEvent(
                event_type=event, timestamp="2024-01-01T00:00:00Z", trigger_reason="Authorized",
                seq_no=seq, transaction_info={"transaction_id": transaction},
                id_token={"id_token": "TAG", "type": "ISO14443"},
            )
        )  # fmt: skip


def _key(entry: dict[str, Any]) -> str:
    return key_of(
        entry["component"]["name"], entry["variable"]["name"], entry["variable"].get("instance")
    )


def basic(ident: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{ident}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@contextlib.asynccontextmanager
async def connect(
    url: str,
    ident: str,
    kind: type[Fake16] | type[Fake201] = Fake16,
    *,
    headers: dict[str, str] | None = None,
    ssl: Any = None,
    **fake: Any,
) -> AsyncIterator[Any]:
    """Connect fake charger ``ident`` to the head-end at ``url`` (``ws://.../ocpp/``) and run its reader."""
    protocol = "ocpp1.6" if kind is Fake16 else "ocpp2.0.1"
    async with ws_connect(
        url + ident,
        subprotocols=[protocol],  # type: ignore[list-item]
        additional_headers=headers,
        compression=None,
        ssl=ssl,
        open_timeout=TIMEOUT,
    ) as connection:
        charger = kind(ident, connection, **fake)
        reader = asyncio.create_task(charger.start())
        try:
            yield charger
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            for task in list(charger._tasks):
                task.cancel()


def driver_for(handle: Any, **overrides: Any) -> Any:
    """The project's HTTP driver aimed at a running head-end (quick test settings)."""
    from reconciler.drivers.http import HttpDriver
    from reconciler.drivers.settings import HeadendSettings

    values: dict[str, Any] = {
        "base_url": handle.api_url,
        "token": handle.token,
        "timeout_s": 30.0,
        "max_attempts": 2,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        **overrides,
    }
    return HttpDriver(HeadendSettings(**values))


async def until(predicate: Any, timeout: float = 30.0, step: float = 0.02) -> None:
    """Poll ``predicate()`` (sync or async) until true; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


async def final_status(driver: Any, job_id: str, timeout: float = 30.0) -> Any:
    """The job's status once it is accepted or declined."""
    found: list[Any] = []

    async def done() -> bool:
        found[:] = await driver.job_status([job_id])
        return bool(found) and found[0].status in ("accepted", "declined")

    await until(done, timeout)
    return found[0]
