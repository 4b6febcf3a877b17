"""The daemon's read-back task: live configurations (Mismatch) and inventory changes.

Started by the loop (:class:`reconciler.daemon.reconciling.Reconciler`) every
``readback_interval_s`` when no rollout is due, and sooner for the gateways
the head-end's events name (:mod:`reconciler.daemon.events`: a device that
connected, booted or changed firmware).  Under the context's lock it reads the
inventory again (gateways whose firmware, type or presence changed are planned
again with the next rollout: their syntax may differ), reads back the Accepted
gateways' live configuration through the engine (a difference is Mismatch)
and, for ``on_mismatch: reapply`` profiles, pushes the accepted values again.
A device that booted has applied its "reboot pending" keys: they are compared
again from then on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import replace

from reconciler.daemon.context import Context, summary
from reconciler.daemon.rollout import Rollouts
from reconciler.drivers.base import HeadendEvent

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
        self.firmware_changed = False

    def due(self) -> bool:
        return bool(self.asked) or time.monotonic() >= self.next_at

    def request(self, events: Iterable[HeadendEvent]) -> None:
        """Read these devices back soon (the events feed calls this); wakes the loop."""
        for event in events:
            if event.kind == "disconnected":
                continue
            self.asked.add(event.gateway_id)
            if event.kind == "booted":
                self.booted.add(event.gateway_id)
            elif event.kind == "firmware_changed":
                self.firmware_changed = True
        if self.asked:
            self.context.wake()

    async def run(self) -> None:
        context = self.context
        async with context.lock:
            asked, booted, firmware = self.asked, self.booted, self.firmware_changed
            self.asked, self.booted, self.firmware_changed = set(), set(), False
            whole = time.monotonic() >= self.next_at
            if whole:
                self.next_at = time.monotonic() + context.settings.readback_interval_s
            engine = context.engine
            if engine is None or context.stopping.is_set():
                return
            if whole or firmware:
                await self._inventory_changes()
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

    async def _inventory_changes(self) -> None:
        """Read the inventory again; gateways whose firmware or type changed are planned again."""
        before = self.context.board.current.inventory or {}
        after = await self.context.read_inventory()
        changed = {
            gid
            for gid, g in after.items()
            if (old := before.get(gid)) is None or (old.firmware, old.type) != (g.firmware, g.type)
        } | (before.keys() - after.keys())
        if before and changed:
            log.info("inventory: %d gateways changed firmware, type or presence", len(changed))
            self.rollouts.plan_again(changed)
            self.context.wake()
