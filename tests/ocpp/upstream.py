"""An upstream central system for the relay tests: the test CSMS that records raw frames and calls chargers.

Built on :class:`tests.ocpp.csms.Csms` (the ``ocpp`` library's server-side
ChargePoint).  :class:`Upstream` adds, per charger, every raw frame it
received and sent (to prove that the relay forwards text unchanged and in
order), a chatter loop that sends one call per connected charger every
``period_s`` (1.6: GetConfiguration, ChangeConfiguration, RemoteStartTransaction
of keys a profile does not manage; 2.0.1: GetVariables, SetVariables,
RequestStartTransaction) and records their outcomes, :meth:`Upstream.kill`
(every connection dropped without a close frame, as a crash would) and
:meth:`Upstream.close_charger` (a close frame with a code).
:class:`UpstreamThread` runs one in a thread of its own for tests whose head-end
and chargers also run in threads.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import ssl
import threading
import time
from collections import Counter
from collections.abc import Coroutine
from typing import Any

from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.asyncio.server import Server, ServerConnection, serve

from tests.ocpp.csms import QUIET, Connection, Csms, Station16, Station201


class _Raw:
    upstream: Upstream
    id: str

    async def _send(self, message: str) -> None:
        self.upstream.raw_out.setdefault(self.id, []).append(message)
        await self._connection.send(message)  # type: ignore[attr-defined]

    async def route_message(self, raw_msg: str) -> None:
        self.upstream.raw_in.setdefault(self.id, []).append(raw_msg)
        await super().route_message(raw_msg)  # type: ignore[misc]


class Raw16(_Raw, Station16):
    @on("Authorize")
    def on_authorize(self, **payload: Any) -> Any:
        self.record("Authorize", payload)
        return result16.Authorize(id_tag_info={"status": "Accepted"})


class Raw201(_Raw, Station201):
    @on("Authorize")
    def on_authorize(self, **payload: Any) -> Any:
        self.record("Authorize", payload)
        return result201.Authorize(id_token_info={"status": "Accepted"})


def calls_for(protocol: str, turn: int) -> Any:
    """The upstream's ``turn``-th call to a charger of ``protocol`` (keys no test profile manages)."""
    if protocol == "ocpp1.6":
        return [
            call16.GetConfiguration(key=["ClockAlignedDataInterval"]),
            call16.ChangeConfiguration(key="ClockAlignedDataInterval", value="0"),
            call16.RemoteStartTransaction(id_tag="UPSTREAM", connector_id=2),
        ][turn % 3]
    aligned = {"component": {"name": "AlignedDataCtrlr"}, "variable": {"name": "Interval"}}
    return [
        call201.GetVariables(get_variable_data=[aligned]),
        call201.SetVariables(set_variable_data=[{**aligned, "attribute_value": "0"}]),
        call201.RequestStartTransaction(
            id_token={"id_token": "UPSTREAM", "type": "Central"}, remote_start_id=turn, evse_id=2
        ),
    ][turn % 3]


class Upstream(Csms):
    """The test CSMS with raw frame records, chatter, kill and close."""

    def __init__(self, interval: int = 300, id_prefix: str | None = None) -> None:
        super().__init__(interval=interval)
        self.raw_in: dict[str, list[str]] = {}
        self.raw_out: dict[str, list[str]] = {}
        self.outcomes: Counter[str] = Counter()
        """``ok``, ``callerror`` or ``timeout`` of the chatter's calls."""
        self.id_prefix = id_prefix
        """Message ids of the chatter's calls (``None``: the library's uuids)."""
        self._ids = itertools.count(1)
        self._server: Server | None = None
        self.tls: ssl.SSLContext | None = None
        """Serve ``wss://`` with this context (set before :meth:`start`)."""
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def connections_of(self, charger_id: str) -> int:
        return len(self.seen_of(charger_id).connections)

    async def _handler(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request else ""
        charger_id = path.rstrip("/").rsplit("/", 1)[-1]
        protocol = str(connection.subprotocol)
        station = (Raw16 if protocol == "ocpp1.6" else Raw201)(charger_id, connection, logger=QUIET)
        station.upstream = self
        auth = connection.request.headers.get("Authorization") if connection.request else None
        user = password = None
        if auth and auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        seen = self.seen_of(charger_id)
        seen.connections.append(Connection(protocol, user, password))
        station.csms = self
        self.stations[charger_id] = station
        seen.connected = True
        self.changed()
        try:
            await station.start()
        except Exception as exc:
            self.errors.append(exc)
        finally:
            if self.stations.get(charger_id) is station:
                del self.stations[charger_id]
            seen.connected = False
            self.changed()

    async def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1:``port``; the URL chargers' ids are appended to."""
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            port,
            subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
            ping_interval=None,
            compression=None,
            ssl=self.tls,
        )
        bound = next(iter(self._server.sockets)).getsockname()[1]
        self.port = bound
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{bound}/ocpp"

    async def kill(self) -> None:
        """Stop listening and drop every connection without a close frame (a crash)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close(close_connections=False)
        for connection in list(server.connections):
            connection.transport.abort()
        await server.wait_closed()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def close_charger(self, charger_id: str, code: int, reason: str = "") -> None:
        station = await self.until(lambda: self.stations.get(charger_id))
        await station._connection.close(code, reason)

    async def chatter(self, period_s: float, timeout_s: float = 20.0) -> None:
        """Forever: one call to every connected charger not already answering one, every ``period_s``."""
        turn = 0
        while True:
            for charger_id, station in list(self.stations.items()):
                if charger_id in self._busy:
                    continue
                self._busy.add(charger_id)
                payload = calls_for(station.connection_protocol(), turn)
                task = asyncio.create_task(self._one(charger_id, station, payload, timeout_s))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            turn += 1
            await asyncio.sleep(period_s)

    async def _one(self, charger_id: str, station: Any, payload: Any, timeout_s: float) -> None:
        station._response_timeout = timeout_s
        unique_id = f"{self.id_prefix}{next(self._ids)}" if self.id_prefix else None
        try:
            await station.call(payload, suppress=False, unique_id=unique_id)
            self.outcomes["ok"] += 1
        except TimeoutError:
            self.outcomes["timeout"] += 1
        except Exception:  # a CALLERROR (OCPPError), or the connection went away
            self.outcomes["callerror" if station is self.stations.get(charger_id) else "gone"] += 1
        finally:
            self._busy.discard(charger_id)
            self.changed()


def _protocol(station: Any) -> str:
    return str(station._connection.subprotocol)


Raw16.connection_protocol = _protocol  # type: ignore[attr-defined]
Raw201.connection_protocol = _protocol  # type: ignore[attr-defined]


class UpstreamThread:
    """An :class:`Upstream` in a thread with its own loop; synchronous helpers for plain tests."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="upstream", daemon=True)
        self.url = ""
        self.port = 0

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __enter__(self) -> UpstreamThread:
        self.thread.start()
        self.url = self.run(self.upstream.start())
        self.port = self.upstream.port
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.run(self.upstream.stop(), timeout=20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=20)
        if not self.thread.is_alive():
            self.loop.close()

    def chatter(self, period_s: float) -> None:
        self.loop.call_soon_threadsafe(
            lambda: self.upstream._tasks.add(self.loop.create_task(self.upstream.chatter(period_s)))
        )

    def kill(self) -> None:
        self.run(self.upstream.kill())

    def restart(self) -> None:
        deadline = time.monotonic() + 20
        while True:
            try:
                self.run(self.upstream.start(self.port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def snapshot(self, what: Any) -> Any:
        """Evaluate ``what(upstream)`` in the upstream's loop (consistent reads)."""

        async def read() -> Any:
            return what(self.upstream)

        return self.run(read())
