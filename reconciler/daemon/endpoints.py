"""The daemon's HTTP endpoints (aiohttp.web), served on ``--listen``.

Built by :mod:`reconciler.daemon.running`, which passes itself as the
:class:`Backend`.

| endpoint | answer |
|---|---|
| ``GET /metrics`` | Prometheus exposition of the daemon's own registry |
| ``GET /healthz`` | 200 while the process serves requests |
| ``GET /readyz`` | 200 once a commit is loaded and while git and the head-end answer, else 503; JSON with reasons |
| ``GET /api/v1/status`` | the report (report.json) |
| ``GET /api/v1/members?q=QUERY&profile=P&page=N&per_page=M`` | Magic Search over the report's gateways, one page (:func:`reconciler.daemon.reports.members_answer`); 400 ``{"error"}`` for a bad query |
| ``POST /api/v1/profiles/NAME/retry`` | Retry Upload: 202 started, 401 no token, 403 wrong token or none configured, 404 unknown profile, 409 nothing to retry |
| ``GET /`` | report.html |
| ``POST /hooks/git`` | 202: fetch and look at the branch now (a git host's push webhook) |
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from reconciler.daemon import reports
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.status import DaemonStatus


class Backend(Protocol):
    """What the endpoints need from the running daemon."""

    metrics: Metrics
    admin_token: str | None

    @property
    def status(self) -> DaemonStatus:
        """The loop's status record (readiness, the last valid commit)."""
        ...

    def wake(self) -> None: ...

    def retryable(self, profile: str) -> int: ...

    def report(self) -> Mapping[str, Any]: ...

    def report_text(self, name: str) -> str: ...

    def start_retry(self, profile: str) -> None: ...


def app(backend: Backend) -> web.Application:
    """The aiohttp application for ``backend``."""
    routes = web.RouteTableDef()

    @routes.get("/metrics")
    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=backend.metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    @routes.get("/healthz")
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    @routes.get("/readyz")
    async def readyz(request: web.Request) -> web.Response:
        now = backend.status
        return web.json_response(
            {"ready": now.ready, "reasons": now.reasons}, status=200 if now.ready else 503
        )

    @routes.get("/api/v1/status")
    async def status(request: web.Request) -> web.Response:
        return web.Response(
            text=backend.report_text("report.json"), content_type="application/json"
        )

    @routes.get("/api/v1/members")
    async def members(request: web.Request) -> web.Response:
        status, body = reports.members_answer(backend.report(), request.query)
        return web.json_response(body, status=status)

    @routes.get("/")
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=backend.report_text("report.html"), content_type="text/html")

    @routes.post("/hooks/git")
    async def hook(request: web.Request) -> web.Response:
        backend.wake()
        return web.json_response({"status": "fetching"}, status=202)

    @routes.post("/api/v1/profiles/{name}/retry")
    async def retry(request: web.Request) -> web.Response:
        refused = _refused(request, backend.admin_token)
        if refused is not None:
            return refused
        name = request.match_info["name"]
        good = backend.status.good
        if good is None or name not in good.repo.profiles:
            return _error(404, f"no profile '{name}' in the last valid commit")
        count = backend.retryable(name)
        if count == 0:
            return _error(
                409, f"profile '{name}' has no Declined or Mismatch member (nor one an aborted rollout left waiting); nothing to retry"
            )
        backend.start_retry(name)
        return web.json_response({"profile": name, "retrying": count}, status=202)

    application = web.Application()
    application.add_routes(routes)
    return application


def _refused(request: web.Request, token: str | None) -> web.Response | None:
    if not token:
        return _error(403, "Retry Upload over HTTP is disabled: set RECONCILER_ADMIN_TOKEN")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        response = _error(401, "missing 'Authorization: Bearer TOKEN'")
        response.headers["WWW-Authenticate"] = 'Bearer realm="reconciler"'
        return response
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return _error(403, "wrong token")
    return None


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
