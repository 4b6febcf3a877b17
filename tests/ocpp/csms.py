"""A small OCPP central system for tests: the ``ocpp`` library's server-side ChargePoint over websockets.

Reusable wherever a real central system is needed on loopback (the simulated
charge point tests; an upstream CSMS elsewhere).  It accepts ``ocpp1.6`` and
``ocpp2.0.1``, answers BootNotification (with :attr:`Csms.interval`,
:attr:`Csms.boot_status`), Heartbeat, StatusNotification, Start/StopTransaction,
TransactionEvent and FirmwareStatusNotification, and records per charger what
it saw (:class:`Seen`): connections with their subprotocol and Basic auth
credentials, every CALL received (action, payload).  :meth:`Csms.call` sends a
CALL to a connected charger (``ocpp.v16.call.*`` / ``ocpp.v201.call.*``) and
returns the library's CALLRESULT dataclass; a CALLERROR raises the library's
``OCPPError``.  :meth:`Csms.until` awaits a condition over what was seen.

Usage::

    csms = Csms(interval=60)
    async with csms.serving() as url:   # ws://127.0.0.1:PORT/ocpp
        ...
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201
from websockets.asyncio.server import ServerConnection, serve

QUIET = logging.getLogger("tests.ocpp.csms")
QUIET.setLevel(logging.CRITICAL)  # the library logs every frame (passwords included)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Connection:
    subprotocol: str | None
    username: str | None
    password: str | None


@dataclass
class Seen:
    """What the central system saw of one charger."""

    connections: list[Connection] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    connected: bool = False

    def of(self, action: str) -> list[dict[str, Any]]:
        """The payloads (snake_case, as the library hands them over) of CALLs ``action``."""
        return [payload for name, payload in self.calls if name == action]


class _Recorder:
    csms: Csms

    def record(self, action: str, payload: dict[str, Any]) -> None:
        self.csms.seen_of(self.id).calls.append((action, payload))
        self.csms.changed()


class Station16(ChargePoint16, _Recorder):  # type: ignore[misc]
    @on("BootNotification")
    def on_boot(self, **payload: Any) -> Any:
        self.record("BootNotification", payload)
        return result16.BootNotification(
            current_time=_now(), interval=self.csms.interval, status=self.csms.boot_status
        )

    @on("Heartbeat")
    def on_heartbeat(self, **payload: Any) -> Any:
        self.record("Heartbeat", payload)
        return result16.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def on_status(self, **payload: Any) -> Any:
        self.record("StatusNotification", payload)
        return result16.StatusNotification()

    @on("StartTransaction")
    def on_start(self, **payload: Any) -> Any:
        self.record("StartTransaction", payload)
        return result16.StartTransaction(
            transaction_id=next(self.csms.transaction_ids), id_tag_info=IdTagInfo(status="Accepted")
        )

    @on("StopTransaction")
    def on_stop(self, **payload: Any) -> Any:
        self.record("StopTransaction", payload)
        return result16.StopTransaction()

    @on("FirmwareStatusNotification")
    def on_firmware(self, **payload: Any) -> Any:
        self.record("FirmwareStatusNotification", payload)
        return result16.FirmwareStatusNotification()


class Station201(ChargePoint201, _Recorder):  # type: ignore[misc]
    @on("BootNotification")
    def on_boot(self, **payload: Any) -> Any:
        self.record("BootNotification", payload)
        return result201.BootNotification(
            current_time=_now(), interval=self.csms.interval, status=self.csms.boot_status
        )

    @on("Heartbeat")
    def on_heartbeat(self, **payload: Any) -> Any:
        self.record("Heartbeat", payload)
        return result201.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def on_status(self, **payload: Any) -> Any:
        self.record("StatusNotification", payload)
        return result201.StatusNotification()

    @on("TransactionEvent")
    def on_transaction(self, **payload: Any) -> Any:
        self.record("TransactionEvent", payload)
        return result201.TransactionEvent()

    @on("FirmwareStatusNotification")
    def on_firmware(self, **payload: Any) -> Any:
        self.record("FirmwareStatusNotification", payload)
        return result201.FirmwareStatusNotification()


STATIONS: dict[str, type[Any]] = {"ocpp1.6": Station16, "ocpp2.0.1": Station201}


class Csms:
    """The test central system: serves ``/ocpp/{id}``, records, and calls chargers."""

    def __init__(self, interval: int = 300, boot_status: str = "Accepted") -> None:
        self.interval = interval
        self.boot_status = boot_status
        self.seen: dict[str, Seen] = {}
        self.stations: dict[str, Any] = {}
        self.transaction_ids = itertools.count(1001)
        self._changed = asyncio.Event()
        self.errors: list[BaseException] = []
        """Why station loops ended (a closed connection, mostly)."""

    def seen_of(self, charger_id: str) -> Seen:
        return self.seen.setdefault(charger_id, Seen())

    def changed(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def until(self, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked on every recorded event); returns it."""
        async with asyncio.timeout(timeout):
            while True:
                event = self._changed
                value = predicate()
                if value:
                    return value
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):  # also re-check state changed elsewhere
                        await event.wait()

    async def call(self, charger_id: str, payload: Any, timeout: float = 30.0) -> Any:
        """Send ``payload`` (an ocpp call dataclass) to a connected charger; its answer."""
        station = await self.until(lambda: self.stations.get(charger_id), timeout)
        station._response_timeout = timeout
        return await station.call(payload, suppress=False)

    async def _handler(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request else ""
        charger_id = path.rstrip("/").rsplit("/", 1)[-1]
        protocol = connection.subprotocol
        auth = connection.request.headers.get("Authorization") if connection.request else None
        username = password = None
        if auth and auth.startswith("Basic "):
            username, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        seen = self.seen_of(charger_id)
        seen.connections.append(Connection(protocol, username, password))
        station = STATIONS[str(protocol)](charger_id, connection, logger=QUIET)
        station.csms = self
        self.stations[charger_id] = station
        seen.connected = True
        self.changed()
        try:
            await station.start()
        except Exception as exc:  # the connection closed (or the charger misbehaved): it is gone
            self.errors.append(exc)
        finally:
            if self.stations.get(charger_id) is station:
                del self.stations[charger_id]
            seen.connected = False
            self.changed()

    @contextlib.asynccontextmanager
    async def serving(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve on ``host:port`` (0: a free port); yields the URL chargers append their id to."""
        async with serve(
            self._handler,
            host,
            port,
            subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
            ping_interval=None,
            compression=None,
        ) as server:
            bound = next(iter(server.sockets)).getsockname()[1]
            yield f"ws://{host}:{bound}/ocpp"
