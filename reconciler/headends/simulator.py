"""The head-end simulator: the API of docs/reference/headend-api.md over a simulated fleet, with faults.

Served by ``reconciler simulate`` (:mod:`reconciler.cli.simulate`), started in a
thread by :func:`reconciler.testing.running_simulator` for tests, and run by
the benchmarks and the demo.  The fleet and its job rules are in
:mod:`reconciler.headends.fleet`; this module is the HTTP face: routing, bearer
token, body checks (422), latency, injected faults, counters and the admin
endpoints.

Per request the work is O(batch size): dict look-ups, no task or timer per job.
Faults are drawn per request from one seeded generator (``--seed``), in this
order: a queued ``fail_next`` fault, then throttle (429 with ``Retry-After``),
error (503), timeout (the answer is held back ``hang_s`` seconds, or the
connection is dropped).  Declines are drawn per created job.

Admin endpoints (no token; this is a test tool): ``GET /_admin/counters``,
``POST /_admin/faults`` (change rates at run time, queue ``fail_next``),
``POST /_admin/drift`` ``{"gateway_id", "parameters"}`` (force live values), and
``POST /_admin/forget`` (drop the job table, as a restart without it would).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from reconciler.drivers import bodies
from reconciler.headends import fleet as fleets
from reconciler.headends.faults import FAULT_KINDS, Faults, TimeoutMode
from reconciler.loading.catalogs import shipped_catalog
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource

log = logging.getLogger(__name__)

DEV_TOKEN = "dev-token"
"""The token ``reconciler simulate`` expects when neither ``--token`` nor RECONCILER_HEADEND_TOKEN is set."""


@dataclass(frozen=True)
class SimulatorOptions:
    """How the simulator behaves; every rate is a probability from 0 to 1, per request or job."""

    fleet: int = 1_000
    """Gateways in the synthetic fleet (ignored with ``gateways_repo``)."""
    gateways_repo: Path | None = None
    """Take gateway ids and types from this config repository's ``gateways.d``."""
    seed: int = 0
    latency_ms: float = 0.0
    """Added to every API request before it is answered."""
    decline_rate: float = 0.0
    error_rate: float = 0.0
    throttle_rate: float = 0.0
    timeout_rate: float = 0.0
    drift_rate: float = 0.0
    """Drift events per second: each changes one live value of one random gateway."""
    token: str = field(default=DEV_TOKEN, repr=False)
    job_step_ms: float | None = None
    """Time per job step (requested -> sent -> final); default ``max(5, latency_ms)``."""
    retry_after_s: int = 1
    """The ``Retry-After`` of a 429, in whole seconds as HTTP wants it."""
    hang_s: float = 30.0
    """How long a timeout fault holds the answer back (beyond any sane client timeout)."""
    timeout_mode: TimeoutMode = "mixed"
    """A timeout fault hangs, drops the connection, or either at random."""


class Simulator:
    """A simulated head-end: the fleet, the fault settings, the counters, and the aiohttp app."""

    def __init__(self, options: SimulatorOptions) -> None:
        self.options = options
        if options.gateways_repo is not None:
            # The repository's catalog: its catalog.d types are served like the shipped ones.
            repo = load_repo(DirectorySource(options.gateways_repo))
            declared = [(g.id, g.type) for g in repo.gateways.values()]
            gateways = fleets.fleet_from_declarations(repo.catalog, declared, seed=options.seed)
        else:
            gateways = fleets.synthetic_fleet(shipped_catalog(), options.fleet, seed=options.seed)
        step_ms = (
            options.job_step_ms if options.job_step_ms is not None else max(5.0, options.latency_ms)
        )
        self.fleet = fleets.Fleet(gateways, step_s=step_ms / 1000)
        self.faults = Faults(
            decline_rate=options.decline_rate,
            error_rate=options.error_rate,
            throttle_rate=options.throttle_rate,
            timeout_rate=options.timeout_rate,
            drift_rate=options.drift_rate,
            retry_after_s=options.retry_after_s,
            hang_s=options.hang_s,
            timeout_mode=options.timeout_mode,
        )
        self.rng = random.Random(options.seed)
        self.requests: Counter[str] = Counter()
        self.responses: Counter[tuple[str, int]] = Counter()
        self.faulted: Counter[str] = Counter()
        self.jobs_created = 0
        self.replays = 0
        self.declines = 0
        self.drifts = 0
        self._authorization = f"Bearer {options.token}".encode()
        self._latency_s = options.latency_ms / 1000

    # --- the app -----------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get("/api/v1/gateways", self._api("gateways", self._gateways))
        app.router.add_post("/api/v1/gateways:config", self._api("gateways:config", self._configs))
        app.router.add_post("/api/v1/jobs", self._api("jobs", self._job))
        app.router.add_post("/api/v1/jobs:batch", self._api("jobs:batch", self._batch))
        app.router.add_post("/api/v1/jobs:status", self._api("jobs:status", self._status))
        app.router.add_get("/_admin/counters", self._admin_counters)
        app.router.add_post("/_admin/faults", self._admin_faults)
        app.router.add_post("/_admin/drift", self._admin_drift)
        app.router.add_post("/_admin/forget", self._admin_forget)
        app.cleanup_ctx.append(self._drifting)
        return app

    def _api(
        self, endpoint: str, handler: Callable[[web.Request, Any], tuple[int, Any]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """Wrap a pure-ish handler with counting, latency, token check, faults and error bodies."""

        async def handle(request: web.Request) -> web.StreamResponse:
            self.requests[endpoint] += 1
            if self._latency_s:
                await asyncio.sleep(self._latency_s)
            status, body, headers = await self._answer(endpoint, handler, request)
            self.responses[(endpoint, status)] += 1
            return web.Response(
                body=json.dumps(body).encode(),
                status=status,
                content_type="application/json",
                headers=headers,
            )

        return handle

    async def _answer(
        self,
        endpoint: str,
        handler: Callable[[web.Request, Any], tuple[int, Any]],
        request: web.Request,
    ) -> tuple[int, Any, dict[str, str] | None]:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, self._authorization):
            return 401, bodies.error("unauthorized", "missing or wrong bearer token"), None
        fault = self.faults.draw(self.rng)
        if fault is not None:
            self.faulted[fault] += 1
            if fault == "throttle":
                retry = str(self.faults.retry_after_s)
                return (
                    429,
                    bodies.error("throttled", f"too many requests; retry after {retry} s"),
                    {"Retry-After": retry},
                )
            if fault == "error":
                return (
                    503,
                    bodies.error("unavailable", "head-end temporarily unavailable (simulated)"),
                    None,
                )
            await self._time_out(request)
        try:
            data = await request.json() if request.method == "POST" else None
        except ValueError:
            return 422, bodies.error("malformed", "the body is not JSON"), None
        try:
            status, body = handler(request, data)
        except bodies.Malformed as exc:
            return 422, bodies.error("malformed", str(exc)), None
        except KeyError as exc:
            return 404, bodies.error("not_found", f"unknown gateway {exc.args[0]}"), None
        return status, body, None

    async def _time_out(self, request: web.Request) -> None:
        mode = self.faults.timeout_mode
        if mode == "mixed":
            mode = "hang" if self.rng.random() < 0.5 else "drop"
        if mode == "drop" and request.transport is not None:
            request.transport.abort()
            raise asyncio.CancelledError  # nothing left to answer on
        await asyncio.sleep(self.faults.hang_s)

    # --- API handlers: (request, parsed body) -> (status, body) ------------------------------

    def _gateways(self, request: web.Request, _: Any) -> tuple[int, Any]:
        page, cursor = bodies.page(request.query, self.fleet.order)
        gateways = self.fleet.gateways
        return 200, {"items": [gateways[i].inventory for i in page], "next_cursor": cursor}

    def _configs(self, request: web.Request, data: Any) -> tuple[int, Any]:
        ids = bodies.id_list(data, "gateway_ids")
        now, gateways, configs = time.monotonic(), self.fleet.gateways, []
        for ident in ids:
            gateway = gateways.get(ident)
            if gateway is not None:
                configs.append(
                    {
                        "gateway_id": ident,
                        "firmware": gateway.firmware,
                        "parameters": self.fleet.live_config(gateway, now),
                    }
                )
        return 200, {"configs": configs}

    def _job(self, request: web.Request, data: Any) -> tuple[int, Any]:
        entry = bodies.job_request(data)
        result = self._create(entry, time.monotonic())
        if "error" in result:
            code = result["error"]["code"]
            raise (
                KeyError(entry[0])
                if code == "not_found"
                else bodies.Malformed(result["error"]["message"])
            )
        return 202, result

    def _batch(self, request: web.Request, data: Any) -> tuple[int, Any]:
        entries = bodies.job_batch(data)  # all checked before any is created
        now = time.monotonic()
        return 200, {"results": [self._create(entry, now) for entry in entries]}

    def _create(self, entry: bodies.JobEntry, now: float) -> dict[str, Any]:
        gateway_id, parameters, key = entry
        fleet = self.fleet
        known = fleet.by_key.get(key)
        if known is not None:
            if known.gateway_id != gateway_id:
                return bodies.error(
                    "conflict", f"idempotency_key already used for {known.gateway_id}"
                )
            self.replays += 1
            return {"job_id": known.job_id, "status": fleet.status(known, now)}
        gateway = fleet.gateways.get(gateway_id)
        if gateway is None:
            return bodies.error("not_found", f"unknown gateway {gateway_id}")
        fault = None
        if self.faults.decline_rate > 0 and self.rng.random() < self.faults.decline_rate:
            self.faulted["decline"] += 1
            fault = "gateway busy: configuration not applied (simulated decline)"
        job = fleet.create_job(gateway, parameters, key, now, fault_reason=fault)
        self.jobs_created += 1
        self.declines += job.declined
        return {"job_id": job.job_id, "status": "requested"}

    def _status(self, request: web.Request, data: Any) -> tuple[int, Any]:
        ids = bodies.id_list(data, "job_ids")
        now, fleet, out = time.monotonic(), self.fleet, []
        for ident in ids:
            job = fleet.jobs.get(ident)
            if job is None:
                continue
            status = fleet.status(job, now)
            item: dict[str, Any] = {
                "job_id": ident,
                "gateway_id": job.gateway_id,
                "status": status,
                "reason": job.reason if status == "declined" else None,
            }
            if status == "declined" and job.rejected:
                item["rejected_parameters"] = job.rejected
            out.append(item)
        return 200, {"jobs": out}

    # --- admin and drift ---------------------------------------------------------------------

    def counters(self) -> dict[str, Any]:
        responses: dict[str, dict[str, int]] = {}
        for (endpoint, status), count in sorted(self.responses.items()):
            responses.setdefault(endpoint, {})[str(status)] = count
        return {
            "gateways": len(self.fleet.gateways),
            "requests": dict(self.requests),
            "responses": responses,
            "jobs_created": self.jobs_created,
            "idempotent_replays": self.replays,
            "declines": self.declines,
            "faults": {kind: self.faulted[kind] for kind in (*FAULT_KINDS, "decline")},
            "drifts": self.drifts,
        }

    async def _admin_counters(self, request: web.Request) -> web.Response:
        return web.json_response(self.counters())

    async def _admin_faults(self, request: web.Request) -> web.Response:
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise bodies.Malformed("expected a JSON object")
            self.faults.update(changes)
        except (ValueError, bodies.Malformed) as exc:
            return web.json_response(bodies.error("malformed", str(exc)), status=422)
        settings = {k: v for k, v in vars(self.faults).items() if k != "fail_next"}
        return web.json_response({**settings, "fail_next": list(self.faults.fail_next)})

    async def _admin_forget(self, request: web.Request) -> web.Response:
        return web.json_response({"forgotten": self.fleet.forget_jobs()})

    async def _admin_drift(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
            gateway = self.fleet.gateways[data["gateway_id"]]
            parameters = data["parameters"]
            unknown = [k for k in parameters if k not in gateway.syntax.specs]
        except (ValueError, KeyError, TypeError):
            return web.json_response(
                bodies.error(
                    "malformed", "expected {gateway_id: KNOWN_ID, parameters: {KEY: VALUE}}"
                ),
                status=422,
            )
        if unknown:
            return web.json_response(
                bodies.error(
                    "malformed", f"not in the syntax of {gateway.id}: {', '.join(unknown)}"
                ),
                status=422,
            )
        self.fleet.settle(gateway, time.monotonic())
        gateway.overrides.update(parameters)
        self.drifts += 1
        return web.json_response({"gateway_id": gateway.id, "parameters": gateway.live()})

    async def _drifting(self, app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(self._drift_loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _drift_loop(self, tick_s: float = 0.1) -> None:
        """Drift ``drift_rate`` gateways per second: the budget accrues per tick, one drift per unit."""
        budget = 0.0
        while True:
            await asyncio.sleep(tick_s)
            budget += self.faults.drift_rate * tick_s
            order, now = self.fleet.order, time.monotonic()
            while budget >= 1:
                budget -= 1
                gateway = self.fleet.gateways[self.rng.choice(order)] if order else None
                if gateway is not None and self.fleet.drift(gateway, self.rng, now):
                    self.drifts += 1


@contextlib.asynccontextmanager
async def serving(
    simulator: Simulator, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve ``simulator`` on ``host:port`` (0: a free port) and yield its base URL."""
    runner = web.AppRunner(
        simulator.app(),
        access_log=None,
        handler_cancellation=True,  # a client that gave up cancels a hanging answer
        shutdown_timeout=1.0,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        yield f"http://{shown}:{bound_port}"
    finally:
        await runner.cleanup()
