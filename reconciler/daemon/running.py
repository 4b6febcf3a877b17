"""Wiring of the daemon: store, driver, watcher, loop, reports, HTTP; and stopping on signals.

``reconciler run`` calls :func:`serve`; ``reconciler demo`` and the tests use
:class:`Daemon` directly (``async with Daemon(settings) as daemon``).  The
:class:`Daemon` is the endpoints' backend.  Its HTTP server runs on a thread
and event loop of its own (:mod:`reconciler.daemon.serving`), so the probes
answer while the loop is busy; the backend's methods are safe to call from
that thread (what must run on the loop is handed to it).

Reports: after every change of state (at most about once a second, and at most a
fifth of the time) a worker thread with its own read-only store connection updates
the member pages whose gateways changed (:class:`~reconciler.daemon.reportbook.ReportBook`),
then writes the summary files (:mod:`reconciler.daemon.reports`).  The counts go on
the status record, from which the gauges are set, so the report and
``reconciler_gateways`` always agree, also when writing fails; a failed write stays
dirty and is retried with backoff.  The summary's texts are served from memory.

With a shared store (PostgreSQL) :mod:`reconciler.daemon.replicas` adds the
leader lease, this replica's worker and the replica figures.  Stopping (SIGTERM,
SIGINT, leaving the ``async with``): no new job is started, active jobs get
``stop_timeout_s`` to end and are otherwise left Requested or Sent (durable: the
next start, or another replica, resumes them), a final report is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from reconciler.daemon import endpoints, membersapi, reports
from reconciler.daemon.memberindex import LiveMembers
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.reconciling import Reconciler
from reconciler.daemon.replicas import replica_set
from reconciler.daemon.reportbook import ReportBook, Tally
from reconciler.daemon.serving import HttpThread
from reconciler.daemon.settings import DaemonSettings, host_and_port
from reconciler.daemon.status import DaemonStatus
from reconciler.daemon.watching import Watcher
from reconciler.drivers.http import HttpDriver
from reconciler.drivers.settings import HeadendSettings
from reconciler.engine.digests import key_digest
from reconciler.engine.settings import EngineSettings
from reconciler.errors import StoreError
from reconciler.loading.secrets import SecretResolver
from reconciler.members.index import MemberIndex
from reconciler.members.rows import Member, member_json
from reconciler.plan.values import SecretDigest
from reconciler.store import open_store
from reconciler.store.base import Rollout, StateStore

log = logging.getLogger("reconciler.daemon")

T = TypeVar("T")


class Daemon:
    """One running daemon; ``url`` is where its HTTP endpoints listen."""

    def __init__(
        self,
        settings: DaemonSettings,
        *,
        headend: HeadendSettings | None = None,
        engine: EngineSettings | None = None,
        resolve_secret: SecretResolver | None = None,
    ) -> None:
        self.settings = settings
        self.admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None
        self.metrics = Metrics()
        self.store = open_store(settings.state)
        self.headend = headend or HeadendSettings.from_env(base_url=settings.headend_url)
        self.watcher = Watcher(settings, wake=lambda: self.wake(hook=False))
        self.driver = HttpDriver(self.headend, on_response=self._on_response)
        self.resolve_secret = resolve_secret or SecretResolver()
        self.reconciler = Reconciler(
            settings=settings,
            watcher=self.watcher,
            driver=self.driver,
            store=self.store,
            resolve_secret=self.resolve_secret,
            metrics=self.metrics,
            engine_settings=engine,
            on_change=self._changed,
        )
        self.url = ""
        self._dirty = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: HttpThread | None = None
        self.book = ReportBook(settings.report_dir)
        self._summary: dict[str, Any] | None = None
        self._texts: dict[str, str] | None = None
        self._changes: tuple[str, dict[str, dict[str, str]]] | None = None
        self._last_write = 0.0
        self._last_duration = 0.0
        self._reader: StateStore | None = None
        self.live_members = LiveMembers(settings.state)
        """Every member's row, kept close to the store (the members API and console read it)."""
        self._generation = 0
        self._secret_key: bytes | None = None
        self.replicas = replica_set(settings, self.reconciler, self._changed)  # PostgreSQL

    # --- endpoints' backend (called from the HTTP thread) -------------------------------------

    @property
    def status(self) -> DaemonStatus:
        """The loop's status record, as of now."""
        return self.reconciler.status

    def wake(self, *, hook: bool = True) -> None:
        """Look at the branch now: ``POST /hooks/git`` (a follower passes it on to the leader),
        or a ref changed (``hook=False``); from any thread."""
        look = self.reconciler.hooked if hook else self.reconciler.wake
        self._loop.call_soon_threadsafe(look) if self._loop else look()

    async def retryable(self, profile: str) -> int:
        """Members of ``profile`` that Retry Upload would push to (read on the daemon's loop)."""
        return await self._on_loop(lambda: self.reconciler.retryable(profile))

    def start_retry(self, profile: str) -> None:
        """Start Retry Upload of ``profile`` on the daemon's loop; from any thread."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._start_retry, profile)

    def report(self) -> Mapping[str, Any]:
        """The report summary last written (or, before the first write, one without counts)."""
        if self._summary is not None:
            return self._summary
        return reports.build(self._snapshot(self.status, None, []))

    def report_text(self, name: str) -> str:
        """The text of the summary file ``name`` (report.json, REPORT.md or report.html)."""
        texts = self._texts
        return texts[name] if texts is not None else reports.render(self.report())[name]

    def member_rows(self, status: DaemonStatus | None = None) -> list[Member]:
        """Every member's row as the store holds them now (blocking: waits for the member index
        of ``status``'s commit, and reads what the store wrote since its last look)."""
        index = self.live_members.snapshot(status or self.status, fresh=True)
        return index.select(None) if index is not None else []

    def members_answer(self, params: Mapping[str, str | list[str]]) -> tuple[int, dict[str, Any]]:
        """``GET /api/v1/members`` from the live member index (blocking: run it in a worker thread)."""
        status = self.status
        good = status.good
        try:
            index = self.live_members.snapshot(status)
        except StoreError as exc:
            return 503, {"error": f"the state store cannot be read now: {exc}"}
        profiles = list(good.repo.profiles) if good is not None else []
        types = good.repo.catalog.type_names if good is not None else None
        return membersapi.members_answer(index, profiles, params, types=types)

    def gateways(self) -> list[dict[str, Any]]:
        """Every member as JSON (``reconciler status --format json``'s rows), as of now."""
        return [member_json(m) for m in self.member_rows()]

    @property
    def generation(self) -> int:
        """Grows with every change a console screen may show (the console polls it)."""
        return self._generation

    def member_index(self) -> MemberIndex | None:
        """The live member index as of now (``None`` before a valid commit); from any thread."""
        return self.live_members.snapshot(self.status)

    def reading(self) -> contextlib.AbstractContextManager[StateStore]:
        """A read-only store connection of its own, closed on leaving (one request)."""
        return contextlib.closing(open_store(self.settings.state, read_only=True))

    def secret_digest(self) -> SecretDigest:
        """Keyed hashes of secret values under the store's key, as the planner compares them."""
        if self._secret_key is None:  # created by the first plan that hashes a secret
            with self.reading() as store:
                self._secret_key = store.stored_secret_key()
        return key_digest(self._secret_key, self.resolve_secret)

    def git_dir(self) -> Path:
        """The git directory of the watched repository (the commits screen runs ``git log`` in it)."""
        return Path(self.watcher.open().git_dir)

    async def _on_loop(self, call: Callable[[], T]) -> T:
        """Run ``call`` on the daemon's loop and wait for its result (from the HTTP thread)."""

        async def run() -> T:
            return call()

        assert self._loop is not None
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), self._loop))

    def _start_retry(self, profile: str) -> None:
        self._tasks.append(asyncio.create_task(self._retry(profile), name=f"retry {profile}"))

    async def _retry(self, profile: str) -> None:
        try:
            await self.reconciler.retry(profile)
        except Exception:
            log.exception("retry of %s failed", profile)

    # --- lifecycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> Daemon:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        host, port = host_and_port(self.settings.listen)
        self._http = HttpThread(endpoints.app(self), host, port)
        bound_host, bound_port = await asyncio.to_thread(self._http.start)
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{shown}:{bound_port}"
        log.info(
            "reconciler daemon: repo %s branch %s, head-end %s, HTTP %s",
            self.watcher.path if not self.watcher.remote else "(remote)",
            self.settings.branch,
            self.headend.base_url,
            self.url,
        )
        if self.settings.exposed and self.settings.webhook_secret is None:
            log.warning(
                "listening on %s beyond loopback without a webhook secret: anyone who reaches "
                "the port can make the daemon fetch at once (POST /hooks/git); set "
                "RECONCILER_WEBHOOK_SECRET",
                self.settings.listen,
            )
        if "*" in self.settings.hosts:
            log.warning("allowed hosts: '*': the Host check against DNS rebinding is off")
        self._tasks += [
            asyncio.create_task(self.reconciler.run(), name="loop"),
            asyncio.create_task(self.watcher.watch(self._stop), name="watch"),
            asyncio.create_task(self._reports(), name="reports"),
        ]
        if self.replicas is not None:
            self._tasks.append(asyncio.create_task(self.replicas.run(self._stop), name="replicas"))
        self._changed()

    async def close(self) -> None:
        """Stop as the module docstring says; idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        started = time.monotonic()
        await self.reconciler.stop(self.settings.stop_timeout_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._write_report()
        if self._http is not None:
            await asyncio.to_thread(self._http.stop)
        await self.driver.aclose()
        if self._reader is not None:
            self._reader.close()
        self.live_members.close()
        self.store.close()
        log.info("stopped in %.1f s; every status is durable", time.monotonic() - started)

    # --- reports -----------------------------------------------------------------------------------

    def _changed(self) -> None:
        self._generation += 1
        self._dirty.set()

    def _on_response(self, endpoint: str, code: str, seconds: float) -> None:
        self.reconciler.on_response(endpoint, code, seconds)

    async def _reports(self) -> None:
        failures = 0
        while True:
            await self._dirty.wait()
            # At most one write per report_interval_s, and at most a fifth of the time
            # (10,000 gateways take ~0.3 s to render): the reports must not slow rollouts.
            pause = max(self.settings.report_interval_s, 4 * self._last_duration)
            wait = self._last_write + pause - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._dirty.clear()
            try:
                await self._write_report()
            except Exception as exc:
                # Still dirty: retried with backoff until a write succeeds, change or not.
                failures += 1
                self.metrics.report_failures.inc()
                self._dirty.set()
                delay = min(
                    self.settings.retry_backoff_max_s,
                    self.settings.retry_backoff_s * 2 ** (failures - 1),
                )
                if failures == 1:
                    log.error(
                        "writing the report to %s failed: %s; retrying in %.1f s",
                        self.settings.report_dir,
                        exc,
                        delay,
                        exc_info=not isinstance(exc, OSError | StoreError),
                    )
                else:
                    log.warning(
                        "writing the report failed again (%s); retrying in %.1f s", exc, delay
                    )
                await asyncio.sleep(delay)
                continue
            if failures:
                log.info("report written again after %d failed attempts", failures)
                failures = 0

    async def refresh(self) -> DaemonStatus:
        """Write the report now (not waiting for the throttle); the status with its new counts."""
        await self._write_report()
        return self.status

    async def _write_report(self) -> None:
        started = self._last_write = time.monotonic()
        good = self.status.good
        if good is not None and (self._changes is None or self._changes[0] != good.info.sha):
            try:
                found = await asyncio.to_thread(
                    reports.profile_changes,
                    Path(self.watcher.open().git_dir),
                    good.info.sha,
                    list(good.repo.profiles),
                )
                self._changes = (good.info.sha, found)
            except Exception as exc:
                log.warning("git log of profiles.d failed: %s", exc)
        tally, summary, texts, error = await asyncio.to_thread(self._render, self.status)
        # The counts the report shows are the status's counts (and so the metrics'), also
        # when the files could not be written.
        self.reconciler.board.update(totals=tally.totals, counts=tally.counts)
        self._summary, self._texts = summary, texts
        self._generation += 1
        self._last_duration = time.monotonic() - started
        self.metrics.report_duration.observe(self._last_duration)
        self.metrics.report_pages.inc(tally.rewritten)
        if error is not None:
            raise error

    def _render(
        self, status: DaemonStatus
    ) -> tuple[Tally, dict[str, Any], dict[str, str], OSError | None]:
        """In a worker thread: update the member pages, build the summary, write it.

        Returns the pages' tally, the summary and its texts, and the first error
        writing a file raised (the counts are right even then).
        """
        if self._reader is None:
            self._reader = open_store(self.settings.state, read_only=True)
        rollouts = self._reader.rollouts()
        aborted = frozenset(r.rollout_id for r in rollouts if r.state == "aborted")
        repo = status.good.repo if status.good else None
        tally = self.book.update(repo, status.inventory, self._reader, aborted, time.time())
        summary = reports.build(self._snapshot(status, tally, rollouts))
        texts = reports.render(summary)
        error = tally.error
        try:
            reports.write_texts(self.settings.report_dir, texts)
        except OSError as exc:
            error = error or exc
        return tally, summary, texts, error

    def _snapshot(
        self, status: DaemonStatus, tally: Tally | None, rollouts: list[Rollout]
    ) -> reports.Snapshot:
        return reports.Snapshot(
            branch=self.settings.branch,
            status=status,
            tally=tally,
            rollouts=rollouts,
            profile_changes=self._changes[1] if self._changes else {},
            generated_at=time.time(),
        )


async def serve(settings: DaemonSettings, headend: HeadendSettings | None = None) -> int:
    """Run until SIGTERM or SIGINT; returns the exit code (0)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Daemon(settings, headend=headend) as daemon:
        print(f"reconciler: serving on {daemon.url}", flush=True)
        await stop.wait()
        log.info("signal received: stopping (no new jobs; active ones stay durable)")
    return 0
