"""One simulated OCPP charge point: its connection loop, calls both ways, faults and counters.

Run by the fleet runner (:mod:`reconciler.headends.ocpp.simfleet`), many
thousands per process: one task per charger (the WebSocket reader), one timer
for its heartbeat, short-lived tasks only for the calls it makes (boot,
heartbeat, transactions).  What it answers is decided per protocol by
:mod:`reconciler.headends.ocpp.simv16` and :mod:`reconciler.headends.ocpp.simv201`
over its :class:`~reconciler.headends.ocpp.simconfig.ConfigStore`.

Frames are parsed and incoming CALLs schema-checked with the ``ocpp`` library
(``unpack``, ``validate_payload``, its CALLERROR classes); the handlers work on
the camelCase payloads directly, without the library's ``ChargePoint`` and its
per-message snake_case and dataclass conversions: measured, a GetConfiguration CALL
costs ~34 us here against ~105 us through ``ocpp.v16.ChargePoint.route_message``,
and a charger with its store ~2.3 KB against ~4 KB for a bare library instance.
Payloads are never logged: they may carry passwords.
"""

# The ocpp library ships no type information.
# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ocpp.exceptions import InternalError, OCPPError
from ocpp.messages import Call, CallError, CallResult, unpack
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from reconciler.errors import ChargerCallError, ChargerGoneError, ChargerTimeoutError
from reconciler.headends.ocpp import schemas
from reconciler.headends.ocpp.simconfig import ConfigStore
from reconciler.headends.ocpp.simlink import LOG, SimContext
from reconciler.headends.ocpp.wire import HEARTBEAT_KEYS, compact_json

Answer = tuple[dict[str, Any], Callable[[], Awaitable[None]] | None]
"""A handler's CALLRESULT payload, and what to do once it is sent (a coroutine factory)."""


class Rules(Protocol):
    """What one protocol version answers and sends (:mod:`simv16`, :mod:`simv201`)."""

    version: str
    handlers: dict[str, Callable[[SimCharger, dict[str, Any], str], Answer]]

    async def boot(self, charger: SimCharger) -> dict[str, Any]: ...
    async def after_boot(self, charger: SimCharger) -> None: ...
    async def start_transaction(self, charger: SimCharger, remote_id: int | None) -> None: ...
    async def stop_transaction(self, charger: SimCharger, reason: str) -> None: ...
    async def trigger(self, charger: SimCharger, message: str) -> None: ...


class SimCharger:
    """One simulated charge point (state, faults, counters); :meth:`run` is its life."""

    __slots__ = (
        "_call_lock",
        "_heartbeat",
        "_offline_until",
        "_waiting",
        "boot_needed",
        "boot_reason",
        "connected",
        "counters",
        "ctx",
        "drop_answers",
        "firmware",
        "firmware_installed",
        "id",
        "protocol",
        "reset_scheduled",
        "rules",
        "serial",
        "slow_s",
        "store",
        "transaction",
        "tx_seq",
        "ws",
    )

    def __init__(
        self, ctx: SimContext, charger_id: str, store: ConfigStore, rules: Rules, firmware: str
    ) -> None:
        self.ctx = ctx
        self.id = charger_id
        self.store = store
        self.rules = rules
        self.protocol = store.model.protocol
        self.firmware = firmware
        self.serial = f"SN-{charger_id}"[:25]
        self.ws: ClientConnection | None = None
        self.connected = False
        self.boot_needed = True
        self.boot_reason = "PowerUp"
        self.firmware_installed = False
        self.transaction: str | None = None
        self.tx_seq = 0
        self.reset_scheduled = False
        self.counters: dict[str, int] = {}
        self.slow_s = 0.0
        self.drop_answers = 0
        self._offline_until = 0.0
        self._waiting: tuple[str, asyncio.Future[Any]] | None = None
        self._call_lock: asyncio.Lock | None = None
        self._heartbeat: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"SimCharger({self.id!r}, {self.protocol})"

    def count(self, name: str, by: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + by

    @property
    def busy(self) -> bool:
        return self.transaction is not None

    # --- the connection loop ---------------------------------------------------------------

    async def run(self) -> None:
        """Connect, boot when powered up, answer calls; reconnect with backoff until stopped."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while not self.ctx.stopping:
            wait = self._offline_until - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            try:
                ws = await self.ctx.open(self)
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                attempt += 1
                LOG.debug("%s: connect failed (%s)", self.id, type(exc).__name__)
                await asyncio.sleep(self.ctx.backoff(attempt))
                continue
            opened = loop.time()
            self.ws, self.connected = ws, True
            self.count("connects")
            self.ctx.spawn(self._session(ws))
            try:
                async for raw in ws:
                    await self._on_frame(ws, raw if isinstance(raw, str) else raw.decode())
            except ConnectionClosed:
                pass
            finally:
                self._gone(ws)
            attempt = attempt + 1 if loop.time() - opened < 2.0 else 0
            if attempt and not self.ctx.stopping and self._offline_until <= loop.time():
                await asyncio.sleep(self.ctx.backoff(attempt))

    def _gone(self, ws: ClientConnection) -> None:
        if self.ws is ws:
            self.ws, self.connected = None, False
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        if self._waiting is not None and not self._waiting[1].done():
            self._waiting[1].set_exception(ChargerGoneError(f"{self.id} disconnected"))

    async def _session(self, ws: ClientConnection) -> None:
        """After connecting: BootNotification (only after a power-up), status, heartbeats."""
        try:
            if self.boot_needed:
                while self.ws is ws:
                    answer = await self.rules.boot(self)
                    interval = int(answer.get("interval", 0))
                    if answer.get("status") == "Accepted":
                        break
                    await asyncio.sleep(max(interval, 1))
                else:
                    return
                self.count("boots")
                self.boot_needed = False
                if interval > 0:
                    self.store.put(HEARTBEAT_KEYS[self.protocol], str(interval))
                await self.rules.after_boot(self)
            self._schedule_heartbeat()
        except (ChargerGoneError, ChargerTimeoutError, ChargerCallError) as exc:
            LOG.debug("%s: boot sequence interrupted (%s)", self.id, type(exc).__name__)

    def _schedule_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        text = self.store.get(HEARTBEAT_KEYS[self.protocol]) or "0"
        interval = int(text) if text.isdigit() else 0
        if interval > 0 and self.ws is not None:
            loop = asyncio.get_running_loop()
            self._heartbeat = loop.call_later(interval, self._beat)

    def _beat(self) -> None:
        self._heartbeat = None
        self.ctx.spawn(self.heartbeat())

    async def heartbeat(self) -> None:
        """Send one Heartbeat and schedule the next one."""
        try:
            await self.call("Heartbeat", {})
            self.count("heartbeats_sent")
        except (ChargerGoneError, ChargerTimeoutError, ChargerCallError):
            pass
        self._schedule_heartbeat()

    # --- messages ------------------------------------------------------------------------------

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CALL and wait for its CALLRESULT payload (one outstanding call at a time)."""
        if self._call_lock is None:
            self._call_lock = asyncio.Lock()
        async with self._call_lock:
            ws = self.ws
            if ws is None:
                raise ChargerGoneError(f"{self.id} is not connected")
            uid = self.ctx.unique_id()
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._waiting = (uid, future)
            try:
                await ws.send(compact_json([2, uid, action, payload]))
                return dict(await asyncio.wait_for(future, self.ctx.call_timeout))
            except ConnectionClosed:
                raise ChargerGoneError(f"{self.id} disconnected") from None
            except TimeoutError:
                raise ChargerTimeoutError(f"{self.id}: no answer to {action}") from None
            finally:
                self._waiting = None
                if future.done() and not future.cancelled():
                    future.exception()  # retrieved: a close during send() is reported once

    async def _on_frame(self, ws: ClientConnection, raw: str) -> None:
        try:
            message = unpack(raw)
        except OCPPError as exc:
            LOG.debug("%s: unreadable frame ignored (%s)", self.id, exc.code)
            return
        if isinstance(message, Call):
            await self._on_call(ws, message, raw)
            return
        waiting = self._waiting
        if waiting is None or waiting[0] != message.unique_id or waiting[1].done():
            LOG.debug("%s: answer to no outstanding call ignored", self.id)
            return
        if isinstance(message, CallResult) and isinstance(message.payload, dict):
            waiting[1].set_result(message.payload)
        elif isinstance(message, CallError):
            code, text = str(message.error_code), str(message.error_description)
            LOG.debug("%s: CALLERROR %s from the central system", self.id, code)
            waiting[1].set_exception(ChargerCallError(code, text))
        else:
            waiting[1].set_exception(ChargerCallError("FormatViolation", "malformed answer"))

    async def _on_call(self, ws: ClientConnection, message: Call, raw: str) -> None:
        action = str(message.action)
        self.count(action)
        after: Callable[[], Awaitable[None]] | None = None
        try:
            handler = self.rules.handlers.get(action)
            if handler is None:
                from ocpp.charge_point import _raise_key_error

                _raise_key_error(action, self.rules.version)
                raise InternalError()
            if not isinstance(message.payload, dict):
                raise InternalError(description="payload is no object")
            schemas.check_call(message.unique_id, action, message.payload, self.rules.version)
            payload, after = handler(self, message.payload, raw)
            text = compact_json([3, message.unique_id, payload])  # the library's to_json, faster
        except OCPPError as exc:
            text = message.create_call_error(exc).to_json()
        except Exception as exc:  # a handler bug must not end the charger
            LOG.warning("%s: %s handler failed: %s", self.id, action, type(exc).__name__)
            text = message.create_call_error(InternalError()).to_json()
        if self.drop_answers > 0:
            self.drop_answers -= 1
            self.count("answers_dropped")
            text = ""
        if self.slow_s > 0:
            self.ctx.spawn(self._answer_later(ws, text, self.slow_s, after))
            return
        if text:
            try:
                await ws.send(text)
            except ConnectionClosed:
                return
        if after is not None:
            self.ctx.spawn(after())

    async def _answer_later(
        self,
        ws: ClientConnection,
        text: str,
        delay: float,
        after: Callable[[], Awaitable[None]] | None,
    ) -> None:
        await asyncio.sleep(delay)
        if text:
            try:
                await ws.send(text)
            except ConnectionClosed:
                return
        if after is not None:
            await after()

    # --- what happens to the charger (OCPP or faults) --------------------------------------------

    async def disconnect(self, for_s: float = 1.0) -> None:
        """Drop the connection and stay offline ``for_s`` seconds (no reboot: no BootNotification)."""
        loop = asyncio.get_running_loop()
        self._offline_until = loop.time() + max(0.0, for_s)
        self.count("disconnects")
        ws = self.ws
        if ws is not None:
            await ws.close()

    async def reboot(self, reason: str = "PowerUp", delay: float | None = None) -> None:
        """Power-cycle: end any transaction, apply pending values, reconnect, BootNotification."""
        self.transaction = None
        self.reset_scheduled = False
        self.boot_needed = True
        self.boot_reason = reason
        self.store.reboot()
        self.count("reboots")
        wait = self.ctx.reboot_delay if delay is None else delay
        self._offline_until = asyncio.get_running_loop().time() + wait
        ws = self.ws
        if ws is not None:
            await ws.close()

    async def update_firmware(self, version: str) -> None:
        """The charger installs ``version`` and reboots (BootNotification with the new version)."""
        self.firmware = version
        self.firmware_installed = True
        await self.reboot("FirmwareUpdate")

    async def reconnect(self) -> None:
        """Close and reconnect at once (after a password change: the new password is used)."""
        ws = self.ws
        if ws is not None:
            await ws.close()

    async def start_transaction(self, remote_id: int | None = None) -> bool:
        """A driver plugs in (or a remote start): ``False`` when a transaction is already active."""
        if self.transaction is not None:
            return False
        self.tx_seq = 0
        self.transaction = f"tx-{self.counters.get('transactions', 0) + 1}"
        self.count("transactions")
        try:
            await self.rules.start_transaction(self, remote_id)
        except (ChargerGoneError, ChargerTimeoutError, ChargerCallError) as exc:
            LOG.debug("%s: start transaction not reported (%s)", self.id, type(exc).__name__)
        return True

    async def stop_transaction(self, reason: str = "Local") -> bool:
        """The transaction ends; a Reset scheduled for idle runs now. ``False`` if none was active."""
        if self.transaction is None:
            return False
        try:
            await self.rules.stop_transaction(self, reason)
        except (ChargerGoneError, ChargerTimeoutError, ChargerCallError) as exc:
            LOG.debug("%s: stop transaction not reported (%s)", self.id, type(exc).__name__)
        self.transaction = None
        if self.reset_scheduled:
            await self.reboot("ScheduledReset")
        return True

    def describe(self) -> dict[str, Any]:
        """The control API's view of this charger (no secret values)."""
        return {
            "id": self.id,
            "protocol": self.protocol,
            "type": self.store.model.gateway_type,
            "vendor": self.store.model.vendor,
            "model": self.store.model.model,
            "firmware": self.firmware,
            "connected": self.connected,
            "busy": self.busy,
            "transaction": self.transaction,
            "reset_scheduled": self.reset_scheduled,
            "has_password": bool(self.store.password()),
            "parameters": self.store.snapshot(),
            "pending_reboot": sorted(self.store.pending),
            "faults": {"slow_s": self.slow_s, "drop_answers": self.drop_answers},
            "counters": dict(self.counters),
        }
