"""The daemon's read-back task: live configurations (Mismatch) and inventory changes.

Started by the loop (:class:`reconciler.daemon.reconciling.Reconciler`) every
``readback_interval_s`` when no rollout is due, and sooner for the gateways
the head-end's events name (:mod:`reconciler.daemon.events`: a device that
connected, booted or changed firmware).  Under the context's lock it reads back
the Accepted gateways' live configuration through the engine (a difference is
Mismatch) and, for ``on_mismatch: reapply`` profiles, pushes the accepted
values again.  A device that booted has applied its "reboot pending" keys:
they are compared again from then on.  A device that changed firmware has its
firmware read with its live configuration (one small call, not the inventory)
and is planned again with the next rollout: its syntax may differ.

The inventory itself is re-read in pages at a pace (:class:`InventoryPages`,
run beside the loop by the events feed): one page every few seconds, a whole
pass per ``readback_interval_s``, or per :data:`EVENTS_PASSES` of them where
the head-end has events.  Each page is compared with the inventory the daemon
holds as it arrives; gateways whose firmware, type or presence changed are
planned again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace

from reconciler import errors
from reconciler.daemon.context import Context, summary
from reconciler.daemon.rollout import Rollouts
from reconciler.drivers.base import MAX_BATCH, HeadendEvent
from reconciler.model.inventory import InventoryGateway

log = logging.getLogger("reconciler.daemon")


class ReadBack:
    """When the next read-back is due, and the read-back itself."""

    def __init__(self, context: Context, rollouts: Rollouts) -> None:
        self.context = context
        self.rollouts = rollouts
        self.next_at = time.monotonic() + context.settings.readback_interval_s
        """When (monotonic) the next read-back is due."""
        self.asked: set[str] = set()
        """Gateways the events named since the last read-back."""
        self.booted: set[str] = set()
        self.firmware: set[str] = set()
        """Gateways that changed firmware since the last read-back."""
        self.pages = InventoryPages(context, rollouts)

    def due(self) -> bool:
        return bool(self.asked) or time.monotonic() >= self.next_at

    def request(self, events: Iterable[HeadendEvent]) -> None:
        """Read these devices back soon (the events feed calls this); wakes the loop."""
        held = self.context.board.current.inventory
        for event in events:
            if held is not None and event.gateway_id not in held:
                self.pages.hurry()  # new to the head-end: the next page may bring it
            if event.kind == "disconnected":
                continue
            self.asked.add(event.gateway_id)
            if event.kind == "booted":
                self.booted.add(event.gateway_id)
            elif event.kind == "firmware_changed":
                self.firmware.add(event.gateway_id)
        if self.asked:
            self.context.wake()

    async def run(self) -> None:
        context = self.context
        async with context.lock:
            asked, booted, firmware = self.asked, self.booted, self.firmware
            self.asked, self.booted, self.firmware = set(), set(), set()
            whole = time.monotonic() >= self.next_at
            if whole:
                self.next_at = time.monotonic() + context.settings.readback_interval_s
            engine = context.engine
            if engine is None or context.stopping.is_set():
                return
            if firmware:
                await self.read_firmware(firmware)
            self._booted(booted)
            mismatched = await engine.read_back(None if whole else asked)
            if mismatched:
                log.warning("read-back: %d gateways in Mismatch", len(mismatched))
                try:
                    repaired = await engine.repair(context.board.current.policies)
                finally:
                    context.board.update(stalled="")
                if repaired.groups:
                    log.info("reapplied to Mismatch members: %s", summary(repaired))

    def _booted(self, gateway_ids: set[str]) -> None:
        """Devices that booted have applied their pending keys: compare those again."""
        store = self.context.store
        done = [
            replace(state, reboot_pending=())
            for gid in sorted(gateway_ids)
            if (state := store.get(gid)) is not None and state.reboot_pending
        ]
        if done:
            store.write(done)

    async def read_firmware(self, gateway_ids: set[str]) -> None:
        """Their firmware, read with their live configuration; changed ones are planned again."""
        held = self.context.board.current.inventory
        if held is None:
            return  # not read yet: the next rollout reads it whole
        live = await self.context.driver.read_configs(sorted(gateway_ids))
        updates = {
            gid: replace(old, firmware=config.firmware)
            for gid, config in live.items()
            if (old := held.get(gid)) is not None and old.firmware != config.firmware
        }
        apply_changes(self.context, self.rollouts, updates, set(updates))


EVENTS_PASSES = 12
"""With head-end events, a whole pass over the inventory takes this many read-back intervals:
firmware changes come as events, only gateways added or removed wait for the pass."""

PAGE_GAP_MIN_S = 0.1
"""Least seconds between two pages (a short read-back interval or a large fleet)."""

BACKOFF_MAX_S = 60.0


class InventoryPages:
    """The inventory, re-read one page at a time, spread over a pass; changes applied as they come.

    Run by the events feed (:meth:`reconciler.daemon.events.EventFeed.run`) as a
    task beside the loop.  A page is read without the context's lock and applied
    under it (between the loop's tasks: a rollout never sees the inventory change
    under it, nor loses a gateway planned again).  Gateways that left the
    head-end are known when a pass ends: those the held inventory has and the
    pass did not see (unless a whole read replaced the inventory meanwhile).
    """

    def __init__(self, context: Context, rollouts: Rollouts) -> None:
        self.context = context
        self.rollouts = rollouts
        self.page_size = MAX_BATCH
        self.events: bool | None = None
        """Whether the head-end has events (set by the feed; ``None``: not known yet)."""
        self.known = asyncio.Event()
        """Set by the feed once the head-end answered (or failed) its first poll: pages start."""
        self.cursor: str | None = None
        self.seen: set[str] = set()
        """Ids the current pass has seen."""
        self.reads = context.inventory_reads
        """Whole reads when the current pass started."""
        self.passes = 0
        """Passes completed."""
        self.pages = 0
        """Pages read."""
        self._hurry = asyncio.Event()

    def pass_s(self) -> float:
        """Seconds a whole pass is spread over."""
        interval = self.context.settings.readback_interval_s
        return interval * EVENTS_PASSES if self.events else interval

    def gap_s(self) -> float:
        """Seconds until the next page: a pass spread evenly over :meth:`pass_s`."""
        held = self.context.board.current.inventory or {}
        pages = max(1, math.ceil(len(held) / self.page_size))
        return max(PAGE_GAP_MIN_S, self.pass_s() / pages)

    def hurry(self) -> None:
        """Read the next page at once (an event named a gateway the daemon does not know)."""
        self._hurry.set()

    async def run(self) -> None:
        """Until the daemon stops: a page every :meth:`gap_s`; failures back off, never end it."""
        context = self.context
        await self.known.wait()
        failures = 0
        while not context.stopping.is_set():
            with contextlib.suppress(TimeoutError):  # (the feed cancels this task at stop)
                await asyncio.wait_for(self._hurry.wait(), self.gap_s())
            self._hurry.clear()
            if context.stopping.is_set():
                return
            try:
                await self.step()
                failures = 0
            except errors.PermanentHeadendError as exc:
                # A cursor the head-end no longer takes, say: the pass starts again.
                failures += 1
                log.warning("inventory page: %s; starting the pass again", exc)
                self._restart()
                await context.pause(min(BACKOFF_MAX_S, 2.0**failures))
            except Exception as exc:
                failures += 1
                delay = min(BACKOFF_MAX_S, 2.0**failures)
                if isinstance(exc, errors.HeadendError):
                    log.warning("inventory page: %s; asking again in %.0f s", exc, delay)
                else:
                    log.exception("inventory page failed; asking again in %.0f s", delay)
                await context.pause(delay)

    async def step(self) -> None:
        """Read the next page and apply it; the last page of a pass also finds who left."""
        context = self.context
        if context.board.current.inventory is None:
            return  # not read yet: the first rollout reads it whole
        page = await context.driver.inventory_page(self.cursor, self.page_size)
        self.pages += 1
        async with context.lock:
            held = context.board.current.inventory or {}
            updates: dict[str, InventoryGateway] = {}
            changed: set[str] = set()
            for gateway in page.gateways:
                old = held.get(gateway.id)
                self.seen.add(gateway.id if old is None else old.id)  # one string per id
                if old is None or old != gateway:
                    updates[gateway.id] = gateway
                if old is None or (old.firmware, old.type) != (gateway.firmware, gateway.type):
                    changed.add(gateway.id)
            gone: set[str] = set()
            if page.next_cursor is None:
                if context.inventory_reads == self.reads:
                    gone = held.keys() - self.seen
                self._restart()
                self.passes += 1
            else:
                self.cursor = page.next_cursor
            apply_changes(context, self.rollouts, updates, changed | gone, gone)

    def _restart(self) -> None:
        self.cursor = None
        self.seen = set()
        self.reads = self.context.inventory_reads


def apply_changes(
    context: Context,
    rollouts: Rollouts,
    updates: Mapping[str, InventoryGateway],
    changed: set[str],
    gone: Collection[str] = (),
) -> None:
    """Put ``updates`` into the held inventory and drop ``gone``; plan ``changed`` again."""
    held = context.board.current.inventory
    if held is None or not (updates or gone):
        return
    inventory = {gid: g for gid, g in held.items() if gid not in gone} if gone else dict(held)
    inventory.update(updates)
    context.board.update(inventory=inventory)
    if changed:
        log.info("inventory: %d gateways changed firmware, type or presence", len(changed))
        rollouts.plan_again(changed)
        context.wake()
