"""The OCPP head-end's northbound face: the head-end API over HTTP (aiohttp), plus /metrics and /healthz.

Built by :mod:`.server` around a :class:`~reconciler.headends.ocpp.hub.Hub`.
The contract is ``reconciler/drivers/openapi.yaml`` (docs/reference/headend-api.md),
the same the HTTP driver speaks to the LG2WAN head-end, so ``reconciler apply``,
``plan`` and ``run`` configure OCPP chargers unchanged.  Every API request
needs ``Authorization: Bearer TOKEN`` (401 otherwise); bodies are checked by
:mod:`reconciler.drivers.bodies` (422); a job for a charger the head-end has
never seen is 404 (``not_found`` in a batch).  ``/metrics`` and ``/healthz``
need no token.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from reconciler.drivers import bodies
from reconciler.errors import NotFoundError
from reconciler.headends.ocpp.readback import read_configs

if TYPE_CHECKING:
    from reconciler.headends.ocpp.hub import Hub

MAX_WAIT_S = 60.0
"""The longest an events long poll waits."""

Handler = Callable[[web.Request, Any], Awaitable[tuple[int, Any]]]


def _reboot(item: Any) -> str:
    value = item.get("reboot", "never") if isinstance(item, dict) else "never"
    return str(value)


def app(hub: Hub, token: str) -> web.Application:
    """The aiohttp application of ``hub``, requiring bearer ``token``."""
    expected = f"Bearer {token}".encode()

    def api(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                status, body = 401, bodies.error("unauthorized", "missing or wrong bearer token")
            else:
                try:
                    data = await request.json() if request.method == "POST" else None
                    status, body = await handler(request, data)
                except ValueError:
                    status, body = 422, bodies.error("malformed", "the body is not JSON")
                except bodies.Malformed as exc:
                    status, body = 422, bodies.error("malformed", str(exc))
                except NotFoundError as exc:
                    status, body = 404, bodies.error("not_found", exc.message)
            return web.Response(
                body=json.dumps(body).encode(), status=status, content_type="application/json"
            )

        return handle

    async def gateways(request: web.Request, _: Any) -> tuple[int, Any]:
        page, cursor = bodies.page(request.query, hub.order())
        return 200, {
            "items": [hub.gateway(hub.chargers[ident]) for ident in page],
            "next_cursor": cursor,
        }

    async def configs(request: web.Request, data: Any) -> tuple[int, Any]:
        ids = bodies.id_list(data, "gateway_ids")
        return 200, {"configs": await read_configs(hub, ids)}

    async def job(request: web.Request, data: Any) -> tuple[int, Any]:
        entry = bodies.job_request(data)
        result = hub.jobs.create(entry, _reboot(data))
        if "error" in result:
            if result["error"]["code"] == "not_found":
                raise NotFoundError(result["error"]["message"])
            raise bodies.Malformed(result["error"]["message"])
        await hub.store.sync()
        return 202, result

    async def batch(request: web.Request, data: Any) -> tuple[int, Any]:
        entries = bodies.job_batch(data)  # all checked before any is created
        results = [
            hub.jobs.create(entry, _reboot(item))
            for entry, item in zip(entries, data["jobs"], strict=True)
        ]
        await hub.store.sync()
        return 200, {"results": results}

    async def status(request: web.Request, data: Any) -> tuple[int, Any]:
        return 200, {"jobs": hub.jobs.views(bodies.id_list(data, "job_ids"))}

    async def events(request: web.Request, _: Any) -> tuple[int, Any]:
        try:
            wait = float(request.query.get("wait", "0"))
        except ValueError:
            raise bodies.Malformed("wait: expected a number of seconds") from None
        if not 0 <= wait < float("inf"):
            raise bodies.Malformed("wait: expected a number of seconds")
        return 200, await hub.events_after(request.query.get("after"), min(wait, MAX_WAIT_S))

    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=hub.metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "connected": len(hub.sessions)})

    application = web.Application(client_max_size=16 * 1024 * 1024)
    application.router.add_get("/api/v1/gateways", api(gateways))
    application.router.add_post("/api/v1/gateways:config", api(configs))
    application.router.add_post("/api/v1/jobs", api(job))
    application.router.add_post("/api/v1/jobs:batch", api(batch))
    application.router.add_post("/api/v1/jobs:status", api(status))
    application.router.add_get("/api/v1/events", api(events))
    application.router.add_get("/metrics", metrics)
    application.router.add_get("/healthz", healthz)
    return application
