"""The daemon's events feed: devices that connect, boot or change firmware are read back at once.

Started beside the loop by :class:`reconciler.daemon.reconciling.Reconciler`.
It long-polls the head-end's ``GET /api/v1/events`` through the driver; a
head-end without it (404, the LG2WAN simulator) ends the feed after one try,
and the periodic read-back alone detects drift.  Each batch of events asks the
read-back task (:class:`reconciler.daemon.readback.ReadBack`) for those
gateways; the loop starts it as soon as no other task runs, so a charger that
lost values in a reboot or an update shows Mismatch (and, with
``on_mismatch: reapply``, is restored) within seconds.  The feed itself never
writes the store: every store write stays in the loop's one task slot.

Beside the feed, the same task re-reads the inventory in pages at a pace
(:class:`reconciler.daemon.readback.InventoryPages`): slowly where the feed
works, a whole pass per read-back interval where the head-end has no events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from reconciler import errors
from reconciler.daemon.readback import ReadBack
from reconciler.drivers.base import Driver

log = logging.getLogger("reconciler.daemon")

WAIT_S = 20.0
"""How long one long poll waits for an event."""
BACKOFF_MAX_S = 30.0


class EventFeed:
    """Long-polls the head-end's events and hands them to the read-back task."""

    def __init__(self, driver: Driver, readback: ReadBack, stopping: asyncio.Event) -> None:
        self.driver = driver
        self.readback = readback
        self.stopping = stopping
        self.cursor: str | None = None
        self.supported: bool | None = None
        """``None`` until the head-end answered once; ``False``: it has no events endpoint."""

    async def run(self) -> None:
        """The feed, and the inventory's pages beside it, until the daemon stops."""
        pages = asyncio.create_task(self.readback.pages.run(), name="inventory-pages")
        try:
            await self._feed()
            await pages
        finally:
            pages.cancel()
            await asyncio.gather(pages, return_exceptions=True)

    async def _feed(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            try:
                # The first poll answers at once: whether there are events decides the pace
                # of the inventory's pages, and a quiet head-end would keep it waiting.
                wait = WAIT_S if self.supported else 0.0
                page = await self.driver.events(self.cursor, wait)
            except errors.HeadendError as exc:
                self.readback.pages.known.set()  # unknown for now: pages at the full pace
                failures += 1
                delay = min(BACKOFF_MAX_S, 2.0 ** min(failures, 6)) * (0.5 + random.random() / 2)
                log.warning("events: %s; asking again in %.1f s", exc, delay)
                await self._sleep(delay)
                continue
            failures = 0
            self.readback.pages.known.set()
            if page is None:
                self.supported = self.readback.pages.events = False
                log.info("events: the head-end has none; drift is found by the periodic read-back")
                return
            self.supported = self.readback.pages.events = True
            self.cursor = page.next_cursor or self.cursor
            if page.events:
                self.readback.request(page.events)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)
