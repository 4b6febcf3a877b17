"""The daemon's read-back task: live configurations (Mismatch) and inventory changes.

Started by the loop (:class:`reconciler.daemon.reconciling.Reconciler`) every
``readback_interval_s`` when no rollout is due.  Under the context's lock it
reads the inventory again (gateways whose firmware, type or presence changed
are planned again with the next rollout: their syntax may differ), reads back
every Accepted gateway's live configuration through the engine (a difference
is Mismatch) and, for ``on_mismatch: reapply`` profiles, pushes the accepted
values again.
"""

from __future__ import annotations

import logging
import time

from reconciler.daemon.context import Context, summary
from reconciler.daemon.rollout import Rollouts

log = logging.getLogger("reconciler.daemon")


class ReadBack:
    """When the next read-back is due, and the read-back itself."""

    def __init__(self, context: Context, rollouts: Rollouts) -> None:
        self.context = context
        self.rollouts = rollouts
        self.next_at = time.monotonic() + context.settings.readback_interval_s
        """When (monotonic) the next read-back is due."""

    def due(self) -> bool:
        return time.monotonic() >= self.next_at

    async def run(self) -> None:
        context = self.context
        async with context.lock:
            self.next_at = time.monotonic() + context.settings.readback_interval_s
            engine = context.engine
            if engine is None or context.stopping.is_set():
                return
            await self._inventory_changes()
            mismatched = await engine.read_back()
            if mismatched:
                log.warning("read-back: %d gateways in Mismatch", len(mismatched))
                try:
                    repaired = await engine.repair(context.board.current.policies)
                finally:
                    context.board.update(stalled="")
                if repaired.groups:
                    log.info("reapplied to Mismatch members: %s", summary(repaired))

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
