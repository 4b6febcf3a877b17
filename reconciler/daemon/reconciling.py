"""The reconcile loop: every new commit is loaded, validated, planned and rolled out.

Run by :mod:`reconciler.daemon.running`; its state is read by the reports and
the HTTP endpoints.  One loop task wakes on every ref change (the
:class:`~reconciler.daemon.watching.Watcher`), on ``POST /hooks/git``, when a
rollout ends, and on its read-back timer:

1. read the branch head (git failures are retried with backoff);
2. a new head is loaded from its commit (:class:`~reconciler.loading.repos.RepoLoader`
   re-parses only changed blobs); an invalid commit is never applied: the last
   good one stays, and the report and ``reconciler_last_commit_valid`` say why;
3. when no rollout runs and the newest good commit differs from the applied
   one, a rollout task plans the gateways that commit affects
   (:func:`~reconciler.plan.planning.affected_gateways`, plus those deferred
   last time) and carries the plan out through the engine.  Commits that
   arrive meanwhile are validated at once and the newest is planned when the
   rollout ends (a burst of commits reconciles only the newest);
4. every ``readback_interval_s`` the live configurations are read back
   (Mismatch) and, for ``on_mismatch: reapply`` profiles, repaired.

Engine work (rollouts, read-back, Retry Upload) is serialised by one lock.  A
head-end failure ends the attempt; statuses are durable, so the next attempt
resumes them (:meth:`~reconciler.engine.rollouts.Engine.resume`) and plans
again against the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from reconciler import errors
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.settings import DaemonSettings
from reconciler.daemon.watching import CommitInfo, GitError, Watcher
from reconciler.drivers.base import Driver
from reconciler.engine import digests
from reconciler.engine.rollouts import Engine, NothingToRetry, Outcome
from reconciler.engine.settings import EngineSettings
from reconciler.loading.gitsource import GitSource, GitSourceError
from reconciler.loading.repos import RepoLoader
from reconciler.model.files import RolloutPolicy
from reconciler.model.inventory import InventoryGateway
from reconciler.model.repos import Repo
from reconciler.model.state import Status
from reconciler.plan.planning import Action, Plan, Planner, affected_gateways
from reconciler.store.base import StateStore

log = logging.getLogger("reconciler.daemon")

PENDING_DELAY_S = 5.0
"""Seconds before deferred gateways are planned again (their active job must end first)."""


@dataclass(frozen=True, slots=True)
class Loaded:
    """One loaded commit."""

    info: CommitInfo
    repo: Repo


class Reconciler:
    """The loop and its state: newest commit, last good commit, applied commit, health."""

    def __init__(
        self,
        *,
        settings: DaemonSettings,
        watcher: Watcher,
        driver: Driver,
        store: StateStore,
        resolve_secret: Callable[[str], str | None],
        metrics: Metrics,
        engine_settings: EngineSettings | None = None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.watcher = watcher
        self.driver = driver
        self.store = store
        self.resolve_secret = resolve_secret
        self.metrics = metrics
        self.engine_settings = engine_settings or EngineSettings()
        self.on_change = on_change
        self.loader = RepoLoader()
        self.wakeup = asyncio.Event()
        self.stopping = asyncio.Event()
        self.lock = asyncio.Lock()
        self.head: Loaded | None = None
        """The newest commit on the branch (valid or not)."""
        self.good: Loaded | None = None
        """The newest valid commit."""
        self.applied: Loaded | None = None
        """The commit whose plan was last carried out to the end."""
        self.inventory: dict[str, InventoryGateway] | None = None
        self.engine: Engine | None = None
        self.planner: Planner | None = None
        self.task: asyncio.Task[None] | None = None
        self.rollout_running = False
        self.resumed = False
        self.pending: set[str] = set()
        """Gateways to plan again with the next rollout (deferred: they were in an active rollout)."""
        self.pending_at = 0.0
        """Not before this (monotonic): gateways stuck in an active job must not make a busy loop."""
        self.git_error = ""
        self.headend_error = ""
        self.last_response_failed = ""
        """The code of the last head-end answer when it was a failure (5xx, no answer), else empty."""
        self.failures: Counter[str] = Counter()
        """Failures in a row, per place ("loop": reading git; "task": rollouts): the backoff doubles."""
        self.next_readback = time.monotonic() + settings.readback_interval_s
        self._noticed_at = 0.0
        self._first_job_seen = True

    # --- what others read ------------------------------------------------------------------------

    @property
    def ready(self) -> tuple[bool, list[str]]:
        """``/readyz``: ready once a commit is loaded and while git and the head-end answer."""
        reasons = []
        if self.head is None:
            reasons.append("no commit loaded yet")
        if self.git_error:
            reasons.append(f"git: {self.git_error}")
        if self.headend_error:
            reasons.append(f"head-end: {self.headend_error}")
        elif self.last_response_failed:
            reasons.append(f"head-end: last request failed ({self.last_response_failed})")
        return not reasons, reasons

    def policies(self) -> dict[str, RolloutPolicy]:
        repo = self.good.repo if self.good else None
        return {name: p.rollout for name, p in repo.profiles.items()} if repo else {}

    def on_response(self, endpoint: str, code: str, seconds: float) -> None:
        """The HTTP driver's hook: metrics, and whether the head-end is failing right now."""
        self.metrics.on_response(endpoint, code, seconds)
        failed = code == "error" or code.startswith("5")
        if failed != bool(self.last_response_failed):
            self.on_change()
        self.last_response_failed = f"{endpoint} {code}" if failed else ""

    def wake(self) -> None:
        self.wakeup.set()

    # --- the loop --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Until :attr:`stopping`: wake, look at the head, start rollouts and read-backs."""
        while not self.stopping.is_set():
            delay = self._until_readback()
            try:
                await self.step()
                if self.git_error:
                    log.info("git: reading the repository works again")
                    self.git_error = ""
                    self.on_change()
                self.failures["loop"] = 0
            except GitError as exc:
                self.metrics.git_errors.inc()
                self.metrics.failures.labels(cause="git").inc()
                delay = self._backoff("loop")
                if self.git_error != str(exc):
                    self.on_change()
                self.git_error = str(exc)
                log.warning("git: %s; retrying in %.1f s", exc, delay)
            except Exception:
                # A bug must not stop the daemon: say so loudly and try again later.
                self.metrics.failures.labels(cause="internal").inc()
                delay = self._backoff("loop")
                log.exception("reconcile step failed; retrying in %.1f s", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), delay)
            self.wakeup.clear()

    async def step(self) -> None:
        sha = await asyncio.to_thread(self.watcher.refresh)
        if self.head is None or sha != self.head.info.sha:
            await self._load(sha)
        if self.task is not None or self.good is None or self.stopping.is_set():
            return
        applied_sha = self.applied.info.sha if self.applied else None
        pending = bool(self.pending) and time.monotonic() >= self.pending_at
        if self.good.info.sha != applied_sha or pending or not self.resumed:
            self._start(self._reconcile(self.good))
        elif time.monotonic() >= self.next_readback:
            self._start(self._read_back())

    async def _load(self, sha: str) -> None:
        started = time.perf_counter()
        self._noticed_at = started

        def load() -> Loaded:
            try:
                source = GitSource(self.watcher.open(), sha)
            except GitSourceError as exc:
                raise GitError(str(exc)) from exc
            return Loaded(self.watcher.info(sha), self.loader.load(source))

        loaded = await asyncio.to_thread(load)
        self.head = loaded
        valid = loaded.repo.valid
        self.metrics.last_commit_valid.set(1 if valid else 0)
        self.metrics.commits.labels(valid=str(valid).lower()).inc()
        if valid:
            self.good = loaded
            log.info(
                "commit %s is valid (%d profiles, %d gateways; loaded in %.0f ms)",
                sha[:12],
                len(loaded.repo.profiles),
                len(loaded.repo.gateways),
                (time.perf_counter() - started) * 1000,
            )
        else:
            log.error(
                "commit %s is invalid (%d errors); keeping %s, nothing rolled out",
                sha[:12],
                len(loaded.repo.diagnostics),
                self.good.info.sha[:12] if self.good else "nothing",
            )
            for diagnostic in loaded.repo.diagnostics[:20]:
                log.error("  %s", diagnostic)
        self.on_change()

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        async def guarded() -> None:
            try:
                await work
                if self.headend_error:
                    log.info("head-end: answering again")
                    self.headend_error = ""
                self.failures["task"] = 0
            except errors.HeadendError as exc:
                self.headend_error = str(exc)
                self.metrics.failures.labels(cause="headend").inc()
                delay = self._backoff("task")
                log.warning("head-end: %s; statuses are durable, retrying in %.1f s", exc, delay)
                await self._sleep(delay)
            except GitError as exc:
                self.git_error = str(exc)
                self.metrics.git_errors.inc()
                delay = self._backoff("task")
                log.warning("git: %s; retrying in %.1f s", exc, delay)
                await self._sleep(delay)
            except Exception:
                self.metrics.failures.labels(cause="internal").inc()
                delay = self._backoff("task")
                log.exception("rollout failed; statuses are durable, retrying in %.1f s", delay)
                await self._sleep(delay)
            finally:
                self.task = None
                self.on_change()
                self.wake()

        self.task = asyncio.create_task(guarded(), name="reconcile")

    async def _reconcile(self, target: Loaded) -> None:
        """Resume what earlier runs left, plan ``target`` (incrementally) and carry it out."""
        async with self.lock:
            if self.stopping.is_set():
                return
            repo = target.repo
            engine = self._engine(repo)
            policies = self.policies()
            noticed = self._noticed_at or time.perf_counter()
            self.rollout_running = True
            try:
                if self.inventory is None:
                    await self._refresh_inventory()
                if not self.resumed:
                    outcome = await engine.resume(policies)
                    self.resumed = True
                    if outcome.groups:
                        log.info("resumed: %s", _summary(outcome))
                previous = self.applied.repo if self.applied else None
                ids = None if previous is None else affected_gateways(previous, repo) | self.pending
                if (
                    ids is not None
                    and self.inventory is not None
                    and any(i in repo.gateways and i not in self.inventory for i in ids)
                ):
                    # A gateway new to us may be new to the head-end's inventory too.
                    await self._refresh_inventory()
                assert self.planner is not None
                planning = time.perf_counter()
                plan = await asyncio.to_thread(self._plan, repo, ids)
                deferred = {
                    p.gateway_id for p in plan.gateways.values() if p.action is Action.DEFER
                }
                errors_found = [p for p in plan.gateways.values() if p.action is Action.ERROR]
                for p in errors_found[:20]:
                    log.warning("gateway %s: %s", p.gateway_id, p.message)
                actionable = plan.actionable()
                if actionable:
                    log.info(
                        "commit %s: rolling out to %d gateways (%d planned in %.0f ms%s)",
                        target.info.sha[:12],
                        len(actionable),
                        len(plan.gateways),
                        (time.perf_counter() - planning) * 1000,
                        f", {len(deferred)} deferred" if deferred else "",
                    )
                    self._first_job_seen = False
                    self._noticed_at = noticed
                try:
                    outcome = await engine.apply(plan, commit=target.info.sha, policies=policies)
                except BaseException:
                    # Jobs this attempt left active are only polled by a resume: do one first
                    # next time.  The affected set is recomputed from the same applied commit.
                    self.resumed = False
                    raise
                if self.stopping.is_set():
                    return
                # Deferred gateways (in an active rollout) are planned again a little later.
                self.pending = deferred
                self.pending_at = time.monotonic() + PENDING_DELAY_S
                self.applied = target
                self.metrics.applied_commit_timestamp.set(target.info.timestamp)
                self.metrics.reconcile_duration.observe(time.perf_counter() - noticed)
                if outcome.groups:
                    log.info("commit %s rolled out: %s", target.info.sha[:12], _summary(outcome))
                    # A window query over every transition: seconds at 100,000 gateways, so
                    # off the loop (the lock keeps the engine from writing meanwhile).
                    pruned = await asyncio.to_thread(self.store.prune_transitions)
                    if pruned:
                        log.info("pruned %d old status transitions (50 kept per gateway)", pruned)
                else:
                    log.info("commit %s: nothing to roll out", target.info.sha[:12])
            finally:
                self.rollout_running = False
                self._first_job_seen = True

    def _plan(self, repo: Repo, ids: set[str] | None) -> Plan:
        """Plan in a worker thread (100,000 gateways take seconds): the loop keeps serving /metrics.

        The lock held by the caller keeps the engine from writing meanwhile.
        """
        assert self.planner is not None
        if ids is not None and len(ids) <= FEW_STATES:
            # Incremental: read only the affected gateways' states (10,000 rows cost ~0.3 s).
            applied = {i: s for i in ids if (s := self.store.get(i)) is not None}
        else:
            # Many: one scan beats a query per gateway (100,000 queries took 4.4 s).
            everything = self.store.applied()
            applied = (
                everything if ids is None else {i: everything[i] for i in ids if i in everything}
            )
        return self.planner.plan(
            repo,
            self.inventory,
            applied,
            previous=None if ids is None else Plan({}),
            affected=ids,
        )

    async def _read_back(self) -> None:
        async with self.lock:
            self.next_readback = time.monotonic() + self.settings.readback_interval_s
            if self.engine is None or self.stopping.is_set():
                return
            await self._inventory_changes()
            mismatched = await self.engine.read_back()
            if mismatched:
                log.warning("read-back: %d gateways in Mismatch", len(mismatched))
                repaired = await self.engine.repair(self.policies())
                if repaired.groups:
                    log.info("reapplied to Mismatch members: %s", _summary(repaired))

    # --- Retry Upload ------------------------------------------------------------------------------

    def retryable(self, profile: str) -> int:
        """Members of ``profile`` that Retry Upload would push to (Declined, Mismatch, aborted)."""
        aborted = {r.rollout_id for r in self.store.rollouts() if r.state == "aborted"}
        return sum(
            1
            for s in self.store.applied().values()
            if s.profile == profile
            and (
                s.status in (Status.DECLINED, Status.MISMATCH)
                or (s.status is Status.INITIAL and s.rollout_id in aborted)
            )
        )

    async def retry(self, profile: str) -> Outcome | None:
        """Retry Upload for ``profile``, after any running rollout; ``None`` when nothing was left."""
        async with self.lock:
            if self.engine is None or self.good is None:
                return None
            try:
                outcome = await self.engine.retry(
                    profile, policies=self.policies(), commit=self.good.info.sha
                )
            except NothingToRetry:
                return None
            finally:
                self.on_change()
            log.info("retry of %s: %s", profile, _summary(outcome))
            return outcome

    # --- stopping ---------------------------------------------------------------------------------

    async def stop(self, timeout_s: float) -> None:
        """Start nothing new; give active jobs ``timeout_s`` to end, then cancel (states are durable)."""
        self.stopping.set()
        if self.engine is not None:
            self.engine.stopping.set()
        self.wake()
        task = self.task
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=timeout_s)
            if not done:
                log.info(
                    "stopping: leaving active jobs to the next start (their states are durable)"
                )
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    # --- helpers ----------------------------------------------------------------------------------

    def _engine(self, repo: Repo) -> Engine:
        if self.engine is None:
            self.engine = Engine(
                driver=self.driver,
                store=self.store,
                catalog=repo.catalog,
                resolve_secret=self.resolve_secret,
                settings=self.engine_settings,
                on_transition=self._on_transition,
            )
        if self.planner is None or self.engine.catalog is not repo.catalog:
            self.engine.catalog = repo.catalog
            self.planner = Planner(
                repo.catalog, digest=digests.secret_digest(self.store, self.resolve_secret)
            )
        return self.engine

    async def _refresh_inventory(self) -> None:
        gateways = await self.driver.inventory()
        self.inventory = {g.id: g for g in gateways}
        log.info("inventory: %d gateways known to the head-end", len(self.inventory))

    async def _inventory_changes(self) -> None:
        """Read the inventory again; gateways whose firmware or type changed are planned again."""
        before = self.inventory or {}
        await self._refresh_inventory()
        after = self.inventory or {}
        changed = {
            gid
            for gid, g in after.items()
            if (old := before.get(gid)) is None or (old.firmware, old.type) != (g.firmware, g.type)
        } | (before.keys() - after.keys())
        if before and changed:
            log.info("inventory: %d gateways changed firmware, type or presence", len(changed))
            self.pending |= changed
            self.wake()

    def _on_transition(self, status: Status, count: int) -> None:
        self.metrics.transitions.labels(status=status.value).inc(count)
        if status is Status.REQUESTED and not self._first_job_seen:
            self._first_job_seen = True
            self.metrics.commit_to_first_job.observe(time.perf_counter() - self._noticed_at)
        self.on_change()

    def _backoff(self, where: str) -> float:
        self.failures[where] += 1
        return float(
            min(
                self.settings.retry_backoff_max_s,
                self.settings.retry_backoff_s * 2 ** (self.failures[where] - 1),
            )
        )

    def _until_readback(self) -> float:
        due = min(self.next_readback, self.pending_at) if self.pending else self.next_readback
        return max(0.05, due - time.monotonic())

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)


FEW_STATES = 2_000
"""Up to this many affected gateways, their states are read one by one; beyond, in one scan."""

SUMMARY_PROFILES = 10
"""Profiles named one by one in the log line of a rollout; the rest are totals."""


def _summary(outcome: Outcome) -> str:
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
