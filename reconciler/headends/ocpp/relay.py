"""Relay mode: each charger's connection continued to an upstream central system, frames unchanged.

:class:`Relay` is built once by :mod:`.server` when ``--upstream`` is given;
the server's connection handler asks it for one :class:`Link` per charger
session, and :mod:`.sessions` hands the link what is not the head-end's own.

- Upstream connection: ``{upstream}/{chargePointId}``, the charger's
  subprotocol, the charger's HTTP Basic credentials (or none), TLS verified.
  A network failure or a refused handshake is retried in the background with
  exponential backoff and jitter (capped) while the charger stays connected;
  a close frame from the upstream closes the charger too (same code where
  sendable, else 1000).  A charger that goes away closes its upstream
  connection.
- Charger CALLs (after the head-end's guard, rate limit, schema check and
  its own bookkeeping) are sent upstream as the raw text; the upstream's
  CALLRESULT/CALLERROR goes back as the raw text.  Without an answer within
  ``wait_s`` (upstream down, connecting or slow) the head-end answers
  CALLERROR ``InternalError`` "upstream unavailable" (a later upstream answer
  is dropped).  The upstream's BootNotification answer is read (a copy) for
  the interval the charger was told; a 1.6 StartTransaction answer for the
  transaction id that makes the charger busy.
- Upstream CALLs wait their turn at the connection's :class:`~.relayparts.Gate`
  (:attr:`~.sessions.Session.gate`, shared with the head-end's own calls,
  FIFO), are sent raw, and hold the
  gate until the charger answers or ``call_timeout_s`` passes (the upstream
  then times out by itself).  Calls still queued when their upstream
  connection ends are dropped: the upstream has given up on them.
- Charger answers that are not the head-end's (see
  :meth:`~.sessions.Session.route_message`) go upstream raw, except late
  answers to the head-end's own ``rcn-`` calls.

Counted in the head-end's :class:`~.metrics.Metrics` (its relay families).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from reconciler.headends.ocpp.metrics import Metrics
from reconciler.headends.ocpp.relayparts import (
    OWN_PREFIX,
    RelaySettings,
    backoff,
    close_code,
    peek,
    upstream_tls,
)

if TYPE_CHECKING:
    from reconciler.headends.ocpp.sessions import Session

log = logging.getLogger(__name__)
_ws_log = logging.getLogger("reconciler.headends.ocpp.relay.websockets")
_ws_log.setLevel(logging.WARNING)

RECENT_IDS = 64
"""Upstream call ids remembered per link, to route late answers of timed-out calls."""
UNAVAILABLE = "upstream unavailable"


class Relay:
    """The relay of one head-end: settings, TLS context and metrics shared by every link."""

    def __init__(self, settings: RelaySettings, metrics: Metrics) -> None:
        self.settings = settings
        self.tls = upstream_tls(settings)
        self.metrics = metrics
        metrics.enable_relay()
        self.base = settings.url.rstrip("/")

    def link(self, session: Session, authorization: str | None) -> Link:
        """The link of a new charger session (call :meth:`Link.start`)."""
        headers = {}
        if self.settings.user_from == "charger" and authorization:
            headers["Authorization"] = authorization
        return Link(self, session, f"{self.base}/{quote(session.id, safe='')}", headers)


class _ChargerCall:
    __slots__ = ("action", "raw", "sent", "timer")

    def __init__(self, action: str, raw: str, timer: asyncio.TimerHandle) -> None:
        self.action = action
        self.raw = raw
        self.sent = False
        self.timer = timer


class Link:
    """One charger's continuation upstream."""

    def __init__(self, relay: Relay, session: Session, url: str, headers: dict[str, str]) -> None:
        self.relay = relay
        self.session = session
        self.url = url
        self.headers = headers
        self.ws: ClientConnection | None = None
        self.generation = 0
        """Counts upstream connections: a queued upstream call only goes out on its own one."""
        self.state = ""
        self.told_interval: int | None = None
        """The HeartbeatInterval of the last upstream BootNotification answer relayed."""
        self._calls: dict[str, _ChargerCall] = {}
        self._backlog: deque[str] = deque()
        self._outstanding: tuple[str, asyncio.Future[None]] | None = None
        self._recent: deque[str] = deque(maxlen=RECENT_IDS)
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False

    # --- life --------------------------------------------------------------------------------

    def start(self) -> None:
        self._set_state("connecting")
        self._runner = asyncio.get_running_loop().create_task(self._run(), name="ocpp-upstream")

    async def stop(self, code: int = 1000) -> None:
        """The charger is gone: close the upstream connection, fail nothing (no one is left)."""
        self._stopping = True
        ws = self.ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(close_code(code)), 5)
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        for task in list(self._tasks):
            task.cancel()
        for call in self._calls.values():
            call.timer.cancel()
        self._calls.clear()
        self._set_state("")

    def _set_state(self, state: str) -> None:
        metrics = self.relay.metrics
        if self.state:
            metrics.inc(metrics.upstream, self.state, -1)
        if state:
            metrics.inc(metrics.upstream, state)
        self.state = state

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self) -> None:
        settings = self.relay.settings
        attempt = 0
        while not self._stopping:
            self._set_state("connecting")
            closed_by_upstream: int | None = None
            try:
                async with connect(
                    self.url,
                    subprotocols=[self.session.protocol],  # type: ignore[list-item]
                    additional_headers=self.headers,
                    ssl=self.relay.tls,
                    open_timeout=10,
                    ping_interval=20,
                    close_timeout=2,
                    max_size=settings.max_frame_bytes,
                    compression=None,
                    logger=_ws_log,
                ) as ws:
                    if ws.subprotocol != self.session.protocol:
                        log.warning(
                            "%s: the upstream refused %s", self.session.id, self.session.protocol
                        )
                        await ws.close(1002, "subprotocol")
                        raise InvalidHandshake("no subprotocol")
                    attempt = 0
                    self.ws = ws
                    self.generation += 1
                    self._set_state("connected")
                    await self._flush()
                    await self._read(ws)
                    protocol = ws.protocol
                    if protocol.close_rcvd is not None and protocol.close_rcvd_then_sent:
                        closed_by_upstream = protocol.close_rcvd.code
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed) as exc:
                if not self._stopping:
                    log.warning("%s: upstream connection failed: %s", self.session.id, _brief(exc))
            finally:
                self.ws = None
            if self._stopping:
                return
            if closed_by_upstream is not None:
                log.info(
                    "%s: the upstream closed (%s): closing the charger",
                    self.session.id,
                    closed_by_upstream,
                )
                self._set_state("down")
                await self.session.close(
                    close_code(closed_by_upstream), "closed by the central system"
                )
                return
            self._set_state("down")
            attempt += 1
            await asyncio.sleep(backoff(attempt, settings.retry_base_s, settings.retry_max_s))

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    continue  # OCPP-J is text; nothing to relay
                await self._from_upstream(message)
        except ConnectionClosed:
            pass  # the caller reads how it ended

    # --- charger -> upstream -----------------------------------------------------------------

    async def charger_call(self, unique_id: str, action: str, raw: str) -> None:
        """A charger's CALL the guard let through: relay it; answer it ourselves if the upstream cannot."""
        loop = asyncio.get_running_loop()
        old = self._calls.pop(unique_id, None)
        if old is not None:
            old.timer.cancel()
        timer = loop.call_later(self.relay.settings.wait_s, self._expire, unique_id)
        call = self._calls[unique_id] = _ChargerCall(action, raw, timer)
        if self.ws is not None and not self._backlog:
            call.sent = await self._send_up(raw)
        else:
            self._backlog.append(unique_id)

    async def _flush(self) -> None:
        while self._backlog and self.ws is not None:
            unique_id = self._backlog.popleft()
            call = self._calls.get(unique_id)
            if call is not None and not call.sent:
                call.sent = await self._send_up(call.raw)

    async def _send_up(self, raw: str) -> bool:
        ws = self.ws
        if ws is None:
            return False
        try:
            await ws.send(raw)
        except ConnectionClosed:
            return False
        metrics = self.relay.metrics
        metrics.inc(metrics.relayed, "to_upstream")
        return True

    def _expire(self, unique_id: str) -> None:
        if self._calls.pop(unique_id, None) is None:
            return
        metrics = self.relay.metrics
        metrics.inc(metrics.upstream_timeouts, "")
        self._spawn(self.session.send_error(unique_id, "InternalError", UNAVAILABLE))

    async def charger_answer(self, unique_id: str, raw: str) -> bool:
        """A charger's CALLRESULT/CALLERROR that is not for a head-end call in progress.

        Returns whether it answers the upstream call outstanding at the charger; the
        session counts any other answer against the charger's message budget.
        """
        outstanding = self._outstanding
        matched = outstanding is not None and outstanding[0] == unique_id
        if outstanding is not None and matched:
            if not outstanding[1].done():
                outstanding[1].set_result(None)
        elif unique_id.startswith(OWN_PREFIX) and unique_id not in self._recent:
            return False  # a late answer to one of the head-end's own calls: never upstream
        await self._send_up(raw)
        return matched

    # --- upstream -> charger -----------------------------------------------------------------

    async def _from_upstream(self, raw: str) -> None:
        frame = peek(raw)
        if frame is None:
            log.debug("%s: a frame from the upstream that is not OCPP-J: dropped", self.session.id)
            return
        kind, unique_id, payload = frame
        if kind == 2:
            self._recent.append(unique_id)
            self._spawn(self._upstream_call(unique_id, raw, self.generation))
            return
        call = self._calls.pop(unique_id, None)
        if call is None:
            return  # answered by us already (too late), or never asked
        call.timer.cancel()
        if kind == 3 and isinstance(payload, dict):
            self._learn(call.action, payload)
        if not self.session.closed:
            await self.session.send_text(raw)
            self.relay.metrics.inc(self.relay.metrics.relayed, "to_charger")

    async def _upstream_call(self, unique_id: str, raw: str, generation: int) -> None:
        session = self.session
        async with session.gate:  # FIFO with the head-end's own calls
            if session.closed or generation != self.generation or self.ws is None:
                return  # the charger or that upstream connection is gone: nobody waits
            answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._outstanding = (unique_id, answered)
            try:
                await session.send_text(raw)
                self.relay.metrics.inc(self.relay.metrics.relayed, "to_charger")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(answered, self.relay.settings.call_timeout_s)
            finally:
                self._outstanding = None

    def _learn(self, action: str, payload: dict[str, Any]) -> None:
        """What the head-end learns from the upstream's answers (a copy; the raw text is relayed)."""
        session = self.session
        if action == "BootNotification":
            interval = payload.get("interval")
            if isinstance(interval, int) and not isinstance(interval, bool):
                self.told_interval = interval
                managed = session.charger.heartbeat
                if managed is not None and managed != interval:
                    self.relay.metrics.inc(self.relay.metrics.interval_differs, "")
                    log.warning(
                        "%s: the upstream's BootNotification answer set HeartbeatInterval %d s;"
                        " the head-end last set %d s (read-back will show a mismatch)",
                        session.id,
                        interval,
                        managed,
                    )
        elif action == "StartTransaction" and session.protocol == "ocpp1.6":
            transaction = payload.get("transactionId")
            if isinstance(transaction, int) and not isinstance(transaction, bool):
                session.hub.transaction(session, str(transaction), active=True)


def learns(protocol: str, action: str) -> bool:
    """Whether the head-end's own handler runs (for its bookkeeping) on a relayed CALL ``action``.

    1.6 StartTransaction is learnt from the upstream's answer instead (the transaction id is the
    upstream's); everything else the handlers learn from the request.
    """
    return not (protocol == "ocpp1.6" and action == "StartTransaction")


def _brief(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
