"""The HTTP head-end driver: docs/reference/headend-api.md spoken over one pooled aiohttp session.

Created by the engine, the daemon and ``reconciler plan --headend`` with a
:class:`~reconciler.drivers.settings.HeadendSettings`; implements
:class:`~reconciler.drivers.base.Driver`.

Why aiohttp: measured against the simulator (20 ms latency, 500 requests in
flight, one-entry ``jobs:batch`` posts, simulator in its own process, 2 cores),
a bare aiohttp loop did 3,900-4,500 requests/s, a bare httpx loop 180-190
(``httpx.AsyncClient``, same pool size): httpx's connection pool is the
bottleneck at this concurrency.  aiohttp also serves the simulator, so it is
one dependency, not two.

Each request: wait for a concurrency slot (semaphore) and, when a rate is set,
a token (:class:`RateLimiter`); one attempt under a per-request timeout; the
outcome reported to ``on_response(endpoint, code, seconds)`` (``code`` is the
HTTP status, or ``"error"`` for a transport error) so the daemon can count
``reconciler_headend_requests_total{endpoint,code}``.  Failures become the
types of :mod:`reconciler.errors`; tenacity retries the transient ones with
full-jitter exponential backoff, or after ``Retry-After`` for a 429.  Job
submission is safe to retry: the idempotency key makes a resubmitted job the
same job.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import aiohttp
from pydantic import ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)
from yarl import URL

from reconciler import errors
from reconciler.drivers import answers
from reconciler.drivers.base import (
    MAX_BATCH,
    EventPage,
    InventoryPage,
    JobRequest,
    JobStatus,
    JobSubmission,
    LiveConfig,
)
from reconciler.drivers.settings import HeadendSettings
from reconciler.model.inventory import INVENTORY_LIST, InventoryGateway

log = logging.getLogger(__name__)

ResponseHook = Callable[[str, str, float], None]
"""``on_response(endpoint, code, seconds)``: called once per attempt."""

ENDPOINTS = {
    "gateways": ("GET", "/api/v1/gateways"),
    "gateways:config": ("POST", "/api/v1/gateways:config"),
    "jobs": ("POST", "/api/v1/jobs"),
    "jobs:batch": ("POST", "/api/v1/jobs:batch"),
    "jobs:status": ("POST", "/api/v1/jobs:status"),
    "events": ("GET", "/api/v1/events"),
}


class RateLimiter:
    """A token bucket as a virtual schedule (GCRA): O(1), first come first served.

    Each caller books the next free slot ``1/rate`` after the previous one and
    sleeps until it; up to ``burst`` requests may run ahead of the schedule.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self._interval = 1.0 / rate
        self._ahead = (burst - 1) * self._interval
        self._next = 0.0

    async def acquire(self) -> None:
        now = time.monotonic()
        slot = max(self._next, now - self._ahead)
        self._next = slot + self._interval
        delay = slot - now
        if delay > 0:
            await asyncio.sleep(delay)


class HttpDriver:
    """The head-end over HTTP.  Use ``async with HttpDriver(settings) as driver`` or call
    :meth:`aclose`; the session is opened on first use, inside the running loop."""

    def __init__(
        self, settings: HeadendSettings, *, on_response: ResponseHook | None = None
    ) -> None:
        self.settings = settings
        self._on_response = on_response
        base = settings.base_url.rstrip("/")
        self._urls = {name: URL(base + path) for name, (_, path) in ENDPOINTS.items()}
        self._session: aiohttp.ClientSession | None = None
        # Concurrency is bounded by the connector's pool (limit=max_concurrency): requests
        # beyond it wait for a connection.  A semaphore of our own is needed only to keep
        # the rate limiter's queue bounded (measured: ~4 us of ~160 us per call).
        self._slots = (
            asyncio.Semaphore(settings.max_concurrency) if settings.max_requests_per_s else None
        )
        self._limiter = (
            RateLimiter(settings.max_requests_per_s, settings.max_concurrency)
            if settings.max_requests_per_s
            else None
        )
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
        self._retrying = AsyncRetrying(
            stop=stop_after_attempt(settings.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(errors.TransientHeadendError),
            before_sleep=self._log_retry,
            reraise=True,
        )
        self._backoff = wait_random_exponential(
            multiplier=settings.backoff_base_s, max=settings.backoff_max_s
        )

    def __repr__(self) -> str:
        return f"HttpDriver(base_url={self.settings.base_url!r})"

    async def __aenter__(self) -> HttpDriver:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # --- the Driver interface ------------------------------------------------------------------

    async def inventory(self) -> list[InventoryGateway]:
        gateways: list[InventoryGateway] = []
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = await self.inventory_page(cursor, self.settings.page_size)
            gateways.extend(page.gateways)
            cursor = page.next_cursor
            if cursor is None:
                return gateways
            if cursor in seen:
                raise errors.BadResponseError(
                    "the head-end handed out a cursor twice", endpoint="gateways"
                )
            seen.add(cursor)

    async def inventory_page(self, cursor: str | None, limit: int) -> InventoryPage:
        query = {"limit": str(min(MAX_BATCH, max(1, limit)))}  # the API's range: 1..500
        if cursor is not None:
            query["cursor"] = cursor
        page = await self._inventory_page(query)
        try:
            gateways = tuple(INVENTORY_LIST.validate_python(page["items"]))
            next_cursor = page["next_cursor"]
            if not isinstance(next_cursor, str | None):
                raise TypeError(f"next_cursor {next_cursor!r} is not a string")
        except (KeyError, TypeError, ValidationError) as exc:
            raise errors.BadResponseError(
                f"not a page of gateways: {exc}", endpoint="gateways"
            ) from exc
        return InventoryPage(gateways, next_cursor)

    async def _inventory_page(self, query: dict[str, str]) -> Any:
        """One page, with patience: a page that fails ``max_attempts`` times is tried again.

        The inventory is read whole before anything is planned, so one unlucky page
        must not end ``apply``: it is asked again from the same cursor, after a
        backoff, for up to ``inventory_rounds`` rounds of ``max_attempts`` attempts.
        """
        rounds = 1
        while True:
            try:
                return await self._call("gateways", params=query)
            except errors.TransientHeadendError as exc:
                if rounds >= self.settings.inventory_rounds:
                    raise
                delay = exc.retry_after or self.settings.backoff_max_s * random.random()
                log.warning(
                    "inventory page failed %d times (%s); asking for it again in %.1f s "
                    "(round %d of %d)",
                    self.settings.max_attempts,
                    exc,
                    delay,
                    rounds,
                    self.settings.inventory_rounds,
                )
                rounds += 1
                await asyncio.sleep(min(delay, self.settings.max_retry_after_s))

    async def read_configs(self, gateway_ids: Sequence[str]) -> dict[str, LiveConfig]:
        pages = await self._batched(
            "gateways:config", [{"gateway_ids": chunk} for chunk in self._chunks(gateway_ids)]
        )
        configs: dict[str, LiveConfig] = {}
        with answers.shape("gateways:config"):
            for answer in pages:
                for item in answer["configs"]:
                    config = LiveConfig(
                        item["gateway_id"], item["firmware"], dict(item["parameters"])
                    )
                    configs[config.gateway_id] = config
        return configs

    async def submit_jobs(self, jobs: Sequence[JobRequest]) -> list[JobSubmission]:
        chunks = self._chunks(jobs)
        pages = await self._batched(
            "jobs:batch", [{"jobs": [job.as_json() for job in chunk]} for chunk in chunks]
        )
        submissions: list[JobSubmission] = []
        with answers.shape("jobs:batch"):
            for chunk, answer in zip(chunks, pages, strict=True):
                results = answer["results"]
                if len(results) != len(chunk):
                    raise errors.BadResponseError(
                        f"{len(results)} results for {len(chunk)} jobs", endpoint="jobs:batch"
                    )
                submissions += map(answers.submission, chunk, results)
        return submissions

    async def job_status(self, job_ids: Sequence[str]) -> list[JobStatus]:
        pages = await self._batched(
            "jobs:status", [{"job_ids": chunk} for chunk in self._chunks(job_ids)]
        )
        with answers.shape("jobs:status"):
            return [answers.job_status(item) for answer in pages for item in answer["jobs"]]

    async def events(self, after: str | None, wait_s: float) -> EventPage | None:
        # One attempt: the caller polls in a loop and backs off.  The wait stays inside the
        # request timeout, so a long poll is never mistaken for a head-end that hangs.
        wait = max(0.0, min(wait_s, self.settings.timeout_s - 1.0))
        params = {"wait": f"{wait:g}"}
        if after is not None:
            params["after"] = after
        try:
            answer = await self._once("events", None, params)
        except errors.NotFoundError:
            return None
        with answers.shape("events"):
            return answers.event_page(answer)

    # --- beyond the interface ----------------------------------------------------------------

    async def submit_job(self, job: JobRequest) -> JobSubmission:
        """One job through ``POST /api/v1/jobs``; an unknown gateway raises :class:`~reconciler.errors.NotFoundError`."""
        answer = await self._call("jobs", body=job.as_json())
        with answers.shape("jobs"):
            return answers.submission(job, answer)

    # --- plumbing ------------------------------------------------------------------------------

    def _chunks(self, items: Sequence[Any]) -> list[Sequence[Any]]:
        size = self.settings.batch_size
        if len(items) <= size:  # the common case: no copy
            return [items if isinstance(items, (list, tuple)) else list(items)] if items else []
        return [list(items[i : i + size]) for i in range(0, len(items), size)]

    async def _batched(self, endpoint: str, bodies: list[dict[str, Any]]) -> list[Any]:
        """One call per body, concurrently; all finish before the first failure is raised."""
        if len(bodies) == 1:
            return [await self._call(endpoint, body=bodies[0])]
        answers = await asyncio.gather(
            *(self._call(endpoint, body=body) for body in bodies), return_exceptions=True
        )
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        return answers

    async def _call(
        self, endpoint: str, *, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        """One request with retries; returns the decoded JSON answer."""
        data = json.dumps(body).encode() if body is not None else None
        try:
            return await self._once(endpoint, data, params)
        except errors.TransientHeadendError as failure:
            return await self._retry(endpoint, data, params, failure)

    async def _retry(
        self,
        endpoint: str,
        data: bytes | None,
        params: dict[str, str] | None,
        failure: errors.TransientHeadendError,
    ) -> Any:
        """Attempts 2.. under tenacity's policy, after a first attempt that failed with ``failure``.

        The first attempt runs outside tenacity because its bookkeeping costs
        ~65 us per call, 40% of the whole client-side cost of a one-job batch
        (bench/bench_driver.py).  Tenacity's attempt 1 re-raises the failure we
        already have, so waits, limits and logging stay tenacity's alone.
        """
        first: list[BaseException] = [failure]

        async def attempt() -> Any:
            if first:
                raise first.pop()
            return await self._once(endpoint, data, params)

        return await self._retrying.copy()(attempt)

    async def _once(self, endpoint: str, data: bytes | None, params: dict[str, str] | None) -> Any:
        if self._slots is None:
            return await self._request(endpoint, data, params)
        async with self._slots:
            if self._limiter is not None:
                await self._limiter.acquire()
            return await self._request(endpoint, data, params)

    async def _request(
        self, endpoint: str, data: bytes | None, params: dict[str, str] | None
    ) -> Any:
        method = ENDPOINTS[endpoint][0]
        session = self._session or self._open()
        start = time.perf_counter()
        try:
            async with session.request(
                method,
                self._urls[endpoint],
                data=data,
                params=params,
            ) as response:
                status = response.status
                raw = await response.read()
                retry_after = response.headers.get("Retry-After") if status == 429 else None
        except TimeoutError as exc:
            self._report(endpoint, "error", start)
            raise errors.HeadendTimeoutError(
                f"no answer within {self.settings.timeout_s} s", endpoint=endpoint
            ) from exc
        except aiohttp.ClientError as exc:
            self._report(endpoint, "error", start)
            raise errors.HeadendConnectionError(
                f"{type(exc).__name__}: {exc}", endpoint=endpoint
            ) from exc
        self._report(endpoint, str(status), start)
        if status >= 300:
            raise answers.error_for(endpoint, status, raw, retry_after)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise errors.BadResponseError(
                "the answer is not JSON", endpoint=endpoint, status=status
            ) from exc

    def _open(self) -> aiohttp.ClientSession:
        token = self.settings.token.get_secret_value()
        self._session = aiohttp.ClientSession(
            timeout=self._timeout,
            connector=aiohttp.TCPConnector(
                limit=self.settings.max_concurrency, keepalive_timeout=30
            ),
            # One header set for all calls, and no more headers than needed: merging
            # per-request headers, or one more header, costs ~3-5 us of ~130 us a call.
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        return self._session

    def _report(self, endpoint: str, code: str, start: float) -> None:
        if self._on_response is not None:
            self._on_response(endpoint, code, time.perf_counter() - start)

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome is not None else None
        if isinstance(failure, errors.TransientHeadendError) and failure.retry_after is not None:
            return min(failure.retry_after, self.settings.max_retry_after_s)
        return float(self._backoff(state))

    def _log_retry(self, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        sleep = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "head-end request failed (%s); attempt %d of %d, retrying in %.2f s",
            failure,
            state.attempt_number,
            self.settings.max_attempts,
            sleep,
        )
