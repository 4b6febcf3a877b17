"""What the daemon's tasks share: driver, store, status board, the engine for the newest catalog, a lock.

Made by :class:`reconciler.daemon.reconciling.Reconciler` and handed to its
tasks: the rollout (:mod:`reconciler.daemon.rollout`), the read-back
(:mod:`reconciler.daemon.readback`) and Retry Upload
(:mod:`reconciler.daemon.retry`).  Engine work (rollouts, read-back, Retry
Upload) is serialised by :attr:`Context.lock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
import logging
import time
from collections.abc import Callable, Mapping

from reconciler.daemon.metrics import Metrics
from reconciler.daemon.settings import DaemonSettings
from reconciler.daemon.status import StatusBoard
from reconciler.drivers.base import Driver
from reconciler.engine import digests, jobs
from reconciler.engine.rollouts import Engine, Outcome
from reconciler.engine.settings import EngineSettings
from reconciler.model.inventory import InventoryGateway
from reconciler.model.repos import Repo
from reconciler.model.state import Status
from reconciler.plan.planning import Planner
from reconciler.store.base import StateStore, shared_store

log = logging.getLogger("reconciler.daemon")


class Context:
    """The daemon's shared parts; the engine and the planner are made for the newest catalog."""

    def __init__(
        self,
        *,
        settings: DaemonSettings,
        driver: Driver,
        store: StateStore,
        resolve_secret: Callable[[str], str | None],
        metrics: Metrics,
        board: StatusBoard,
        engine_settings: EngineSettings,
        wake: Callable[[], None],
        on_change: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.driver = driver
        self.store = store
        self.resolve_secret = resolve_secret
        self.metrics = metrics
        self.board = board
        self.engine_settings = engine_settings
        self.wake = wake
        """Wake the loop (something is due)."""
        self.on_change = on_change
        """The store's states changed: the reports should follow."""
        self.lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.engine: Engine | None = None
        self.planner: Planner | None = None
        self.noticed_at = 0.0
        """When (``perf_counter``) the commit being rolled out was noticed."""
        self.first_job_seen = True
        """Whether the current rollout's first job was acknowledged (commit-to-first-job)."""
        self.leading = True
        """Whether this replica plans and rolls out (always, unless the store is shared and
        another replica holds the leader lease: :mod:`reconciler.daemon.replicas`)."""
        self.inventory_reads = 0
        """Whole reads of the inventory so far (a paged pass that saw one cannot tell who left)."""

    def engine_for(self, repo: Repo) -> tuple[Engine, Planner]:
        """The engine, made once, and a planner for ``repo``'s catalog (new when the catalog changed)."""
        if self.engine is None:
            self.engine = Engine(
                driver=self.driver,
                store=self.store,
                catalog=repo.catalog,
                resolve_secret=self.resolve_secret,
                settings=self.engine_settings,
                on_transition=self.on_transition,
                on_lost_jobs=self.metrics.lost_jobs.inc,
                on_progress=self.on_progress,
                shared=shared_store(self.store) is not None,
            )
        if self.planner is None or self.engine.catalog is not repo.catalog:
            self.engine.catalog = repo.catalog
            self.planner = Planner(
                repo.catalog,
                digest=digests.secret_digest(self.store, self.resolve_secret),
                check_secret=jobs.secret_check(self.resolve_secret),
            )
        return self.engine, self.planner

    async def read_inventory(self) -> Mapping[str, InventoryGateway]:
        """Read the head-end's inventory into the status, and return it."""
        gateways = await self.driver.inventory()
        inventory = {g.id: g for g in gateways}
        self.inventory_reads += 1
        self.board.update(inventory=inventory)
        log.info("inventory: %d gateways known to the head-end", len(inventory))
        return inventory

    def on_progress(self, outcome: Outcome) -> None:
        """The engine's hook, every poll tick: a stalled rollout shows in ``/readyz`` and the report."""
        self.board.update(stalled=outcome.stalled)

    def on_transition(self, status: Status, count: int) -> None:
        """The engine's hook: count transitions, time the first job of a commit, refresh reports."""
        self.metrics.transitions.labels(status=status.value).inc(count)
        if status is Status.REQUESTED and not self.first_job_seen:
            self.first_job_seen = True
            self.metrics.commit_to_first_job.observe(time.perf_counter() - self.noticed_at)
        self.on_change()

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when the daemon stops meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)


SUMMARY_PROFILES = 10
"""Profiles named one by one in the log line of a rollout; the rest are totals."""


def summary(outcome: Outcome) -> str:
    """One log line, also at 500 profiles: totals, then the profiles that need attention first."""
    parts = []
    groups = sorted(
        outcome.groups.items(),
        key=lambda item: (not (item[1].aborted or item[1].counts[Status.DECLINED]), item[0] or ""),
    )
    for name, group in groups[:SUMMARY_PROFILES]:
        counts = ", ".join(f"{s.value} {n}" for s, n in sorted(group.counts.items()) if n)
        note = f" ({group.aborted})" if group.aborted else ""
        parts.append(f"{name or '(no profile)'}: {counts or 'nothing'}{note}")
    if len(groups) > SUMMARY_PROFILES:
        totals = ", ".join(f"{s.value} {n}" for s, n in sorted(outcome.counts().items()) if n)
        parts.append(f"and {len(groups) - SUMMARY_PROFILES} more profiles; all together: {totals}")
    return "; ".join(parts)


def release_memory() -> None:
    """Give the C heap's free pages back to the system (glibc ``malloc_trim``; elsewhere nothing).

    A rollout of 100,000 gateways frees tens of MB of plans, states and jobs; glibc keeps
    free pages inside its heap mapped, so the daemon's RSS would stay at the rollout's
    peak until the next one.  Takes milliseconds; call it off the loop (it holds no lock).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
