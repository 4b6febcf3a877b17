"""Rollouts on a store several replicas share: each rollout's supervisor, and every replica's worker.

With a :class:`~reconciler.store.base.SharedStore` (PostgreSQL) the work of a
rollout lives in the store, not in one process:

- the replica that opens a rollout (the leader for a commit; any replica for a
  Retry Upload) stores its Initial states as always, then only *supervises* it
  (:func:`supervise`): it reads the rollout's counts per status from the store,
  applies the abort policy to the whole rollout, records it finished (or
  aborted, or superseded) and reports progress.  It submits nothing itself;
- every replica runs a :class:`Worker`: it claims gateway work from the store
  (``SELECT ... FOR UPDATE SKIP LOCKED`` in one short transaction,
  :meth:`~reconciler.store.base.SharedStore.claim`) and carries it out with the
  same runner as a single process (:class:`ClaimingRunner`, a
  :class:`~reconciler.engine.runner.Runner`): submit with the stored idempotency
  key, poll, read back.  Its claims last as long as its own lease, which it
  renews every third of the term; a replica that dies loses them when the lease
  runs out, and another replica resumes them: Requested and Sent jobs are polled
  again, Initial ones submitted with their stored key (the head-end answers with
  the job it already has, so no job is made twice).

Every status update names the status it expects to replace, and a claimed
gateway's also the claim; the store refuses a worker's write once its lease ran
out (:class:`~reconciler.errors.NotLeaderError`): a paused replica that wakes
after its lease writes nothing.  It also checks its lease on its own clock
before every submission, so it sends nothing either.

A profile's ``rollout.max_in_flight`` holds across replicas (the claim counts
what every live replica holds, and gives each at most its share, so none starves
the others); ``max_per_minute`` is shared out between the live replicas; the
abort policy judges a rollout's counts across replicas (its supervisor every
second, and a worker as soon as its own jobs are declined).  The engine
(:class:`~reconciler.engine.rollouts.Engine` with
``shared=True``) calls :func:`supervise`; the daemon runs one :class:`Worker`
per replica (:mod:`reconciler.daemon.replicas`), and ``reconciler apply`` one in
its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import cast

from reconciler import errors
from reconciler.drivers.base import Driver
from reconciler.engine.decisions import abort_reason, policy_for
from reconciler.engine.progress import (
    GroupProgress,
    LostJobsHook,
    Outcome,
    ProgressHook,
    TransitionHook,
)
from reconciler.engine.runner import Job, Runner, Wiring
from reconciler.engine.settings import EngineSettings
from reconciler.model.catalogs import Catalog
from reconciler.model.files import RolloutPolicy
from reconciler.model.state import AppliedGateway, Status
from reconciler.store.base import SharedStore, StateStore

log = logging.getLogger("reconciler.engine")

CLAIM_BATCH = 500
"""Gateways claimed in one transaction at most (short transactions)."""
CLAIM_IDLE_S = 0.5
"""Seconds between claims while the last one found less than it asked for."""
ENDED_CHECK_S = 1.0
"""Seconds between looks at which rollouts still run (a worker drops the queued work of ended ones)."""
ABORT_CHECK_S = 0.25
"""Seconds between a worker's looks at a rollout's counts while its jobs are being declined."""
SUPERVISE_INTERVAL_S = 1.0
"""Seconds between a supervisor's reads of its rollouts' counts."""


# --- the supervisor ------------------------------------------------------------------------------


async def supervise(wiring: Wiring, outcome: Outcome, groups: Sequence[GroupProgress]) -> Outcome:
    """Follow ``groups``' rollouts in the store until each has ended; returns ``outcome``.

    Ends early when the engine stops (the rollouts stay running: the next leader
    supervises them) or a newer commit supersedes the run (its rollouts are
    recorded finished; their gateways not yet claimed stay Initial and are planned again).
    """
    store = cast(SharedStore, wiring.store)
    open_groups = {g.rollout_id: g for g in groups}
    interval = max(wiring.settings.poll_interval_s, SUPERVISE_INTERVAL_S)
    while open_groups:
        counts = store.rollout_counts(list(open_groups))
        now = wiring.clock()
        for rollout_id, group in list(open_groups.items()):
            group.counts = Counter(counts.get(rollout_id, {}))
            group.total = sum(group.counts.values())
            group.attempted = group.total - group.counts[Status.INITIAL]
            group.declined = group.counts[Status.DECLINED]
            if not group.aborted:
                group.aborted = abort_reason(group.attempted, group.declined, group.policy)
                if group.aborted:
                    log.warning(
                        "profile %s: %s; the rest stay Initial until a retry or a new commit",
                        group.profile,
                        group.aborted,
                    )
                    store.finish_rollout(rollout_id, "aborted", now, group.aborted)
            if group.done:
                if not group.aborted:
                    store.finish_rollout(rollout_id, "finished", now)
                del open_groups[rollout_id]
        if wiring.on_progress is not None:
            wiring.on_progress(outcome)
        if not open_groups or wiring.stopping.is_set():
            break
        if wiring.superseded.is_set():
            outcome.superseded = True
            for rollout_id, group in open_groups.items():
                outcome.left += group.counts[Status.INITIAL]
                group.superseded = "superseded by a newer commit"
                store.finish_rollout(rollout_id, "finished", now, group.superseded)
            break
        await wiring.sleep(interval)
    return outcome


# --- the worker ----------------------------------------------------------------------------------


class ClaimingRunner(Runner):
    """A runner whose work comes from the store's claims rather than from a plan."""

    def __init__(self, worker: Worker) -> None:
        super().__init__(worker)
        self.worker = worker
        self.claimed = 0
        """Gateways this run claimed."""
        self.groups: dict[int, GroupProgress] = {}
        """The rollouts of the claimed gateways, by id."""
        self._claim_at = 0.0
        self._ended_at = 0.0
        self._abort_at: dict[int, float] = {}
        self._declines: dict[int, int] = {}

    async def _submit(self) -> None:
        self.worker.check_lease()  # a replica that was paused past its lease sends nothing
        self._drop_ended()
        self._claim()
        await super()._submit()

    def _claim(self) -> None:
        worker = self.worker
        queued = sum(map(len, self.queues.values()))
        room = min(CLAIM_BATCH, worker.settings.max_in_flight - len(self.in_flight) - queued)
        now = time.monotonic()
        if room <= 0 or worker.stopping.is_set() or now < self._claim_at:
            return
        states = worker.shared.claim(room, worker.max_in_flight)
        if len(states) < room:
            self._claim_at = now + CLAIM_IDLE_S
        for state in states:
            self.adopt(self._group(state), state)
        self.claimed += len(states)

    def _group(self, state: AppliedGateway) -> GroupProgress:
        rollout_id = state.rollout_id or 0
        group = self.groups.get(rollout_id)
        if group is None:
            policy = self.worker.policy(state.profile)
            group = self.open_group(state.profile, rollout_id, policy, self.wiring.clock())
            self.groups[rollout_id] = group
        return group

    def _drop_ended(self) -> None:
        """Queued gateways of a rollout that ended meanwhile (aborted, superseded) start no job."""
        now = time.monotonic()
        if now < self._ended_at or not any(self.queues.values()):
            return
        self._ended_at = now + ENDED_CHECK_S
        running = {r.rollout_id for r in self.worker.shared.rollouts(active_only=True)}
        for queue in self.queues.values():
            # A reapplied Mismatch goes out also when its rollout was recorded finished meanwhile.
            if any(job.group.rollout_id not in running for job in queue):
                kept = [job for job in queue if job.group.rollout_id in running or job.reapplied]
                queue.clear()
                queue.extend(kept)
        for group in self.groups.values():
            if group.rollout_id not in running and not group.aborted:
                group.aborted = "the rollout ended"

    def _check_abort(self) -> None:
        """The abort policy judges the whole rollout: after this worker saw new declines, its
        rollout's counts across replicas (at most every :data:`ABORT_CHECK_S`); an aborted
        rollout's queued gateways start no job here, and the supervisor and the other
        workers see it ended (:func:`supervise` judges too, from its own reads)."""
        now = time.monotonic()
        for rollout_id, group in self.groups.items():
            policy = group.policy
            if (
                group.aborted
                or policy.abort is None
                or group.declined <= self._declines.get(rollout_id, 0)
            ):
                continue
            if now < self._abort_at.get(rollout_id, 0.0):
                continue
            self._abort_at[rollout_id] = now + ABORT_CHECK_S
            self._declines[rollout_id] = group.declined
            counts = self.worker.shared.rollout_counts([rollout_id]).get(rollout_id, Counter())
            total = sum(counts.values())
            reason = abort_reason(total - counts[Status.INITIAL], counts[Status.DECLINED], policy)
            if reason:
                group.aborted = reason
                log.warning("profile %s: %s; the rest stay Initial", group.profile, reason)
                self.worker.shared.finish_rollout(
                    rollout_id, "aborted", self.wiring.clock(), reason
                )
                self._ended_at = 0.0  # drop its queued gateways at the next tick

    def _finish(self) -> None:
        """The supervisor records how the rollout ended."""

    def _write(self, updates: list[AppliedGateway]) -> None:
        super()._write(updates)
        lost = set(self.worker.shared.skipped)
        if not lost:
            return
        # Another writer changed these gateways (their claim went elsewhere): not ours now.
        log.warning(
            "%d gateways changed under this replica's claim; leaving them to their new owner",
            len(lost),
        )
        for job_id, job in list(self.in_flight.items()):
            if job.state.gateway_id in lost:
                del self.in_flight[job_id]
        for queue in self.queues.values():
            kept: list[Job] = [job for job in queue if job.state.gateway_id not in lost]
            queue.clear()
            queue.extend(kept)


class Worker:
    """One replica's share of every rollout: claims work from the shared store and carries it out.

    It is the runner's :class:`~reconciler.engine.runner.Wiring`; ``catalog`` and
    ``policies`` follow the newest valid commit (the daemon sets them).
    """

    def __init__(
        self,
        *,
        driver: Driver,
        store: SharedStore,
        name: str,
        catalog: Catalog,
        resolve_secret: Callable[[str], str | None],
        settings: EngineSettings | None = None,
        term_s: float = 15.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_progress: ProgressHook | None = None,
        on_transition: TransitionHook | None = None,
        on_lost_jobs: LostJobsHook | None = None,
    ) -> None:
        self.driver = driver
        self.store: StateStore = store
        self.shared = store
        self.name = name
        self.catalog = catalog
        self.resolve_secret = resolve_secret
        self.settings = settings or EngineSettings()
        self.term_s = term_s
        self.clock = clock
        self.sleep = sleep
        self.on_progress = on_progress
        self.on_transition = on_transition
        self.on_lost_jobs = on_lost_jobs
        self.policies: Mapping[str, RolloutPolicy] = {}
        self.stopping = asyncio.Event()
        self.superseded = asyncio.Event()
        """Never set: a worker's jobs are not superseded (their rollout's supervisor ends it)."""
        self.replica_id: str | None = None
        self.deadline = 0.0
        """Until when (monotonic) this replica's lease holds for sure: renewed by the heartbeat."""
        self.live = 1
        """Live replicas (``max_per_minute`` is shared out between them)."""
        self.runner: ClaimingRunner | None = None
        self._lost = asyncio.Event()

    # --- what the runner asks ----------------------------------------------------------------

    def policy(self, profile: str | None) -> RolloutPolicy:
        policy = policy_for(self.policies, profile)
        if policy.max_per_minute and self.live > 1:
            share = max(1, math.ceil(policy.max_per_minute / self.live))
            policy = policy.model_copy(update={"max_per_minute": share})
        return policy

    def max_in_flight(self, profile: str | None) -> int | None:
        return policy_for(self.policies, profile).max_in_flight

    def check_lease(self) -> None:
        """Raise :class:`~reconciler.errors.NotLeaderError` once the lease may have run out."""
        if time.monotonic() >= self.deadline:
            raise errors.NotLeaderError(
                f"replica {self.replica_id}: its lease ran out; leaving its claims to the others"
            )

    @property
    def claims(self) -> int:
        """Gateways this worker holds now (queued or at the head-end)."""
        run = self.runner
        return 0 if run is None else len(run.in_flight) + sum(map(len, run.queues.values()))

    # --- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Register, then claim and carry out work until :attr:`stopping`; then deregister."""
        await self._register()
        keepalive = asyncio.create_task(self._keepalive(), name="replica-lease")
        try:
            while not self.stopping.is_set():
                await self._round()
        finally:
            keepalive.cancel()
            await asyncio.gather(keepalive, return_exceptions=True)
            with contextlib.suppress(errors.StoreError):
                self.shared.deregister()
            self.runner = None

    async def _round(self) -> None:
        """One runner until it has nothing left, or until the lease is lost."""
        self.runner = runner = ClaimingRunner(self)
        work = asyncio.create_task(runner.run(), name="replica-work")
        lost = asyncio.create_task(self._lost.wait())
        try:
            await asyncio.wait({work, lost}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            error = None if work.cancelled() else work.exception()
        finally:
            lost.cancel()
            work.cancel()  # when the worker itself is cancelled (stopping)
        if self._lost.is_set() or isinstance(error, errors.NotLeaderError):
            log.warning("replica %s lost its lease: its claims go to the others", self.replica_id)
            self._lost.clear()
            await self._register()
        elif error is not None:
            expected = errors.HeadendError | errors.StoreError  # a head-end or database away
            level = logging.WARNING if isinstance(error, expected) else logging.ERROR
            log.log(level, "replica work failed, trying again: %s", error, exc_info=level > 30)
            await self._pause(self.settings.resubmit_backoff_s or 1.0)
            # The claims this runner held are nobody's work now: a new incarnation leaves them
            # to any worker (this one included) at once.
            with contextlib.suppress(Exception):
                self.shared.deregister()
            await self._register()
        elif not runner.claimed:
            await self._pause(CLAIM_IDLE_S)

    async def _register(self) -> None:
        """A new incarnation of this replica, retried while the database does not answer
        (without blocking the event loop: the replica's server and leader go on meanwhile)."""
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                self.replica_id = self.shared.register(self.name, self.term_s)
            except errors.StoreError as exc:
                log.warning("registering replica %s failed, trying again: %s", self.name, exc)
                await self._pause(min(1.0, self.term_s / 3))
                continue
            self.deadline = started + self.term_s * 0.9
            return

    async def _keepalive(self) -> None:
        """Renew the lease every third of its term; a lease found run out stops the work."""
        while not self.stopping.is_set():
            await self._pause(self.term_s / 3)
            started = time.monotonic()
            try:
                if self.shared.heartbeat(self.term_s):
                    self.deadline = started + self.term_s * 0.9
                    self.live = max(1, sum(1 for r in self.shared.replicas() if r.live))
                else:
                    self._lost.set()
            except Exception as exc:  # the database is away: the local deadline stops the work
                log.warning("renewing replica %s's lease failed: %s", self.replica_id, exc)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)
