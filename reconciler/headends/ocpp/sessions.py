"""One connected charge point: reading its frames, answering its CALLs, and the one call path to it.

Created by :mod:`.server` per WebSocket connection; the protocol's handlers
are in :mod:`.handlers16` and :mod:`.handlers201` (subclasses of
:class:`Session`, itself a subclass of the ``ocpp`` library's
``ChargePoint``).  What is kept per connection is small on purpose (10,000
connections in one process): the route map is built once per class, not per
instance, and no task runs per connection beyond the reader.

- Every frame goes through :mod:`.guard` first (junk gets a CALLERROR and the
  connection stays; a flood beyond the budget is closed with 1008; a binary
  frame with 1003), then CALLs are validated against the ``ocpp`` library's
  schemas and dispatched to the handler of their action.
- :meth:`Session.request` is the head-end's only way to send a CALL: one
  outstanding call per connection (:attr:`Session.gate`), a CALLERROR
  raised as :class:`~reconciler.errors.ChargerCallError`, no answer in time as
  :class:`~reconciler.errors.ChargerTimeoutError`, a closed connection as
  :class:`~reconciler.errors.ChargerGoneError`.  Its ids are ``rcn-<n>``.
  Handlers never call it (that
  would wait for an answer the reader cannot read while it runs the handler):
  they tell the hub, whose tasks call.
- Relay mode (:attr:`Session.relay`, a :class:`~.relay.Link`): the charger's
  CALLs that pass the guard and the schema check still run the handler (the
  hub learns from them) but are answered by the upstream, relayed raw; the
  charger's answers that are not for the head-end's call in progress go
  upstream raw; the upstream's CALLs share the connection's gate with
  :meth:`Session.request`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ocpp.charge_point import ChargePoint, camel_to_snake_case  # type: ignore[import-untyped]
from ocpp.exceptions import OCPPError  # type: ignore[import-untyped]
from ocpp.routing import create_route_map  # type: ignore[import-untyped]
from ocpp.routing import on as _on
from ocpp.v16.enums import Action as Action16  # type: ignore[import-untyped]
from ocpp.v201.enums import Action as Action201  # type: ignore[import-untyped]
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from reconciler.errors import ChargerCallError, ChargerGoneError, ChargerTimeoutError
from reconciler.headends.ocpp import guard, schemas
from reconciler.headends.ocpp.records import Charger
from reconciler.headends.ocpp.relay import learns
from reconciler.headends.ocpp.relayparts import OWN_PREFIX, Gate
from reconciler.headends.ocpp.wire import compact_json

if TYPE_CHECKING:
    from reconciler.headends.ocpp.hub import Hub
    from reconciler.headends.ocpp.relay import Link

log = logging.getLogger(__name__)

QUIET = logging.getLogger("reconciler.headends.ocpp.library")
"""The ``ocpp`` library's logger for our ChargePoints: it would log every message (and its
values, passwords included) at INFO; this one only shows warnings and is never given values."""
QUIET.setLevel(logging.WARNING)

KNOWN_ACTIONS = frozenset(str(a) for a in Action16) | frozenset(str(a) for a in Action201)
ERROR_CODES = frozenset(
    [
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "FormatViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "OccurrenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
        "RpcFrameworkError",
        "MessageTypeNotSupported",
    ]
)


Handler = TypeVar("Handler", bound=Callable[..., dict[str, Any]])


def on(action: str) -> Callable[[Handler], Handler]:
    """The ``ocpp`` library's ``@on(action)``, typed: marks a session method as the handler of ``action``."""
    decorator: Callable[[Handler], Handler] = _on(action)
    return decorator


def action_label(action: str) -> str:
    """An action as a metric label: OCPP's own names only, anything else is ``other``."""
    return action if action in KNOWN_ACTIONS else "other"


class Session(ChargePoint):  # type: ignore[misc]
    """A connected charge point (base of the 1.6 and 2.0.1 sessions)."""

    protocol: ClassVar[str] = ""
    _ocpp_version: ClassVar[str] = ""
    _actions: ClassVar[frozenset[str]] = frozenset()
    _routes: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # One route map per class (the library builds one per instance: ~6 KB each).
        cls._routes = create_route_map(cls)

    def __init__(self, hub: Hub, connection: ServerConnection, charger: Charger) -> None:
        # The library's __init__ is not called: it builds a per-instance route map and a
        # response queue this class does not use.  These are the attributes it would set.
        self.id = charger.id
        self._connection = connection
        self._response_timeout = hub.options.call_timeout_s
        self.gate = Gate(hub.metrics.calls_waiting if hub.options.upstream else None)
        """One outstanding call on this connection, FIFO across the head-end and the upstream."""
        self._call_lock = self.gate  # what the library's own call() would take
        self.logger = QUIET
        self.route_map = self._routes
        self.hub = hub
        self.charger = charger
        self.budget = guard.Budget(hub.options.max_messages_per_s, hub.options.burst)
        self._pending: tuple[str, str, asyncio.Future[tuple[int, Any]]] | None = None
        self._counter = 0
        self.closed = False
        self.relay: Link | None = None
        """In relay mode: this connection's continuation upstream (set by the server)."""

    # --- reading -----------------------------------------------------------------------------

    async def serve(self) -> None:
        """Read and handle frames until the connection closes (never raises for the peer's doing)."""
        metrics = self.hub.metrics
        try:
            async for message in self._connection:
                if self.closed:
                    return  # closed by us (flood): the frames still buffered are not read
                if isinstance(message, bytes):
                    metrics.inc(metrics.refused, "binary")
                    await self._connection.close(1003, "OCPP-J uses text frames")
                    return
                await self.route_message(message)
        except ConnectionClosed as exc:
            if exc.sent is not None and exc.sent.code == 1009:
                metrics.inc(metrics.refused, "oversized")
        finally:
            self.gone()

    def gone(self) -> None:
        """The connection is over: an outstanding call fails with ChargerGoneError."""
        self.closed = True
        pending, self._pending = self._pending, None
        if pending is not None and not pending[2].done():
            pending[2].set_exception(ChargerGoneError(f"{self.id} disconnected"))

    async def route_message(self, raw: str) -> None:
        """One text frame: junk is answered with a CALLERROR, CALLs are handled, answers matched."""
        self.charger.seen()
        frame = guard.parse(raw)
        metrics = self.hub.metrics
        if isinstance(frame, guard.Refusal):
            metrics.inc(metrics.refused, "bad_json")
            if not self.budget.take() and self.budget.flooding:
                await self._flooded()
                return
            if frame.answer:
                await self.send_error(frame.unique_id, frame.code, frame.description)
            return
        if frame.kind == 2:
            metrics.inc(metrics.messages_in, action_label(frame.action))
            if not self.budget.take():
                metrics.inc(metrics.refused, "rate_limited")
                if self.budget.flooding:
                    await self._flooded()
                    return
                await self.send_error(frame.unique_id, "GenericError", "message rate exceeded")
                return
            await self._dispatch(frame, raw)
            return
        pending = self._pending
        if pending is not None and pending[0] == frame.unique_id and not pending[2].done():
            metrics.inc(metrics.messages_in, pending[1])
            pending[2].set_result((frame.kind, frame.payload))
        elif self.relay is not None and await self.relay.charger_answer(frame.unique_id, raw):
            return  # the answer to the upstream's call at the charger
        elif not self.budget.take() and self.budget.flooding:  # stray answers count too
            await self._flooded()

    async def _flooded(self) -> None:
        self.closed = True
        self.hub.metrics.inc(self.hub.metrics.refused, "flood")
        log.warning("%s: closing the connection: too many messages", self.id)
        await self._connection.close(1008, "message rate exceeded")

    async def _dispatch(self, frame: guard.Frame, raw: str) -> None:
        routes = self._routes.get(frame.action)
        relay = self.relay
        relayed = relay is not None and frame.action in self._actions
        if (routes is None or "_on_action" not in routes) and not relayed:
            known = frame.action in self._actions
            code = "NotImplemented" if known else "NotSupported"
            await self.send_error(frame.unique_id, code, f"{frame.action[:64]} is not handled")
            return
        try:
            schemas.check_call(frame.unique_id, frame.action, frame.payload, self._ocpp_version)
        except OCPPError as exc:
            await self.send_error(frame.unique_id, exc.code, _first_line(exc.description))
            return
        except (RecursionError, ValueError, TypeError):  # too deep or too odd to validate
            await self.send_error(frame.unique_id, "FormatViolation", "invalid payload")
            return
        if relay is not None:  # the head-end learns; the upstream answers
            if routes and "_on_action" in routes and learns(self.protocol, frame.action):
                try:
                    routes["_on_action"](self, **camel_to_snake_case(frame.payload))
                except Exception:  # no payload in the log
                    log.exception("%s: learning from %s failed", self.id, frame.action)
            await relay.charger_call(frame.unique_id, frame.action, raw)
            return
        assert routes is not None
        handler: Callable[..., dict[str, Any]] = routes["_on_action"]
        try:
            answer = handler(self, **camel_to_snake_case(frame.payload))
        except Exception:  # a bug of ours must not end the connection; no payload in the log
            log.exception("%s: handling %s failed", self.id, frame.action)
            await self.send_error(frame.unique_id, "InternalError", "the head-end failed")
            return
        self.hub.metrics.inc(self.hub.metrics.messages_out, action_label(frame.action))
        await self.send_text(compact_json([3, frame.unique_id, answer]))

    async def send_error(self, unique_id: str, code: str, description: str) -> None:
        """Answer the charger's CALL ``unique_id`` with a CALLERROR (counted)."""
        spelled = guard.error_code(code, self.protocol)
        self.hub.metrics.inc(self.hub.metrics.callerrors_sent, spelled)
        await self.send_text(guard.call_error(unique_id, code, description, self.protocol))

    async def send_text(self, text: str) -> None:
        """Send one text frame as it is (a closed connection is not an error here)."""
        with contextlib.suppress(ConnectionClosed):  # the reader sees the close and ends
            await self._connection.send(text)

    # --- calling -----------------------------------------------------------------------------

    async def request(
        self, action: str, payload: dict[str, Any], timeout_s: float | None = None
    ) -> dict[str, Any]:
        """Send one CALL and return the CALLRESULT's payload (camelCase, unvalidated)."""
        async with self.gate:  # one outstanding call per connection
            if self.closed:
                raise ChargerGoneError(f"{self.id} is not connected")
            self._counter += 1
            unique_id = f"{OWN_PREFIX}{self._counter}"
            future: asyncio.Future[tuple[int, Any]] = asyncio.get_running_loop().create_future()
            self._pending = (unique_id, action, future)
            try:
                text = compact_json([2, unique_id, action, payload])
                try:
                    await self._connection.send(text)
                except ConnectionClosed as exc:
                    self.closed = True
                    raise ChargerGoneError(f"{self.id} disconnected") from exc
                self.hub.metrics.inc(self.hub.metrics.messages_out, action)
                wait = timeout_s if timeout_s is not None else self._response_timeout
                timer = asyncio.get_running_loop().call_later(wait, _expire, future)
                try:
                    kind, body = await future
                except TimeoutError as exc:
                    raise ChargerTimeoutError(f"{self.id}: no answer to {action} in time") from exc
                finally:
                    timer.cancel()
            finally:
                if self._pending is not None and self._pending[0] == unique_id:
                    self._pending = None
        if kind == 4:
            code, description = body
            self.hub.metrics.inc(
                self.hub.metrics.callerrors_received, code if code in ERROR_CODES else "other"
            )
            raise ChargerCallError(code, description)
        result: dict[str, Any] = body
        return result

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._connection.close(code, reason)


def _expire(future: asyncio.Future[tuple[int, Any]]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


def _first_line(text: str) -> str:
    return text.splitlines()[0][:200] if text else "invalid payload"
