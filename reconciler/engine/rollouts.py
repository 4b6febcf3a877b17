"""The rollout engine: carries out a plan's actions through a driver, durably.

Each gateway moves Initial -> Requested -> Sent -> Accepted or Declined; every
transition is written to the store, in one transaction per batch, before the
next call to the head-end, so that :meth:`Engine.resume` can pick up after a
crash (even ``kill -9``): Initial gateways are resubmitted with their stored
idempotency key (no second job), Requested and Sent ones are polled again.

:class:`Engine` is what the ``apply`` and ``retry`` commands and the daemon
hold.  Its entry points open rollouts (one per profile, Initial states from
:mod:`reconciler.engine.opening`, stored before anything is sent) and hand
them to a :class:`~reconciler.engine.runner.Runner`, the I/O loop, which
follows the pure decisions of :mod:`reconciler.engine.decisions`: limits
(engine-wide ``max_in_flight``; per profile ``rollout.max_in_flight`` and
``max_per_minute``), resubmission after transport failures, job timeouts and
the abort policy, jobs the head-end lost.  :meth:`Engine.stalled` says why the
rollout in progress is stuck, if it is (the daemon's ``/readyz``).  Progress is
counted in :mod:`reconciler.engine.progress`;
:class:`Outcome`, :class:`GroupProgress`, the hook types and
:class:`NothingToRetry` are importable from here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

from reconciler.drivers.base import Driver
from reconciler.engine import opening, shared
from reconciler.engine.decisions import DEFAULT_POLICY, policy_for
from reconciler.engine.progress import (
    GroupProgress,
    LostJobsHook,
    Outcome,
    ProgressHook,
    TransitionHook,
)
from reconciler.engine.runner import Job, Runner, count, read_back
from reconciler.engine.settings import EngineSettings
from reconciler.errors import NothingToRetry as NothingToRetry
from reconciler.members.retrying import retry_candidates
from reconciler.model.catalogs import Catalog
from reconciler.model.files import RolloutPolicy
from reconciler.model.state import ACTIVE, AppliedGateway, Status
from reconciler.plan.planning import Action, GatewayPlan, Plan, group_of
from reconciler.store.base import StateStore

log = logging.getLogger("reconciler.engine")


class Engine:
    """Executes plans against a head-end; one engine per store."""

    def __init__(
        self,
        *,
        driver: Driver,
        store: StateStore,
        catalog: Catalog,
        resolve_secret: Callable[[str], str | None],
        settings: EngineSettings | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_progress: ProgressHook | None = None,
        on_transition: TransitionHook | None = None,
        on_lost_jobs: LostJobsHook | None = None,
        shared: bool = False,
    ) -> None:
        self.driver = driver
        self.shared = shared
        """The store is shared by replicas: runs only open and supervise rollouts, and the
        replicas' workers carry them out (:mod:`reconciler.engine.shared`)."""
        self.store = store
        self.catalog = catalog
        self.resolve_secret = resolve_secret
        self.settings = settings or EngineSettings()
        self.clock = clock
        self.sleep = sleep
        self.on_progress = on_progress
        self.on_transition = on_transition
        self.on_lost_jobs = on_lost_jobs
        """Called with how many jobs the head-end was found to have lost in one poll."""
        self.stopping = asyncio.Event()
        """Set to stop starting new jobs (SIGTERM); active ones are left to a resume."""
        self.superseded = asyncio.Event()
        """Set when a newer commit supersedes the rollout under way (the daemon; cleared by
        whoever starts the next one): its run starts no more jobs and ends at once."""
        self._runs: list[Runner] = []
        self._carried: dict[str, Job] = {}
        """Jobs at the head-end a superseded run left: the next run polls them (by job id)."""

    def stalled(self) -> str:
        """Why the rollout in progress is stalled, or ``""`` (none running, or it moves).

        Stalled: the head-end keeps losing jobs (a resubmitted job was lost again
        within ``stall_after_s``), or jobs are in flight and none started or
        changed status for ``stall_after_s``.  Re-evaluated every poll tick.
        """
        return next((r.outcome.stalled for r in self._runs if r.outcome.stalled), "")

    @property
    def carried(self) -> frozenset[str]:
        """Gateways whose job a superseded run left at the head-end (the next run polls it)."""
        return frozenset(job.state.gateway_id for job in self._carried.values())

    def _runner(self) -> Runner:
        """A new run; it takes over the jobs a superseded run left at the head-end."""
        run = Runner(self)
        run.in_flight.update(self._carried)
        self._carried.clear()
        return run

    async def _run(self, run: Runner) -> Outcome:
        if self.shared:
            return await shared.supervise(self, run.outcome, list(run.outcome.groups.values()))
        self._runs.append(run)
        try:
            return await run.run()
        finally:
            self._runs.remove(run)
            if run.outcome.superseded:
                self._carried.update(run.in_flight)

    async def apply(
        self, plan: Plan, *, commit: str | None, policies: Mapping[str, RolloutPolicy]
    ) -> Outcome:
        """Carry out every actionable gateway plan; returns when every rollout has ended, or
        at once when :attr:`superseded` is set (see :class:`Outcome`'s ``superseded``)."""
        run = self._runner()
        await self._open_plan(run, plan, commit, policies)
        # The queued jobs carry what they need: the plans (~200 bytes a gateway) are not
        # kept through the rollout (the caller drops its own reference too).
        del plan
        return await self._run(run)

    async def _open_plan(
        self,
        run: Runner,
        plan: Plan,
        commit: str | None,
        policies: Mapping[str, RolloutPolicy],
    ) -> None:
        """Open a rollout per profile of ``plan``'s actionable gateways and queue their jobs."""
        now = self.clock()
        by_group: dict[str | None, list[GatewayPlan]] = {}
        for planned in plan.actionable():
            by_group.setdefault(group_of(planned), []).append(planned)
        finished: list[AppliedGateway] = []
        forget: list[str] = []
        for name, members in by_group.items():
            rollout_id = self.store.start_rollout(commit, name, now)
            group = run.open_group(name, rollout_id, policy_for(policies, name), now)
            initial: list[AppliedGateway] = []
            for p in members:
                state = opening.initial_state(p, rollout_id, commit, now)
                if not p.send:
                    # Membership-only change (a move to an identical configuration): nothing to send.
                    if opening.leaves_management(state):
                        forget.append(p.gateway_id)
                    else:
                        finished.append(opening.accepted_state(state, now))
                    continue
                initial.append(state)
            self._open(run, group, initial)
            # 500 profiles' rollouts are recorded one transaction each: let the loop breathe
            # between them (the daemon's /metrics stalled ~8 s at 100,000 gateways otherwise).
            await asyncio.sleep(0)
        if finished:
            self.store.write(finished)
        if forget:
            self.store.forget(forget)
            run.outcome.forgotten += len(forget)
        planned_ids = {p.gateway_id for p in plan.actionable()}
        self._restart_aborted(run, commit, planned_ids, policies, now)

    def _restart_aborted(
        self,
        run: Runner,
        commit: str | None,
        planned: set[str],
        policies: Mapping[str, RolloutPolicy],
        now: float,
    ) -> None:
        """A new commit starts the gateways an aborted rollout left Initial (they join its rollouts)."""
        aborted = self._aborted_rollouts()
        if not aborted:
            return
        waiting = opening.restartable(self.store.applied().values(), aborted, commit, planned)
        restarted: list[AppliedGateway] = []
        for state in waiting:
            group = run.outcome.groups.get(state.profile)
            if group is None:
                rollout_id = self.store.start_rollout(commit, state.profile, now)
                policy = policy_for(policies, state.profile)
                group = run.open_group(state.profile, rollout_id, policy, now)
            restarted.append(opening.restarted_state(state, group.rollout_id, commit, now))
            run.enqueue(group, restarted[-1:])
        if restarted:
            self.store.write(restarted)

    async def resume(self, policies: Mapping[str, RolloutPolicy]) -> Outcome:
        """Continue what a previous process left: resubmit Initial (same key), poll Requested/Sent.

        Not the Initial gateways of a rollout that ended without them (aborted, or finished
        when a newer commit superseded it): a new commit (or a retry) plans them again.
        """
        self._carried.clear()  # their states are Requested or Sent: adopted below
        if self.shared:
            return await self._resume_shared(policies)
        run = Runner(self)
        rollouts = self.store.rollouts()
        ended = {r.rollout_id for r in rollouts if r.state != "running"}
        running = {r.rollout_id: r for r in rollouts if r.state == "running"}
        for state in self.store.applied().values():
            if state.status not in (Status.INITIAL, *ACTIVE):
                continue
            if state.status is Status.INITIAL and state.rollout_id in ended:
                continue
            name = state.profile
            group = run.outcome.groups.get(name)
            if group is None:
                rollout = running.get(state.rollout_id or -1)
                rollout_id = (
                    rollout.rollout_id
                    if rollout
                    else self.store.start_rollout(state.commit, name, self.clock())
                )
                group = run.open_group(name, rollout_id, policy_for(policies, name), self.clock())
            run.adopt(group, state)
        if run.queues or run.in_flight:
            log.info(
                "resuming %d queued and %d active jobs",
                sum(map(len, run.queues.values())),
                len(run.in_flight),
                extra={
                    "queued": sum(map(len, run.queues.values())),
                    "active": len(run.in_flight),
                    "profiles": sorted(g or "(no profile)" for g in run.outcome.groups),
                },
            )
            await self._run(run)
        return run.outcome

    async def _resume_shared(self, policies: Mapping[str, RolloutPolicy]) -> Outcome:
        """Supervise the rollouts still running (their supervisor died): the workers carry them."""
        outcome = Outcome()
        groups = []
        for rollout in self.store.rollouts(active_only=True):
            policy = policy_for(policies, rollout.profile)
            group = GroupProgress(
                rollout.profile, rollout.rollout_id, policy, started_at=rollout.started_at
            )
            outcome.groups[rollout.profile] = group
            groups.append(group)
        if groups:
            log.info("supervising %d rollouts still running", len(groups))
            await shared.supervise(self, outcome, groups)
        return outcome

    async def retry(
        self, profile: str, *, policies: Mapping[str, RolloutPolicy], commit: str | None = None
    ) -> Outcome:
        """Retry Upload: push again to the Declined and Mismatch members of ``profile``
        (and those an aborted rollout left Initial); the rule is :func:`retry_candidates`."""
        members = retry_candidates(self.store.applied().values(), self._aborted_rollouts(), profile)
        if not members:
            raise NothingToRetry(
                f"profile '{profile}' has no Declined or Mismatch member (nor one an aborted rollout left waiting); nothing to retry"
            )
        return await self._repush({profile: members}, policies, commit)

    async def repair(
        self, policies: Mapping[str, RolloutPolicy], commit: str | None = None
    ) -> Outcome:
        """``on_mismatch: reapply``: push the accepted values again to Mismatch members of such profiles."""
        states: dict[str | None, list[AppliedGateway]] = {}
        for state in self.store.applied().values():
            policy = policy_for(policies, state.profile)
            if state.status is Status.MISMATCH and policy.on_mismatch == "reapply":
                states.setdefault(state.profile, []).append(state)
        return await self._repush(states, policies, commit) if states else Outcome()

    async def _repush(
        self,
        members: Mapping[str | None, Sequence[AppliedGateway]],
        policies: Mapping[str, RolloutPolicy],
        commit: str | None,
    ) -> Outcome:
        """A new rollout per profile for gateways that have a state: Declined, Mismatch, aborted."""
        now = self.clock()
        run = self._runner()
        for profile, states in members.items():
            rollout_id = self.store.start_rollout(commit, profile, now)
            group = run.open_group(profile, rollout_id, policy_for(policies, profile), now)
            self._open(run, group, [opening.repushed_state(s, rollout_id, now) for s in states])
        return await self._run(run)

    async def read_back(self, gateway_ids: Iterable[str] | None = None) -> list[str]:
        """Compare live with accepted configurations; set Mismatch (or clear it).  Returns mismatched ids."""
        only = None if gateway_ids is None else set(gateway_ids)
        if only is not None and len(only) <= 1000:  # a few devices (events): no full table scan
            states = {gid: s for gid in sorted(only) if (s := self.store.get(gid)) is not None}
        else:
            states = self.store.applied()
        wanted = [
            s
            for gid, s in states.items()
            if (only is None or gid in only)
            and s.status in (Status.ACCEPTED, Status.MISMATCH)
            and s.accepted
        ]
        changed, mismatched = await read_back(self, wanted)
        if changed:
            self.store.write(changed)
        return mismatched

    def _open(self, run: Runner, group: GroupProgress, initial: list[AppliedGateway]) -> None:
        """Store a new rollout's Initial states (one transaction), then queue them."""
        self.store.write(initial)
        count(self, Status.INITIAL, len(initial))
        run.enqueue(group, initial)

    def _aborted_rollouts(self) -> set[int]:
        return {r.rollout_id for r in self.store.rollouts() if r.state == "aborted"}


__all__ = [
    "DEFAULT_POLICY",
    "Action",
    "Engine",
    "GroupProgress",
    "LostJobsHook",
    "NothingToRetry",
    "Outcome",
    "ProgressHook",
    "TransitionHook",
]
