"""The reconcile loop: every new commit is loaded, validated, planned and rolled out.

Run by :mod:`reconciler.daemon.running`; what it knows is one
:class:`~reconciler.daemon.status.DaemonStatus` on its
:class:`~reconciler.daemon.status.StatusBoard`, which the reports, the
endpoints, the metrics and the demo read.  One loop task wakes on every ref
change (the :class:`~reconciler.daemon.watching.Watcher`), on
``POST /hooks/git``, when a task ends, and on its timers:

1. read the branch head (git failures are retried with backoff);
2. a new head is loaded from its commit (:class:`~reconciler.loading.repos.RepoLoader`
   re-parses only changed blobs); an invalid commit is never applied: the last
   good one stays, and the report and ``reconciler_last_commit_valid`` say why;
3. when no task runs and a rollout is due (:meth:`~reconciler.daemon.rollout.Rollouts.due`:
   the newest good commit differs from the applied one, deferred gateways are
   due again, or nothing was resumed yet), the rollout task plans and carries
   out the newest good commit (:mod:`reconciler.daemon.rollout`).  Commits that
   arrive meanwhile are validated at once; a valid one supersedes the rollout
   under way (:meth:`~reconciler.daemon.rollout.Rollouts.supersede`): it starts no
   more jobs and ends, and the newest commit's rollout starts at once (its jobs
   not yet submitted are planned against the newest commit, those at the
   head-end finish and are compared with it);
4. otherwise, every ``readback_interval_s``, the read-back task
   (:mod:`reconciler.daemon.readback`).

One task at a time; a failing task (head-end down, git unreadable, the store
unwritable, a bug) is retried with exponential backoff.  Statuses are durable,
so the next attempt resumes them and plans again against the store.  Failures
are counted by cause (:func:`cause_of`); after :data:`FAILING_AFTER` in a row
the status record's ``failing`` makes ``/readyz`` answer 503 with the cause
(git and head-end failures do at once, as ``git_error``/``headend_error``),
until an attempt succeeds.  A repository git refuses for its owner
(:class:`~reconciler.errors.UnsafeRepositoryError`) is logged once at ERROR
with the fix, then at DEBUG while it lasts (``git_unsafe`` in the status).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

from reconciler import errors
from reconciler.daemon.commits import KEPT, CommitLog, diagnostic_text, read_records, secret_keys
from reconciler.daemon.context import Context
from reconciler.daemon.events import EventFeed
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.readback import ReadBack
from reconciler.daemon.retry import Retries
from reconciler.daemon.rollout import APPLIED_KEY, Rollouts
from reconciler.daemon.settings import DaemonSettings
from reconciler.daemon.status import DaemonStatus, Loaded, StatusBoard
from reconciler.daemon.watching import GitError, Watcher
from reconciler.drivers.base import Driver
from reconciler.engine.rollouts import Outcome
from reconciler.engine.settings import EngineSettings
from reconciler.loading.gitsource import GitSource, GitSourceError
from reconciler.loading.repos import RepoLoader
from reconciler.store.base import StateStore

log = logging.getLogger("reconciler.daemon")

FAILING_AFTER = 3
"""Failed attempts in a row (of the loop or of its tasks) after which the daemon is not ready."""


def cause_of(exc: BaseException) -> str:
    """The ``cause`` label of a failure: ``headend``, ``git``, ``store`` or ``internal`` (a bug)."""
    if isinstance(exc, errors.HeadendError):
        return "headend"
    if isinstance(exc, GitError | GitSourceError):
        return "git"
    if isinstance(exc, errors.StoreError | sqlite3.Error | OSError):
        return "store"  # the state store (or the disk under it) cannot be read or written
    return "internal"


class Reconciler:
    """The loop: looks at the branch head, loads commits, starts one task at a time."""

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
        self.metrics = metrics
        self.board = StatusBoard(on_change=on_change, on_record=metrics.record)
        self.context = Context(
            settings=settings,
            driver=driver,
            store=store,
            resolve_secret=resolve_secret,
            metrics=metrics,
            board=self.board,
            engine_settings=engine_settings or EngineSettings(),
            wake=self.wake,
            on_change=on_change,
        )
        self.rollouts = Rollouts(self.context)
        self.readback = ReadBack(self.context, self.rollouts)
        self.events = EventFeed(driver, self.readback, self.context.stopping)
        self.retries = Retries(self.context)
        self.loader = RepoLoader()
        self.commits = CommitLog(store)
        """Every commit evaluated, for the commits screen (:mod:`reconciler.daemon.commits`)."""
        self.wakeup = asyncio.Event()
        self.woken = False
        self.task: asyncio.Task[None] | None = None
        self.failures: Counter[str] = Counter()
        """Failures in a row, per place ("loop": reading git; "task": rollouts): the backoff doubles."""

    # --- what others use ---------------------------------------------------------------------------

    @property
    def status(self) -> DaemonStatus:
        return self.board.current

    def wake(self) -> None:
        self.wakeup.set()

    def hooked(self) -> None:
        """A push webhook: look now; a follower passes it on to the leader
        (:mod:`reconciler.daemon.replicas`)."""
        self.woken = True
        self.wake()

    def on_response(self, endpoint: str, code: str, seconds: float) -> None:
        """The HTTP driver's hook: metrics, and whether the head-end is failing right now."""
        self.metrics.on_response(endpoint, code, seconds)
        failed = code == "error" or code.startswith("5")
        self.board.update(
            headend_up=not failed, failed_request=f"{endpoint} {code}" if failed else ""
        )

    def retryable(self, profile: str) -> int:
        return self.retries.retryable(profile)

    async def retry(self, profile: str) -> Outcome | None:
        return await self.retries.retry(profile)

    # --- the loop ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Until stopped: wake, look at the head, start rollouts and read-backs."""
        feed = asyncio.create_task(self.events.run(), name="events")
        try:
            await self._loop()
        finally:
            feed.cancel()
            await asyncio.gather(feed, return_exceptions=True)

    async def _loop(self) -> None:
        while not self.context.stopping.is_set():
            delay = self._until_due()
            try:
                await self.step()
                if self.status.git_error:
                    log.info("git: reading the repository works again")
                    self.board.update(git_error="", git_unsafe=False)
                self._succeeded("loop")
            except GitError as exc:
                delay = self._git_failed("loop", exc)
            except Exception as exc:
                # A bug must not stop the daemon: say so loudly and try again later.
                delay = self._failed("loop", exc)
                if cause_of(exc) == "internal":
                    log.exception("reconcile step failed; retrying in %.1f s", delay)
                else:  # the store (or the disk) away for a moment: said, no traceback
                    log.warning("%s: %s; retrying in %.1f s", cause_of(exc), exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), delay)
            self.wakeup.clear()

    async def step(self) -> None:
        if self.context.leading:
            self.commits.observe(self.status)  # a commit held or applied since the last step
        else:  # the leader records commits and the applied one (a shared store)
            self._follow_leader()
        sha = await asyncio.to_thread(self.watcher.refresh)
        head = self.status.head
        if head is None or sha != head.info.sha:
            await self._load(sha)
        status = self.status
        if not self.context.leading:
            return
        if self.task is not None and status.good is not None:
            self.rollouts.supersede(status.good)  # a newer valid commit goes first
        if self.task is not None or status.good is None or self.context.stopping.is_set():
            return
        if self.rollouts.due(status.good, status.applied, status.held):
            self._start(self.rollouts.run(status.good))
        elif self.readback.due():
            self._start(self.readback.run())

    async def _load(self, sha: str) -> None:
        started = time.perf_counter()
        self.context.noticed_at = started

        def load() -> Loaded:
            try:
                source = GitSource(self.watcher.open(), sha)
            except GitSourceError as exc:
                raise GitError(str(exc)) from exc
            return Loaded(self.watcher.info(sha), self.loader.load(source))

        loaded = await asyncio.to_thread(load)
        if self.context.leading:
            self.commits.evaluated(loaded, time.perf_counter() - started)
        valid = loaded.repo.valid
        self.metrics.commits.labels(valid=str(valid).lower()).inc()
        if valid:
            self.board.update(head=loaded, good=loaded)
            log.info(
                "commit %s is valid (%d profiles, %d gateways; loaded in %.0f ms)",
                sha[:12],
                len(loaded.repo.profiles),
                len(loaded.repo.gateways),
                (time.perf_counter() - started) * 1000,
                extra={
                    "commit": sha,
                    "valid": True,
                    "profiles": len(loaded.repo.profiles),
                    "gateways": len(loaded.repo.gateways),
                },
            )
        else:
            self.board.update(head=loaded)
            good = self.status.good
            log.error(
                "commit %s is invalid (%d error%s); keeping %s, nothing rolled out",
                sha[:12],
                len(loaded.repo.diagnostics),
                "s" * (len(loaded.repo.diagnostics) != 1),
                good.info.sha[:12] if good else "nothing",
                extra={
                    "commit": sha,
                    "valid": False,
                    "errors": len(loaded.repo.diagnostics),
                    "kept": good.info.sha if good else None,
                },
            )
            secrets = secret_keys(loaded.repo.catalog)  # a literal secret's value is not logged
            for diagnostic in loaded.repo.diagnostics[:20]:
                log.error("  %s", diagnostic_text(diagnostic, secrets))

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        context = self.context

        async def guarded() -> None:
            try:
                await work
                if self.status.headend_error:
                    log.info("head-end: answering again")
                    self.board.update(headend_error="")
                self._succeeded("task")
            except errors.HeadendError as exc:
                self.board.update(headend_error=str(exc))
                delay = self._failed("task", exc)
                log.warning("head-end: %s; statuses are durable, retrying in %.1f s", exc, delay)
                await context.pause(delay)
            except GitError as exc:
                await context.pause(self._git_failed("task", exc))
            except Exception as exc:
                delay = self._failed("task", exc)
                if cause_of(exc) == "internal":
                    log.exception("rollout failed; statuses are durable, retrying in %.1f s", delay)
                else:
                    log.warning(
                        "%s: %s; statuses are durable, retrying in %.1f s",
                        cause_of(exc),
                        exc,
                        delay,
                    )
                await context.pause(delay)
            finally:
                self.task = None
                self.board.update(busy=False)
                context.on_change()
                self.wake()

        self.board.update(busy=True)
        self.task = asyncio.create_task(guarded(), name="reconcile")

    # --- replicas (a shared store: :mod:`reconciler.daemon.replicas`) -----------------------------

    def lead(self) -> None:
        """This replica took the leader lease: resume what the last leader left, then lead."""
        self.rollouts.resumed = False
        self.board.update(applied=None)  # planned again in full against the store
        self.wake()

    async def follow(self) -> None:
        """This replica lost the leader lease: its task ends (it could write nothing more)."""
        task = self.task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _follow_leader(self) -> None:
        """The leader's commit records and applied commit, as the store holds them."""
        self.commits.records = tuple(read_records(self.context.store)[:KEPT])
        applied = self.context.store.get_meta(APPLIED_KEY)
        good = self.status.good
        if good is not None and applied == good.info.sha and self.status.applied is not good:
            self.board.update(applied=good)

    # --- stopping ----------------------------------------------------------------------------------

    async def stop(self, timeout_s: float) -> None:
        """Start nothing new; give active jobs ``timeout_s`` to end, then cancel (states are durable)."""
        self.context.stopping.set()
        if self.context.engine is not None:
            self.context.engine.stopping.set()
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
        self.commits.observe(self.status)

    # --- helpers -----------------------------------------------------------------------------------

    def _failed(self, where: str, exc: BaseException) -> float:
        """Count a failure of ``where`` by cause; after :data:`FAILING_AFTER` in a row, not ready."""
        cause = cause_of(exc)
        self.metrics.failures.labels(cause=cause).inc()
        delay = self._backoff(where)
        count = self.failures[where]
        # git and head-end failures are reasons of their own (git_error, headend_error) at once.
        if count >= FAILING_AFTER and cause not in ("git", "headend"):
            message = " ".join(str(exc).split())[:300] or type(exc).__name__
            self.board.update(
                failing=f"{cause}: {count} attempts in a row failed, the last with: {message}"
            )
        return delay

    def _git_failed(self, where: str, exc: GitError) -> float:
        """Count and show a git failure; a refused owner is logged at ERROR once, then at DEBUG."""
        self.metrics.git_errors.inc()
        delay = self._failed(where, exc)
        unsafe = isinstance(exc, errors.UnsafeRepositoryError)
        if isinstance(exc, errors.UnsafeRepositoryError):  # "git refuses ...": the fix, once
            level = logging.DEBUG if self.status.git_unsafe else logging.ERROR
            log.log(level, "%s (next attempt in %.1f s)", exc, delay, extra={"path": exc.path})
        else:
            log.warning("git: %s; retrying in %.1f s", exc, delay)
        self.board.update(git_error=str(exc), git_unsafe=unsafe)
        return delay

    def _succeeded(self, where: str) -> None:
        self.failures[where] = 0
        if self.status.failing and not any(self.failures.values()):
            log.info("attempts succeed again")
            self.board.update(failing="")

    def _backoff(self, where: str) -> float:
        self.failures[where] += 1
        return float(
            min(
                self.settings.retry_backoff_max_s,
                self.settings.retry_backoff_s * 2 ** (self.failures[where] - 1),
            )
        )

    def _until_due(self) -> float:
        due = self.readback.next_at
        pending = self.rollouts.next_due()
        if pending is not None:
            due = min(due, pending)
        return max(0.05, due - time.monotonic())
