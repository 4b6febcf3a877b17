"""Retry Upload in the daemon: how many members it would push to, and doing it after any rollout.

Used by the retry endpoint (``POST /api/v1/profiles/NAME/retry``, through
:class:`reconciler.daemon.running.Daemon`): :meth:`Retries.retryable` decides
202 or 409 with the one rule of :mod:`reconciler.members.retrying` (the
engine's ``retry`` pushes to the same members), :meth:`Retries.retry` runs
under the context's lock, so after a rollout in progress.
"""

from __future__ import annotations

import logging

from reconciler.daemon import logs
from reconciler.daemon.context import Context, summary
from reconciler.engine.rollouts import NothingToRetry, Outcome
from reconciler.members.retrying import retry_candidates

log = logging.getLogger("reconciler.daemon")


class Retries:
    """Retry Upload for one profile at a time."""

    def __init__(self, context: Context) -> None:
        self.context = context

    def retryable(self, profile: str) -> int:
        """Members of ``profile`` that Retry Upload would push to (Declined, Mismatch, aborted)."""
        store = self.context.store
        aborted = {r.rollout_id for r in store.rollouts() if r.state == "aborted"}
        return len(retry_candidates(store.applied().values(), aborted, profile))

    async def retry(self, profile: str) -> Outcome | None:
        """Retry Upload for ``profile``, after any running rollout; ``None`` when nothing was left."""
        context = self.context
        async with context.lock:
            good = context.board.current.good
            if context.engine is None or good is None:
                return None
            try:
                outcome = await context.engine.retry(
                    profile, policies=context.board.current.policies, commit=good.info.sha
                )
            except NothingToRetry:
                return None
            finally:
                context.board.update(stalled="")
                context.on_change()
            log.info(
                "retry of %s: %s",
                profile,
                summary(outcome),
                extra={"profile": profile, "commit": good.info.sha, **logs.outcome_fields(outcome)},
            )
            return outcome
