"""Wiring of the daemon: store, driver, watcher, loop, reports, HTTP; and stopping on signals.

``reconciler run`` calls :func:`serve`; ``reconciler demo`` and the tests use
:class:`Daemon` directly (``async with Daemon(settings) as daemon``).  The
:class:`Daemon` is the endpoints' backend: it hands out the loop's status
record (:mod:`reconciler.daemon.status`) and writes the reports after every
change of state (at most about once a second).  A report write counts the
members once (:class:`~reconciler.daemon.status.Census`, in a worker thread
with its own store connection), builds the report from those counts and puts
them on the status record, from which the gauges are set: the report and
``reconciler_gateways`` always show the same numbers.  The counts go on the
record before the files are written, so the gauges follow even when writing
fails; a failed write (report directory full or gone) leaves the report
dirty and is retried with backoff until one succeeds, with no new change
needed, and meanwhile ``/api/v1/status``, ``/api/v1/members`` and ``/`` serve
the texts that could not be written (kept in memory only until then).

Stopping (SIGTERM, SIGINT, or leaving the ``async with``): no new job is
started (``engine.stopping``), active jobs get ``stop_timeout_s`` to end and are
otherwise left Requested or Sent in the store (every transition is durable; the
next start resumes them), a final report is written, the HTTP server closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from reconciler.daemon import endpoints, reports
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.reconciling import Reconciler
from reconciler.daemon.settings import DaemonSettings, host_and_port
from reconciler.daemon.status import Census, DaemonStatus
from reconciler.daemon.watching import Watcher
from reconciler.drivers.http import HttpDriver
from reconciler.drivers.settings import HeadendSettings
from reconciler.engine.settings import EngineSettings
from reconciler.loading.secrets import SecretResolver
from reconciler.model.state import AppliedGateway
from reconciler.store import open_store
from reconciler.store.base import Rollout, StateStore

log = logging.getLogger("reconciler.daemon")


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
        self.watcher = Watcher(settings, wake=self.wake)
        self.driver = HttpDriver(self.headend, on_response=self._on_response)
        self.reconciler = Reconciler(
            settings=settings,
            watcher=self.watcher,
            driver=self.driver,
            store=self.store,
            resolve_secret=resolve_secret or SecretResolver(),
            metrics=self.metrics,
            engine_settings=engine,
            on_change=self._changed,
        )
        self.url = ""
        self._dirty = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._runner: web.AppRunner | None = None
        self._written = False
        self._changes: tuple[str, dict[str, dict[str, str]]] | None = None
        self._last_write = 0.0
        self._last_duration = 0.0
        self._reader: StateStore | None = None
        self._unwritten: dict[str, str] | None = None
        """The texts of the newest report while writing them fails; ``None`` once written."""

    # --- endpoints' backend ------------------------------------------------------------------------

    @property
    def status(self) -> DaemonStatus:
        """The loop's status record, as of now."""
        return self.reconciler.status

    def wake(self) -> None:
        """Look at the branch now (a ref changed, or ``POST /hooks/git``)."""
        self.reconciler.wake()

    def retryable(self, profile: str) -> int:
        """Members of ``profile`` that Retry Upload would push to."""
        return self.reconciler.retryable(profile)

    def report(self) -> Mapping[str, Any]:
        """The last written report.json, or one built now if none was written yet."""
        if self._unwritten is not None:
            unwritten: Mapping[str, Any] = json.loads(self._unwritten["report.json"])
            return unwritten
        path = self.settings.report_dir / "report.json"
        if self._written and path.exists():
            loaded: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return loaded
        status = self.status
        states = self.store.applied()
        return reports.build(
            self._snapshot(status, Census.take(status, states), states, self.store.rollouts())
        )

    def report_text(self, name: str) -> str:
        """The last written text of ``name`` (report.json or report.html), read from the report directory.

        Not kept in memory: at 100,000 gateways the report and its three texts held
        ~0.5 GB between renders; the files are written atomically, so reading them is safe.
        """
        if self._unwritten is not None:
            return self._unwritten[name]
        path = self.settings.report_dir / name
        if self._written and path.exists():
            return path.read_text(encoding="utf-8")
        return reports.render(self.report())[name]

    def start_retry(self, profile: str) -> None:
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
        host, port = host_and_port(self.settings.listen)
        self._runner = web.AppRunner(endpoints.app(self), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
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
        if self._runner is not None:
            await self._runner.cleanup()
        await self.driver.aclose()
        if self._reader is not None:
            self._reader.close()
        self.store.close()
        log.info("stopped in %.1f s; every status is durable", time.monotonic() - started)

    # --- reports -----------------------------------------------------------------------------------

    def _changed(self) -> None:
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
                        exc_info=not isinstance(exc, OSError),
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
        census, unwritten, error = await asyncio.to_thread(self._render, self.status)
        # The counts the report shows are the status's counts (and so the metrics'), also
        # when the files could not be written.
        self.reconciler.board.update(totals=census.totals, counts=census.counts)
        self._unwritten = unwritten
        self._last_duration = time.monotonic() - started
        if error is not None:
            raise error
        self._written = True

    def _render(
        self, status: DaemonStatus
    ) -> tuple[Census, dict[str, str] | None, Exception | None]:
        """In a worker thread: read the states through a connection of its own, count, build, write.

        Returns the counts, and the texts with the error when writing them failed.
        """
        if self._reader is None:
            self._reader = open_store(self.settings.state, read_only=True)
        states = self._reader.applied()
        census = Census.take(status, states)
        report = reports.build(self._snapshot(status, census, states, self._reader.rollouts()))
        texts = reports.render(report)
        try:
            reports.write_texts(self.settings.report_dir, texts)
        except Exception as exc:
            return census, texts, exc
        return census, None, None

    def _snapshot(
        self,
        status: DaemonStatus,
        census: Census,
        states: Mapping[str, AppliedGateway],
        rollouts: list[Rollout],
    ) -> reports.Snapshot:
        return reports.Snapshot(
            branch=self.settings.branch,
            status=status,
            census=census,
            states=states,
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
