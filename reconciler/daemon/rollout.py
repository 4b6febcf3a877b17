"""The daemon's rollout task: one reconcile cycle of the newest valid commit, incrementally.

Started by the loop (:class:`reconciler.daemon.reconciling.Reconciler`) when
the newest valid commit differs from the applied one, when deferred gateways
are due again, or on start (to resume).  Runs
:func:`reconciler.engine.cycle.reconcile` under the context's lock: the first
time it resumes what an earlier process left and plans every gateway; later
it plans only the gateways the commit affects
(:func:`~reconciler.plan.affected.affected_gateways`) plus those deferred last
time or whose inventory changed (:meth:`Rollouts.plan_again`).  The inventory
is read at start and again when a commit declares a gateway it lacks.  When
the rollout ends the commit is the applied one, and old status transitions
are pruned.

A commit the prune guard holds (it would reset more than ``max_reset_share``
of the managed gateways, or all of them; :mod:`reconciler.plan.guards`) is
treated like an invalid one: nothing of it is rolled out, the applied commit
stays (it is again the newest good one), and ``held`` on the status record
says why until a later commit passes or ``allow_reset`` names it.  Reset
gateways roll out under the policy of the profile they left; a profile
deleted by the same commit keeps the policy of the applied commit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from reconciler.daemon.context import Context, summary
from reconciler.daemon.status import Held, Loaded
from reconciler.engine import cycle
from reconciler.engine.rollouts import Outcome
from reconciler.model.state import Status
from reconciler.plan.affected import affected_gateways

log = logging.getLogger("reconciler.daemon")

PENDING_DELAY_S = 5.0
"""Seconds before deferred gateways are planned again (their active job must end first)."""

LOGGED_ERRORS = 20
"""Plan errors logged one by one per commit (all of them are in the report)."""


class Rollouts:
    """When a rollout is due, and the rollout itself."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.resumed = False
        """Whether what an earlier process (or a failed attempt) left was resumed."""
        self.pending: set[str] = set()
        """Gateways to plan again with the next rollout (deferred, or their inventory changed)."""
        self.pending_at = 0.0
        """Not before this (monotonic): gateways stuck in an active job must not make a busy loop."""

    def due(self, good: Loaded, applied: Loaded | None, held: Held | None = None) -> bool:
        """A new valid commit, deferred gateways due again, or nothing resumed yet.

        Not the commit the prune guard holds (it waits for a later commit or a restart
        with ``allow_reset``).
        """
        if not self.resumed:
            return True
        if held is not None and held.info.sha == good.info.sha:
            return False
        applied_sha = applied.info.sha if applied else None
        pending = bool(self.pending) and time.monotonic() >= self.pending_at
        return good.info.sha != applied_sha or pending

    def plan_again(self, gateway_ids: Iterable[str]) -> None:
        """Plan these gateways with the next rollout."""
        self.pending.update(gateway_ids)

    def next_due(self) -> float | None:
        """When (monotonic) deferred gateways are due, or ``None``."""
        return self.pending_at if self.pending else None

    async def run(self, target: Loaded) -> None:
        """Resume what earlier runs left, plan ``target`` (incrementally) and carry it out."""
        context = self.context
        async with context.lock:
            if context.stopping.is_set():
                return
            repo = target.repo
            sha = target.info.sha
            engine, planner = context.engine_for(repo)
            status = context.board.current
            noticed = context.noticed_at or time.perf_counter()
            previous = status.applied.repo if status.applied else None
            affected = (
                None if previous is None else affected_gateways(previous, repo) | self.pending
            )

            # Reset gateways roll out under the profile they left: one this commit deletes
            # keeps the applied commit's policy.
            policies = {
                **(cycle.policies_of(status.applied.repo) if status.applied else {}),
                **cycle.policies_of(repo),
            }

            def planned(plan: cycle.PlanSummary) -> None:
                for gateway_id, message in plan.errors[:LOGGED_ERRORS]:
                    log.warning("gateway %s: %s", gateway_id, message)
                if plan.allowed:
                    log.warning(
                        "commit %s resets %d of %d managed gateways to firmware defaults: "
                        "allowed by allow_reset",
                        sha[:12],
                        plan.resets,
                        plan.managed,
                    )
                if plan.actionable and not plan.held:
                    deferred = len(plan.deferred)
                    log.info(
                        "commit %s: rolling out to %d gateways (%d planned in %.0f ms%s)",
                        sha[:12],
                        plan.actionable,
                        plan.planned,
                        plan.seconds * 1000,
                        f", {deferred} deferred" if deferred else "",
                    )
                    context.first_job_seen = False
                    context.noticed_at = noticed

            context.board.update(rollout_running=True)
            try:
                try:
                    result = await cycle.reconcile(
                        engine=engine,
                        planner=planner,
                        repo=repo,
                        store=context.store,
                        commit=sha,
                        policies=policies,
                        read_inventory=context.read_inventory,
                        inventory=status.inventory,
                        affected=affected,
                        resume=not self.resumed,
                        on_resumed=_log_resumed,
                        on_planned=planned,
                        max_reset_share=context.settings.max_reset_share,
                        allow_reset=context.settings.allow_reset,
                    )
                except BaseException:
                    # Jobs this attempt left active are only polled by a resume: do one first
                    # next time.  The affected set is recomputed from the same applied commit.
                    self.resumed = False
                    raise
                self.resumed = True
                if result.held:
                    self._hold(target, result.plan)
                    return
                if context.stopping.is_set():
                    return
                # Deferred gateways (in an active rollout) are planned again a little later.
                self.pending = set(result.plan.deferred)
                self.pending_at = time.monotonic() + PENDING_DELAY_S
                outcome = result.applied
                context.board.update(applied=target, last_rollout=_ended(outcome), held=None)
                context.metrics.reconcile_duration.observe(time.perf_counter() - noticed)
                if outcome.groups:
                    log.info("commit %s rolled out: %s", sha[:12], summary(outcome))
                    # A window query over every transition: seconds at 100,000 gateways, so
                    # off the loop (the lock keeps the engine from writing meanwhile).
                    pruned = await asyncio.to_thread(context.store.prune_transitions)
                    if pruned:
                        log.info("pruned %d old status transitions (50 kept per gateway)", pruned)
                else:
                    log.info("commit %s: nothing to roll out", sha[:12])
            finally:
                context.board.update(rollout_running=False, stalled="")
                context.first_job_seen = True

    def _hold(self, target: Loaded, plan: cycle.PlanSummary) -> None:
        """Nothing of ``target`` rolled out: the applied commit stays the newest good one."""
        board = self.context.board
        held = Held(target.info, plan.held, plan.resets, plan.managed)
        now = board.current
        if now.good is target and now.applied is not None:
            # Like an invalid commit: the last good one stays (the report shows what is applied).
            board.update(held=held, good=now.applied)
        else:
            board.update(held=held)
        log.error("%s (%s)", held.line, plan.totals)


def _log_resumed(outcome: Outcome) -> None:
    if outcome.groups:
        log.info("resumed: %s", summary(outcome))


def _ended(outcome: Outcome) -> dict[str, int]:
    counts = outcome.counts()
    return {s.value: counts[s] for s in Status if counts[s]}
