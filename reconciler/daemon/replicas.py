"""This replica's part in a shared store: the leader lease, the worker, and the whole fleet's figures.

Made by :class:`reconciler.daemon.running.Daemon` when its state store is shared
(PostgreSQL; :func:`~reconciler.store.base.shared_store`).  Every replica runs
the same loop (:class:`~reconciler.daemon.reconciling.Reconciler`: it loads and
validates every commit, so its console and its worker know the newest catalog),
but only the leader plans, opens rollouts and reads back:

- :meth:`ReplicaSet.run` tries for the leader lease every second while another
  replica holds it, and right when it runs out
  (:meth:`~reconciler.store.base.SharedStore.lead`: taken with the epoch one
  higher), and renews it every second (at most a third of its term) while it
  leads.  On taking it, the store is fenced with the new epoch (every write of
  the leader checks holder and epoch in its own transaction) and the loop is
  woken; on losing it (renewal refused, or the lease may have run out on this
  replica's clock, as after a pause) the loop stops leading: its task is
  cancelled, and what it wrote stays durable for the next leader.
- Every replica runs a :class:`~reconciler.engine.shared.Worker` on a store
  connection of its own, with the newest valid commit's catalog and policies.
- Every tick it reads who leads, the live replicas with their claims, and the
  unowned work onto the status record (``/readyz``, the console, the
  ``reconciler_leader``/``reconciler_claims_held``/``reconciler_gateways_unowned``
  gauges), and marks the reports dirty when any replica wrote gateway states
  (so the report and the console of every replica show the whole fleet).
- A follower woken by ``POST /hooks/git`` (a load balancer picks any replica)
  passes it on through the store's ``wake`` meta key: the leader fetches at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections import Counter
from collections.abc import Callable

from reconciler.daemon.reconciling import Reconciler
from reconciler.daemon.settings import DaemonSettings
from reconciler.daemon.status import Replicas
from reconciler.engine import cycle
from reconciler.engine.shared import Worker
from reconciler.store import open_store
from reconciler.store.base import SharedStore, shared_store

log = logging.getLogger("reconciler.daemon")

WAKE_KEY = "wake"
"""The store's meta key a follower writes when it was woken (a push webhook reached it)."""

SWEEP_INTERVAL_S = 60.0
"""Seconds between the leader's looks for running rollouts with nothing left (and their age)."""

FOLLOWER_TICK_S = 1.0
"""Seconds between a follower's tries for the lease at most (a fifth of the term when shorter)."""


class ReplicaSet:
    """The lease loop, the worker and the replica figures of one replica."""

    def __init__(
        self,
        *,
        reconciler: Reconciler,
        store: SharedStore,
        coordination: SharedStore,
        worker_store: SharedStore,
        name: str | None,
        term_s: float,
        on_change: Callable[[], None],
    ) -> None:
        self.reconciler = reconciler
        self.store = store
        """The loop's store: fenced with the epoch while this replica leads."""
        self.coordination = coordination
        """A connection of its own for the lease and the figures (the loop's may be busy in a
        planning thread)."""
        self.worker_store = worker_store
        self.name = name or socket.gethostname()
        self.identity = f"{self.name}-{secrets.token_hex(4)}"
        """Who holds the leader lease: this process (its worker registers incarnations of its own)."""
        self.term_s = term_s
        self.on_change = on_change
        self.epoch: int | None = None
        self.deadline = 0.0
        """Until when (monotonic) the lease holds for sure, on this replica's clock."""
        self.worker: Worker | None = None
        self._seen_at = time.time()
        self._lease_left = 0.0
        self._hint: str | None = None
        self._hinted = False
        self._swept_at = time.monotonic()
        reconciler.context.leading = False
        reconciler.board.update(replicas=Replicas(replica=self.name))

    @property
    def leading(self) -> bool:
        return self.epoch is not None

    async def run(self, stopping: asyncio.Event) -> None:
        """Until ``stopping``: the lease, the worker, the figures; then resign and stop the worker."""
        work = asyncio.create_task(self._work(stopping), name="replica-worker")
        try:
            while not stopping.is_set():
                await self._tick()
                pause = (
                    min(self.term_s / 3, FOLLOWER_TICK_S)
                    if self.leading
                    else self._follower_pause()
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), pause)
        finally:
            if self.worker is not None:
                self.worker.stopping.set()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(
                    asyncio.shield(work), self.reconciler.settings.stop_timeout_s
                )
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            if self.epoch is not None:
                with contextlib.suppress(Exception):
                    self.coordination.resign(self.identity, self.epoch)
            self.worker_store.close()
            self.coordination.close()

    def _follower_pause(self) -> float:
        """Until the next try for the lease: right after it runs out, else a few times a second."""
        pause = min(FOLLOWER_TICK_S, self.term_s / 5)
        if self._lease_left > 0:
            pause = min(pause, self._lease_left + 0.02)
        return max(0.02, pause)

    async def _tick(self) -> None:
        try:
            await self._lease()
            self._figures()
            self._pass_wakeups()
            self._sweep()
        except Exception as exc:  # the database is away: keep trying, lead no longer than sure
            log.warning("shared state store: %s", exc)
            if self.leading and time.monotonic() >= self.deadline:
                await self._step_down("its lease may have run out (the store does not answer)")

    async def _lease(self) -> None:
        started = time.monotonic()
        if self.leading and started >= self.deadline:
            await self._step_down("its lease ran out before it could renew it (paused?)")
        epoch = self.coordination.lead(self.identity, self.name, self.term_s)
        if epoch is None:
            if self.leading:
                await self._step_down("another replica holds the lease now")
            return
        self.deadline = started + self.term_s * 0.9
        if epoch != self.epoch:
            self.store.fence(self.identity, epoch)
            self.epoch = epoch
            self.reconciler.context.leading = True
            log.info("replica %s leads (epoch %d)", self.name, epoch, extra={"epoch": epoch})
            self.reconciler.lead()

    async def _step_down(self, why: str) -> None:
        log.warning("replica %s stops leading: %s", self.name, why)
        self.epoch = None
        self._hinted = False
        self.reconciler.context.leading = False
        await self.reconciler.follow()
        self.store.fence(None, None)

    def _figures(self) -> None:
        """Who leads, who works, what nobody holds; and whether any replica changed states."""
        lease = self.coordination.leader()
        self._lease_left = lease.expires_in
        replicas = self.coordination.replicas()
        claims: Counter[str] = Counter()
        for replica in replicas:
            if replica.live:
                claims[replica.name] += replica.claims
        self.reconciler.board.update(
            replicas=Replicas(
                replica=self.name,
                leader=lease.name if lease.expires_in > 0 else "",
                leading=self.leading,
                epoch=lease.epoch,
                live=sum(1 for r in replicas if r.live),
                claims=dict(claims),
                unowned=self.coordination.unowned(),
            )
        )
        now = time.time()
        if self.coordination.changed_since(self._seen_at - 1.0):
            self.on_change()
        self._seen_at = now

    def _sweep(self) -> None:
        """The leader records finished the rollouts whose supervisor died with nothing left to do
        (a Retry Upload a follower opened, say); every :data:`SWEEP_INTERVAL_S`."""
        now = time.monotonic()
        if not self.leading or now < self._swept_at + SWEEP_INTERVAL_S:
            return
        self._swept_at = now
        finished = self.coordination.finish_idle_rollouts(SWEEP_INTERVAL_S)
        if finished:
            log.info("recorded %d rollouts finished whose supervisor had gone", finished)

    def _pass_wakeups(self) -> None:
        """A push webhook (or a ref change) a follower saw wakes the leader: through the store."""
        reconciler = self.reconciler
        if not self.leading:
            if reconciler.woken:
                reconciler.woken = False
                self.coordination.set_meta(WAKE_KEY, f"{self.name} {time.time()}")
            return
        hint = self.coordination.get_meta(WAKE_KEY)
        if hint != self._hint:
            if self._hinted:  # not the hint found on taking the lease
                reconciler.wake()
            self._hint = hint
        self._hinted = True

    async def _work(self, stopping: asyncio.Event) -> None:
        """This replica's worker, once a valid commit gives it a catalog; follows newer commits."""
        board = self.reconciler.board
        while not stopping.is_set():
            good = board.current.good
            if good is None:
                await asyncio.sleep(0.2)
                continue
            context = self.reconciler.context
            worker = self.worker = Worker(
                driver=context.driver,
                store=self.worker_store,
                name=self.name,
                catalog=good.repo.catalog,
                resolve_secret=context.resolve_secret,
                settings=context.engine_settings,
                term_s=self.term_s,
                on_progress=context.on_progress,
                on_transition=context.on_transition,
                on_lost_jobs=context.metrics.lost_jobs.inc,
            )
            worker.policies = cycle.policies_of(good.repo)
            follow = asyncio.create_task(self._follow_commits(worker, stopping))
            try:
                await worker.run()
            finally:
                follow.cancel()
            return

    async def _follow_commits(self, worker: Worker, stopping: asyncio.Event) -> None:
        board = self.reconciler.board
        seen = board.current.good
        while not stopping.is_set():
            good = board.current.good
            if good is not None and good is not seen:
                seen = good
                worker.catalog = good.repo.catalog
                worker.policies = cycle.policies_of(good.repo)
            await asyncio.sleep(0.5)


def replica_set(
    settings: DaemonSettings, reconciler: Reconciler, on_change: Callable[[], None]
) -> ReplicaSet | None:
    """This replica's :class:`ReplicaSet` when the daemon's store is shared, else ``None``."""
    store = shared_store(reconciler.context.store)
    if store is None:
        return None
    worker_store = shared_store(open_store(settings.state))
    coordination = shared_store(open_store(settings.state))
    assert worker_store is not None and coordination is not None
    return ReplicaSet(
        reconciler=reconciler,
        store=store,
        coordination=coordination,
        worker_store=worker_store,
        name=settings.replica_name,
        term_s=settings.lease_term_s,
        on_change=on_change,
    )
