"""Progress bookkeeping of a rollout run: counts per profile, and where a run ended.

:class:`GroupProgress` is one profile's rollout as it runs (counts per status,
attempts, declines, pace, abort state); :class:`Outcome` holds the groups of
one :meth:`~reconciler.engine.rollouts.Engine.apply` (or resume, retry,
repair).  The runner (:mod:`reconciler.engine.runner`) updates them; the
``apply``/``retry`` commands and the daemon read them (summaries, exit codes,
the ``on_progress`` hook).  Plain data, no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.model.files import RolloutPolicy
from reconciler.model.state import ACTIVE, Status

UNFINISHED = (Status.INITIAL, *ACTIVE)
"""Statuses of a gateway whose job has not ended yet."""


@dataclass
class GroupProgress:
    """One profile's rollout as it runs: counts per status, attempts, declines, abort state."""

    profile: str | None
    rollout_id: int
    policy: RolloutPolicy
    total: int = 0
    counts: Counter[Status] = field(default_factory=Counter)
    attempted: int = 0
    """Jobs attempted (submitted, or declined before they could be): the abort policy's base."""
    declined: int = 0
    submitted: int = 0
    """Jobs started in this rollout so far: the ``max_per_minute`` pace counts them."""
    started_at: float = 0.0
    aborted: str = ""
    """Why no more jobs are started, or empty."""
    superseded: str = ""
    """Why the rollout ended with members left Initial (a newer commit plans them), or empty."""

    @property
    def done(self) -> bool:
        return not any(self.counts[s] for s in UNFINISHED) or bool(
            self.aborted and not any(self.counts[s] for s in ACTIVE)
        )

    @property
    def ending(self) -> str:
        """How the rollout is recorded when a run stops: ``aborted``, ``finished``, or ``""`` (still running)."""
        if self.aborted:
            return "aborted"
        if self.superseded or not any(self.counts[s] for s in UNFINISHED):
            return "finished"
        return ""

    @property
    def why(self) -> str:
        """Why the rollout ended early (aborted or superseded), or empty."""
        return self.aborted or self.superseded

    def move(self, previous: Status, status: Status) -> None:
        """Count one gateway's transition."""
        self.counts[previous] -= 1
        self.counts[status] += 1


@dataclass
class Outcome:
    """Where every rollout of one :meth:`Engine.apply` (or resume, or retry) ended."""

    groups: dict[str | None, GroupProgress] = field(default_factory=dict)
    forgotten: int = 0
    lost_jobs: int = 0
    """Jobs the head-end lost (left out of its job status answers beyond the grace), each
    loss counted: resubmitted with their idempotency keys, or Declined after too many."""
    stalled: str = ""
    """Why the run is stalled now (the head-end keeps losing jobs, or no job in flight moved
    for ``stall_after_s``), or empty; updated every tick, empty once the run has ended."""
    superseded: bool = False
    """A newer commit superseded the run: it started no more jobs and handed those at the
    head-end to the engine's next run; ``left`` gateways stayed Initial, to be planned again."""
    left: int = 0

    @property
    def all_accepted(self) -> bool:
        return all(
            g.counts[Status.ACCEPTED] == sum(g.counts.values()) and not g.aborted
            for g in self.groups.values()
        )

    def counts(self) -> Counter[Status]:
        total: Counter[Status] = Counter()
        for group in self.groups.values():
            total.update(group.counts)
        return total


ProgressHook = Callable[[Outcome], None]
"""Called after every tick of a run with the run's :class:`Outcome` (live tables, logs)."""
TransitionHook = Callable[[Status, int], None]
"""Called with a status and how many gateways just moved into it (metrics)."""
LostJobsHook = Callable[[int], None]
"""Called with how many jobs the head-end was found to have lost in one poll (metrics)."""
