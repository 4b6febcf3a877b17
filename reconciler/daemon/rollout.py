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

A newer valid commit supersedes the rollout under way (:meth:`Rollouts.supersede`,
called by the loop when it loads one): the engine starts no more jobs and the run ends
at once; the commit is not applied.  The next rollout (of the newest commit, started at
once) plans only what differs between the superseded commit and the newest, so that its
first job goes out within a second also at fleet scale; the gateways the superseded
rollout never submitted are planned again against the newest commit right after it (or
with it, when the newest commit changes them), and the jobs already at the head-end are
polled by the next run until they end, and their gateways planned again then.

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
from collections.abc import Iterable, Set

from reconciler.daemon import logs
from reconciler.daemon.context import Context, release_memory, summary
from reconciler.daemon.status import Held, Loaded
from reconciler.engine import cycle
from reconciler.engine.rollouts import Outcome
from reconciler.model.state import Status
from reconciler.plan.affected import affected_gateways

log = logging.getLogger("reconciler.daemon")

PENDING_DELAY_S = 5.0
"""Seconds before deferred gateways are planned again (their active job must end first)."""

APPLIED_KEY = "applied_commit"
"""The store's meta key of the applied commit (a shared store: followers show the leader's)."""

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
        self.running: str | None = None
        """The commit being rolled out, or ``None``."""
        self.base: Loaded | None = None
        """The newest superseded commit whose rollout opened (what the store heads for), or
        ``None``: the next plan covers what differs from it rather than from the applied one."""
        self.replan: set[str] = set()
        """Gateways superseded rollouts planned (some may be left Initial): planned again, against
        the applied commit, once the newest commit's rollout has completed."""
        self.replan_all = False
        """Like :attr:`replan`, for every gateway (a superseded rollout planned them all)."""

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
        waiting = bool(self.pending or self.replan or self.replan_all)
        return good.info.sha != applied_sha or (waiting and time.monotonic() >= self.pending_at)

    def plan_again(self, gateway_ids: Iterable[str]) -> None:
        """Plan these gateways with the next rollout."""
        self.pending.update(gateway_ids)

    def supersede(self, newest: Loaded) -> bool:
        """A newer valid commit was loaded: the rollout under way starts no more jobs and ends.

        Returns whether a rollout (of another commit) was superseded."""
        engine = self.context.engine
        if self.running is None or self.running == newest.info.sha or engine is None:
            return False
        if not engine.superseded.is_set():
            log.info(
                "commit %s supersedes the rollout of %s: its jobs not yet submitted are "
                "planned against the newer commit",
                newest.info.sha[:12],
                self.running[:12],
            )
            engine.superseded.set()
        return True

    def next_due(self) -> float | None:
        """When (monotonic) deferred gateways are due, or ``None``."""
        return self.pending_at if self.pending or self.replan or self.replan_all else None

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
            # A new commit is planned against what the store heads for (a superseded commit's
            # rollout, if one opened); what superseded rollouts planned waits for it to complete.
            fresh = status.applied is None or status.applied.info.sha != sha
            base = (self.base if fresh else None) or status.applied
            previous = base.repo if base else None
            affected: set[str] | None = None
            if previous is not None and (fresh or not self.replan_all):
                affected = affected_gateways(previous, repo) | self.pending
                if not fresh:
                    affected |= self.replan

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
                        extra={
                            "commit": sha,
                            "gateways": plan.actionable,
                            "planned": plan.planned,
                            "deferred": deferred,
                        },
                    )
                    context.first_job_seen = False
                    context.noticed_at = noticed

            context.board.update(rollout_running=True)
            self.running = sha
            engine.superseded.clear()
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
                if result.superseded:
                    self._superseded(target, result, affected)
                    return
                if result.held:
                    self._hold(target, result.plan)
                    return
                if context.stopping.is_set():
                    return
                # Deferred gateways (in an active rollout) are planned again a little later;
                # those superseded rollouts planned (and may have left Initial), at once.
                self.pending = set(result.plan.deferred)
                self.pending_at = time.monotonic() + PENDING_DELAY_S
                self.base = None
                if not fresh:
                    self.replan, self.replan_all = set(), False
                elif self.replan or self.replan_all:
                    self.pending_at = time.monotonic()  # what superseded rollouts planned, now
                outcome = result.applied
                context.board.update(applied=target, last_rollout=_ended(outcome), held=None)
                if context.engine_for(repo)[0].shared:  # the other replicas show it too
                    context.store.set_meta(APPLIED_KEY, sha)
                context.metrics.reconcile_duration.observe(time.perf_counter() - noticed)
                if outcome.groups:
                    log.info(
                        "commit %s rolled out: %s",
                        sha[:12],
                        summary(outcome),
                        extra={"commit": sha, **logs.outcome_fields(outcome)},
                    )
                    # A window query over every transition: seconds at 100,000 gateways, so
                    # off the loop (the lock keeps the engine from writing meanwhile).
                    pruned = await asyncio.to_thread(context.store.prune_transitions)
                    if pruned:
                        log.info("pruned %d old status transitions (50 kept per gateway)", pruned)
                    await asyncio.to_thread(release_memory)
                else:
                    log.info("commit %s: nothing to roll out", sha[:12])
            finally:
                self.running = None
                engine.superseded.clear()
                context.board.update(rollout_running=False, stalled="")
                context.first_job_seen = True

    def _superseded(
        self, target: Loaded, result: cycle.CycleResult, affected: Set[str] | None
    ) -> None:
        """Not applied: what it planned or deferred is planned again after the next rollout
        (its jobs at the head-end end in the next run: planning them now would defer them)."""
        self.replan |= result.plan.deferred
        resumed = result.resumed is not None and result.resumed.superseded
        if result.applied.groups or resumed:  # it opened rollouts: the store heads for it
            self.base = target
            if affected is None or resumed:
                self.replan_all = True
            else:
                self.replan |= affected
        log.info(
            "commit %s superseded: %d gateways left unsubmitted, %d jobs at the head-end "
            "carried to the next rollout",
            target.info.sha[:12],
            result.applied.left,
            len(self.context.engine.carried) if self.context.engine else 0,
        )

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
        log.info("resumed: %s", summary(outcome), extra=logs.outcome_fields(outcome))


def _ended(outcome: Outcome) -> dict[str, int]:
    counts = outcome.counts()
    return {s.value: counts[s] for s in Status if counts[s]}
