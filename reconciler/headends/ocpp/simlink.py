"""The link side shared by a fleet of simulated charge points: connecting, backoff, rate limits.

A :class:`SimContext` is made by the fleet runner (:mod:`reconciler.headends.ocpp.simfleet`)
and used by every :class:`~reconciler.headends.ocpp.chargepoint.SimCharger`: it
opens WebSocket connections (HTTP Basic auth from the charger's current
password, at most ``handshakes`` at a time, at most ``connect_rate`` new ones
per second), draws the reconnect backoff with jitter from one seeded generator,
numbers outgoing CALLs and keeps background tasks referenced.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection, connect

if TYPE_CHECKING:
    from reconciler.headends.ocpp.chargepoint import SimCharger

LOG = logging.getLogger("reconciler.ocpp.simulate")

WS_LOG = logging.getLogger("reconciler.ocpp.simulate.websockets")
WS_LOG.setLevel(logging.WARNING)  # at DEBUG, websockets logs handshake headers (Basic auth)


@dataclass
class SimContext:
    """What all chargers of a fleet share: where to connect, limits, clock, background tasks."""

    url: str
    reboot_delay: float = 0.2
    call_timeout: float = 30.0
    handshakes: int = 200
    connect_rate: float = 0.0
    seed: int = 0
    stopping: bool = False
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    rng: random.Random = field(init=False)
    _semaphore: asyncio.Semaphore | None = None
    _next_slot: float = 0.0
    _ids: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def spawn(self, coroutine: Awaitable[Any]) -> None:
        """Run ``coroutine`` as a background task kept referenced until it ends."""
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            LOG.debug("background task failed: %r", type(task.exception()).__name__)

    def unique_id(self) -> str:
        self._ids += 1
        return str(self._ids)

    def backoff(self, attempt: int) -> float:
        """Seconds before reconnect attempt ``attempt`` (1, 2, ...): exponential, full jitter."""
        ceiling = min(30.0, 0.25 * float(2 ** min(attempt, 8)))
        return ceiling / 2 + self.rng.random() * ceiling / 2

    async def open(self, charger: SimCharger) -> ClientConnection:
        """A new connection for ``charger`` (rate-limited, bounded concurrent handshakes)."""
        loop = asyncio.get_running_loop()
        if self.connect_rate > 0:
            now = loop.time()
            self._next_slot = max(now, self._next_slot + 1.0 / self.connect_rate)
            if self._next_slot > now:
                await asyncio.sleep(self._next_slot - now)
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.handshakes)
        headers: dict[str, str] = {}
        password = charger.store.password()
        if password:
            token = base64.b64encode(f"{charger.id}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        async with self._semaphore:
            return await connect(
                f"{self.url.rstrip('/')}/{charger.id}",
                subprotocols=[charger.protocol],  # type: ignore[list-item]
                additional_headers=headers,
                compression=None,  # deflate costs ~100 KB per connection
                proxy=None,
                ping_interval=None,  # heartbeats keep the link; a ping task per charger is too dear
                open_timeout=30,
                close_timeout=2,
                max_queue=4,
                user_agent_header=None,
                logger=WS_LOG,
            )
