"""Parts of the relay to an upstream central system: its settings, the call gate, helpers.

Used by :mod:`.relay` (one :class:`~.relay.Link` per charger connection) and
by :mod:`.sessions` (every connection's :class:`Gate`); the settings are built
by :mod:`.server` from the ``--upstream*`` options.  Nothing here does I/O
except loading TLS files in :func:`upstream_tls`.

- :class:`Gate` is the one FIFO gate per charger connection shared by the
  head-end's own calls and the upstream's calls: whoever holds it has the one
  outstanding call; waiters are served in arrival order (an ``asyncio.Lock``
  is FIFO) and, in relay mode, counted in ``reconciler_ocpp_calls_waiting``.
- :func:`close_code` says which close code the head-end may send a charger
  when the upstream closed with a given one.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from websockets.frames import EXTERNAL_CLOSE_CODES

from reconciler.headends.ocpp.metrics import Family, Metrics

OWN_PREFIX = "rcn-"
"""The head-end's own message ids are ``rcn-<counter>``: an upstream's ids are left as they are."""


@dataclass(frozen=True)
class RelaySettings:
    """Where and how to relay (``--upstream``, ``--upstream-ca``, ... of ``reconciler ocpp serve``)."""

    url: str
    """``ws(s)://HOST[:PORT]/PATH``: a charger's connection goes to ``{url}/{chargePointId}``."""
    ca: Path | None = None
    """Verify the upstream's TLS certificate against this file (else the system's CA store)."""
    cert: Path | None = None
    """The relay's own TLS client certificate towards the upstream (with :attr:`key`)."""
    key: Path | None = None
    user_from: str = "charger"
    """``charger``: pass the charger's HTTP Basic credentials through; ``none``: send none."""
    wait_s: float = 10.0
    """How long a charger's CALL waits for the upstream's answer before a CALLERROR."""
    call_timeout_s: float = 30.0
    """How long an upstream's CALL holds the charger's gate without an answer."""
    retry_max_s: float = 30.0
    """The cap of the reconnect backoff."""
    retry_base_s: float = 0.5
    max_frame_bytes: int = 65_536


def upstream_tls(settings: RelaySettings) -> ssl.SSLContext | None:
    """The TLS context for a ``wss://`` upstream (verified; ``None`` for ``ws://``)."""
    if not settings.url.startswith("wss://"):
        return None
    context = ssl.create_default_context(cafile=str(settings.ca) if settings.ca else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.cert is not None and settings.key is not None:
        context.load_cert_chain(settings.cert, settings.key)
    return context


def backoff(attempt: int, base_s: float, cap_s: float) -> float:
    """Seconds before reconnect ``attempt`` (1, 2, ...): exponential, capped, with full jitter above half."""
    ceiling = min(cap_s, base_s * 2.0 ** min(attempt - 1, 30))
    jitter: float = random.random()
    return ceiling * (0.5 + jitter / 2)


def close_code(code: int | None) -> int:
    """The code to close a charger with after the upstream closed with ``code`` (1000 if not sendable)."""
    if code is not None and (code in EXTERNAL_CLOSE_CODES or 3000 <= code < 5000):
        return code
    return 1000


def peek(raw: str) -> tuple[int, str, Any] | None:
    """``(kind, unique_id, payload)`` of an OCPP-J frame read as a copy; ``None`` if it is not one."""
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(message, list) or len(message) < 3:
        return None
    kind, unique_id = message[0], message[1]
    if type(kind) is not int or kind not in (2, 3, 4) or not isinstance(unique_id, str):
        return None
    if kind == 2 and (len(message) != 4 or not isinstance(message[2], str)):
        return None
    return kind, unique_id, message[3] if kind == 2 else message[2]


class Gate:
    """One outstanding call per charger connection, in arrival order, across all callers."""

    __slots__ = ("_lock", "waiting")

    def __init__(self, waiting: Family | None = None) -> None:
        self._lock = asyncio.Lock()
        self.waiting = waiting
        """Where the waiters are counted (relay mode: ``reconciler_ocpp_calls_waiting``)."""

    def locked(self) -> bool:
        return self._lock.locked()

    async def __aenter__(self) -> None:
        waiting = self.waiting
        if waiting is None or not self._lock.locked():
            await self._lock.acquire()
            return
        Metrics.inc(waiting, "")
        try:
            await self._lock.acquire()
        finally:
            Metrics.inc(waiting, "", -1)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.release()
