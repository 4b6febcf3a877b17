"""The OCPP head-end server: its options, the WebSocket listener (southbound), the API listener, start and stop.

Used by ``reconciler ocpp serve`` (:mod:`reconciler.cli.ocpp_serve`) and by
:func:`reconciler.testing.ocpp_headend.running_headend`.  :func:`serving`
builds the :class:`~.hub.Hub` on the state file, opens both listeners and
yields a :class:`Running` handle with their URLs; leaving the block closes the
connections and commits the state.

The handshake (:func:`_handshake`) refuses, before any OCPP message: a path
other than ``/ocpp/{chargePointId}`` (404), a client offering neither
``ocpp2.0.1`` nor ``ocpp1.6`` (400), an unknown identity (404, unless
``accept_unknown``), a missing or wrong HTTP Basic password (401).  TLS
(``tls_cert``/``tls_key``) applies to the OCPP listener; the API listener
stays plain HTTP (put it on a private address or behind a TLS proxy).
With ``upstream`` set (relay mode), each admitted connection is continued to
that central system by a :class:`~.relay.Link` of the server's
:class:`~.relay.Relay`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from urllib.parse import unquote

import ocpp.messages  # type: ignore[import-untyped]
from aiohttp import web
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from reconciler.errors import IdentitiesError
from reconciler.headends.ocpp import northbound
from reconciler.headends.ocpp.handlers16 import Session16
from reconciler.headends.ocpp.handlers201 import Session201
from reconciler.headends.ocpp.hub import Hub
from reconciler.headends.ocpp.identities import load_identities
from reconciler.headends.ocpp.relay import Relay
from reconciler.headends.ocpp.relayparts import RelaySettings
from reconciler.headends.ocpp.sessions import Session
from reconciler.model.files import GATEWAY_ID_PATTERN

# Schema validation in a thread pool per message (the library's default) costs more than
# the validation itself: validate inline, in the loop.
ocpp.messages.ASYNC_VALIDATION = False

log = logging.getLogger(__name__)
_ws_log = logging.getLogger("reconciler.headends.ocpp.websockets")
_ws_log.setLevel(logging.WARNING)

DEV_TOKEN = "dev-token"
"""The API token when neither ``--token`` nor RECONCILER_HEADEND_TOKEN is set (development only)."""

SESSIONS: dict[str, type[Session]] = {"ocpp2.0.1": Session201, "ocpp1.6": Session16}
"""Subprotocol -> session class; the order is the server's preference when a client offers both."""

_ID = re.compile(GATEWAY_ID_PATTERN)


@dataclass(frozen=True)
class HeadendOptions:
    """How the head-end runs (``reconciler ocpp serve`` options)."""

    state: Path
    """The SQLite state file (``STATE.key`` beside it holds the key of its secrets)."""
    ocpp_host: str = "127.0.0.1"
    ocpp_port: int = 0
    api_host: str = "127.0.0.1"
    api_port: int = 0
    token: str = field(default=DEV_TOKEN, repr=False)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    accept_unknown: bool = False
    repo: Path | None = None
    identities: Path | None = None
    authorize: bool = False
    """Answer Authorize/StartTransaction/TransactionEvent id tags Accepted (else Invalid)."""
    call_timeout_s: float = 30.0
    max_frame_bytes: int = 65_536
    max_messages_per_s: float = 20.0
    ping_interval_s: float | None = 60.0
    """WebSocket pings to each charger (``None``: none; chargers usually ping themselves)."""
    reload_s: float = 30.0
    """Re-read the identities source this often (and on SIGHUP)."""
    last_seen_s: float = 30.0
    """Write ``last_seen`` of connected chargers to disk this often."""
    job_retention_s: float = 3600.0
    """Keep a final job (and its idempotency key) this long after it ended, then drop it."""
    prune_s: float = 60.0
    """Look for final jobs past their retention this often."""
    upstream: str | None = None
    """Relay mode: ``ws(s)://HOST[:PORT]/PATH`` of the central system each charger is relayed to."""
    upstream_ca: Path | None = None
    """Verify the upstream's TLS certificate against this CA file (else the system's store)."""
    upstream_cert: Path | None = None
    """The relay's own TLS client certificate towards the upstream (with ``upstream_key``)."""
    upstream_key: Path | None = None
    upstream_user_from: str = "charger"
    """``charger``: pass the charger's HTTP Basic credentials upstream; ``none``: send none."""
    upstream_wait_s: float = 10.0
    """How long a charger's CALL waits for the upstream's answer before a CALLERROR."""
    upstream_retry_max_s: float = 30.0
    """The cap of the upstream reconnect backoff."""

    @property
    def burst(self) -> float:
        """Messages a charger may send at once before the per-second budget applies."""
        return max(1.0, 5 * self.max_messages_per_s)


@dataclass
class Running:
    """A running head-end: its URLs, its hub, and a way to re-read the identities."""

    ocpp_url: str
    """``ws(s)://HOST:PORT/ocpp/`` (append the charge point id)."""
    api_url: str
    token: str = field(repr=False)
    hub: Hub
    reload_now: asyncio.Event

    def reload(self) -> None:
        """Re-read the identities source now (what SIGHUP does)."""
        self.reload_now.set()


def _reject(connection: ServerConnection, status: HTTPStatus, text: str) -> Response:
    response = connection.respond(status, text + "\n")
    if status == HTTPStatus.UNAUTHORIZED:
        response.headers["WWW-Authenticate"] = 'Basic realm="ocpp", charset="UTF-8"'
    return response


def _offered(headers: Headers) -> list[str]:
    return [
        item.strip()
        for value in headers.get_all("Sec-WebSocket-Protocol")
        for item in value.split(",")
    ]


def _identity(path: str) -> str | None:
    path = path.partition("?")[0]
    if not path.startswith("/ocpp/"):
        return None
    ident = unquote(path[len("/ocpp/") :])
    return ident if _ID.match(ident) else None


def _handshake(hub: Hub) -> object:
    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        ident = _identity(request.path)
        if ident is None:
            hub.metrics.inc(hub.metrics.rejected, "bad_path")
            return _reject(connection, HTTPStatus.NOT_FOUND, "not an OCPP endpoint: /ocpp/{id}")
        if not any(p in SESSIONS for p in _offered(request.headers)):
            hub.metrics.inc(hub.metrics.rejected, "subprotocol")
            return _reject(connection, HTTPStatus.BAD_REQUEST, "offer ocpp1.6 or ocpp2.0.1")
        refusal = hub.admit(ident, request.headers.get("Authorization"))
        if refusal is not None:
            status, reason = refusal
            hub.metrics.inc(hub.metrics.rejected, reason)
            text = "unknown charge point" if status == 404 else "authentication required"
            return _reject(connection, HTTPStatus(status), text)
        return None

    return process_request


def _relay(options: HeadendOptions, hub: Hub) -> Relay | None:
    if options.upstream is None:
        return None
    settings = RelaySettings(
        url=options.upstream,
        ca=options.upstream_ca,
        cert=options.upstream_cert,
        key=options.upstream_key,
        user_from=options.upstream_user_from,
        wait_s=options.upstream_wait_s,
        call_timeout_s=options.call_timeout_s,
        retry_max_s=options.upstream_retry_max_s,
        retry_base_s=min(0.5, options.upstream_retry_max_s),
        max_frame_bytes=options.max_frame_bytes,
    )
    return Relay(settings, hub.metrics)


def _handler(hub: Hub, relay: Relay | None) -> object:
    async def handle(connection: ServerConnection) -> None:
        ident = _identity(connection.request.path if connection.request else "")
        kind = SESSIONS.get(connection.subprotocol or "")
        if ident is None or kind is None:  # refused at the handshake already; be safe
            await connection.close(1002, "no OCPP subprotocol")
            return
        charger = hub.charger_for(ident, kind.protocol)
        session = kind(hub, connection, charger)
        if relay is not None and connection.request is not None:
            session.relay = relay.link(session, connection.request.headers.get("Authorization"))
            session.relay.start()
        hub.connected(session)
        try:
            await session.serve()
        finally:
            hub.disconnected(session)
            if session.relay is not None:
                await session.relay.stop(connection.close_code or 1000)

    return handle


def _tls(options: HeadendOptions) -> ssl.SSLContext | None:
    if options.tls_cert is None and options.tls_key is None:
        return None
    if options.tls_cert is None or options.tls_key is None:
        raise ValueError("TLS needs both --tls-cert and --tls-key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(options.tls_cert, options.tls_key)
    return context


def _url(scheme: str, host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


async def _housekeeping(hub: Hub, options: HeadendOptions, reload_now: asyncio.Event) -> None:
    """Re-read identities every ``reload_s`` (or when asked), flush ``last_seen`` every
    ``last_seen_s``, drop final jobs past their retention every ``prune_s``."""
    loop = asyncio.get_running_loop()
    next_reload = loop.time() + options.reload_s
    next_seen = loop.time() + options.last_seen_s
    next_prune = loop.time() + options.prune_s
    while True:
        timeout = max(0.0, min(next_reload, next_seen, next_prune) - loop.time())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reload_now.wait(), timeout)
        now = loop.time()
        if reload_now.is_set() or now >= next_reload:
            reload_now.clear()
            next_reload = now + options.reload_s
            if options.repo is not None or options.identities is not None:
                try:
                    identities = await asyncio.to_thread(
                        load_identities, options.repo, options.identities
                    )
                except IdentitiesError as exc:
                    log.error("identities not reloaded (the previous ones stay): %s", exc)
                else:
                    hub.set_identities(identities)
        if now >= next_seen:
            next_seen = now + options.last_seen_s
            hub.flush_last_seen()
        if now >= next_prune:
            next_prune = now + options.prune_s
            hub.jobs.prune(time.time())


@contextlib.asynccontextmanager
async def serving(options: HeadendOptions) -> AsyncIterator[Running]:
    """Run the head-end with ``options``; yields once both listeners accept connections."""
    identities = await asyncio.to_thread(load_identities, options.repo, options.identities)
    tls = _tls(options)
    hub = Hub(options, identities)
    relay = _relay(options, hub)
    hub.start()
    runner = web.AppRunner(
        northbound.app(hub, options.token), access_log=None, handler_cancellation=True,
        shutdown_timeout=1.0,
    )  # fmt: skip
    server: Server | None = None
    housekeeping: asyncio.Task[None] | None = None
    try:
        server = await serve(
            _handler(hub, relay),  # type: ignore[arg-type]
            options.ocpp_host,
            options.ocpp_port,
            process_request=_handshake(hub),  # type: ignore[arg-type]
            subprotocols=list(SESSIONS),  # type: ignore[arg-type]
            max_size=options.max_frame_bytes,
            compression=None,  # permessage-deflate costs ~100 KB per connection
            ping_interval=options.ping_interval_s,
            close_timeout=2.0,
            ssl=tls,
            logger=_ws_log,
        )
        await runner.setup()
        site = web.TCPSite(runner, options.api_host, options.api_port)
        await site.start()
        ws_host, ws_port = next(iter(server.sockets)).getsockname()[:2]
        api_host, api_port = runner.addresses[0][:2]
        reload_now = asyncio.Event()
        housekeeping = asyncio.create_task(_housekeeping(hub, options, reload_now))
        yield Running(
            ocpp_url=_url("wss" if tls else "ws", ws_host, ws_port) + "/ocpp/",
            api_url=_url("http", api_host, api_port),
            token=options.token,
            hub=hub,
            reload_now=reload_now,
        )
    finally:
        if housekeeping is not None:
            housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await housekeeping
        await hub.jobs.stop()
        if server is not None:
            server.close()  # every connection closed with 1001, concurrently
            await server.wait_closed()
        await runner.cleanup()
        await hub.stop()
