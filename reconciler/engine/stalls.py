"""Lost jobs and stalls of one run: what the runner tells operators about a head-end that drops jobs.

A job the head-end leaves out of its job status answers for over
``lost_job_grace_s`` is lost (:func:`~reconciler.engine.decisions.is_lost`);
the runner resubmits it with its idempotency key or, after
``lost_job_attempts`` losses, declines it, and :func:`report_lost` writes the
one log line per poll that says so.  :class:`StallWatch` keeps what
:func:`~reconciler.engine.decisions.stall_reason` needs (when a job last
moved, when a resubmitted job was lost again) and logs a stall when it
begins and ends; ``Outcome.stalled`` and ``Engine.stalled()`` show it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from reconciler.engine import decisions
from reconciler.engine.settings import EngineSettings

log = logging.getLogger("reconciler.engine")


@dataclass
class StallWatch:
    """One run's signs of a stall; :meth:`check` once a tick."""

    moved_at: float
    """When a job last started or changed status (a stall is a long quiet)."""
    relost: int = 0
    """Resubmitted jobs the head-end lost again."""
    relost_at: float | None = None
    stalled: str = ""
    """Why the run is stalled (as of the last :meth:`check`), or empty."""

    def lost_again(self, now: float) -> None:
        """A job lost before was lost again: the head-end keeps losing jobs."""
        self.relost += 1
        self.relost_at = now

    def check(self, in_flight: int, now: float, stall_after_s: float) -> str:
        """Why the run is stalled now, or ``""``; logs when a stall begins and when it ends."""
        reason = decisions.stall_reason(
            in_flight=in_flight,
            quiet_s=now - self.moved_at,
            relost=self.relost,
            relost_ago=None if self.relost_at is None else now - self.relost_at,
            stall_after_s=stall_after_s,
        )
        if reason and not self.stalled:
            log.warning("rollout stalled: %s", reason, extra={"in_flight": in_flight})
        elif self.stalled and not reason:
            log.info("rollout no longer stalled")
        self.stalled = reason
        return reason


def report_lost(lost: int, resubmitted: int, settings: EngineSettings) -> None:
    """The one log line of a poll that found ``lost`` jobs lost, with the counts."""
    log.warning(
        "the head-end no longer reports %d jobs (absent for over %.0f s): "
        "%d resubmitted with their idempotency keys, %d declined after %d losses",
        lost,
        settings.lost_job_grace_s,
        resubmitted,
        lost - resubmitted,
        settings.lost_job_attempts,
        extra={"lost": lost, "resubmitted": resubmitted, "declined": lost - resubmitted},
    )
