"""The daemon's HTTP endpoints (aiohttp.web), served on ``--listen``.

Built by :mod:`reconciler.daemon.running`, which passes itself as the
:class:`Backend`, and served on a thread of their own
(:mod:`reconciler.daemon.serving`): the handlers never touch the daemon's
loop directly.

| endpoint | answer |
|---|---|
| ``GET /metrics`` | Prometheus exposition of the daemon's own registry |
| ``GET /healthz`` | 200 while the process serves requests |
| ``GET /readyz`` | 200 once a commit is loaded and while git, the head-end and the store answer, else 503; JSON with reasons and the held commit (a held commit is no reason) |
| ``GET /api/v1/status`` | the report (report.json) |
| ``POST /api/v1/profiles/NAME/retry`` | Retry Upload: 202 started, 401 no token, 403 wrong token, none configured or a cross-site request, 404 unknown profile, 409 nothing to retry |
| ``GET /report.html`` | the static report's page |
| ``GET /``, ``/profiles/...``, ``/members``, ``/gateways/ID``, ``/commits``, ``/api/v1/...`` | the console (:mod:`reconciler.daemon.console.routes`) |
| ``POST /hooks/git`` | 202: fetch and look at the branch now (a git host's push webhook); with a webhook secret 401 unsigned, 403 wrong signature |

Every request's ``Host`` must name the daemon (:func:`host_allowed`): loopback,
the listen host, ``allowed_hosts``; IP addresses only for ``/metrics``,
``/healthz`` and ``/readyz`` (Prometheus and the kubelet use the pod IP).
Anything else is answered 403: a page on another site whose name was rebound
to this address (DNS rebinding) cannot read the report.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from reconciler.daemon.console import views
from reconciler.daemon.console.routes import add_routes, cross_site
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.settings import DaemonSettings
from reconciler.daemon.status import DaemonStatus

PROBE_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
"""Read-only paths that also answer to an IP-address ``Host`` (scrapes and kubelet probes)."""


def leader_fields(status: DaemonStatus) -> dict[str, object]:
    """``/readyz``'s replica fields: who leads (``None``: nobody now) and this replica's name."""
    replicas = status.replicas
    if replicas is None:
        return {}
    return {
        "replica": replicas.replica,
        "leader": replicas.leader or None,
        "leading": replicas.leading,
    }


class Backend(views.Source, Protocol):
    """What the endpoints need from the running daemon (the console's views read the rest)."""

    metrics: Metrics
    admin_token: str | None
    settings: DaemonSettings

    @property
    def status(self) -> DaemonStatus:
        """The loop's status record (readiness, the last valid commit)."""
        ...

    def wake(self) -> None: ...

    async def retryable(self, profile: str) -> int: ...

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
        held = now.held.as_dict() if now.held else None
        return web.json_response(
            {"ready": now.ready, "reasons": now.reasons, "held": held, **leader_fields(now)},
            status=200 if now.ready else 503,
        )

    @routes.get("/api/v1/status")
    async def status(request: web.Request) -> web.Response:
        return web.Response(
            text=backend.report_text("report.json"), content_type="application/json"
        )

    @routes.get("/report.html")
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=backend.report_text("report.html"), content_type="text/html")

    add_routes(routes, backend)

    @routes.post("/hooks/git")
    async def hook(request: web.Request) -> web.Response:
        refused = await _unsigned(request, backend.settings)
        if refused is not None:
            return refused
        backend.wake()
        return web.json_response({"status": "fetching"}, status=202)

    @routes.post("/api/v1/profiles/{name}/retry")
    async def retry(request: web.Request) -> web.Response:
        elsewhere = cross_site(request)
        if elsewhere is not None:
            return _error(403, elsewhere)
        refused = _refused(request, backend.admin_token)
        if refused is not None:
            return refused
        name = request.match_info["name"]
        good = backend.status.good
        if good is None or name not in good.repo.profiles:
            return _error(404, f"no profile '{name}' in the last valid commit")
        count = await backend.retryable(name)
        if count == 0:
            return _error(
                409,
                f"profile '{name}' has no Declined or Mismatch member (nor one an aborted rollout left waiting); nothing to retry",
            )
        backend.start_retry(name)
        return web.json_response({"profile": name, "retrying": count}, status=202)

    hosts = backend.settings.hosts
    any_host = "*" in hosts

    @web.middleware
    async def check_host(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        given = request.headers.get("Host", "")
        if any_host or host_allowed(given, hosts, probe=request.path in PROBE_PATHS):
            return await handler(request)
        shown = given[:80].encode("ascii", "replace").decode()
        return _error(
            403,
            f"Host '{shown}' is not one this daemon answers to; add it to --allowed-hosts "
            "(RECONCILER_ALLOWED_HOSTS)",
        )

    application = web.Application(middlewares=[check_host])
    application.add_routes(routes)
    return application


def host_allowed(header: str, hosts: frozenset[str], *, probe: bool = False) -> bool:
    """Whether a ``Host`` header names this daemon.

    ``hosts`` holds lower-case names and addresses (IPv6 without brackets); one
    starting with a dot allows that domain and its subdomains.  An IP address
    not in ``hosts`` is allowed only with ``probe`` (no DNS name, so no DNS
    rebinding: Prometheus and kubelet probes use the pod IP).  A request without
    ``Host`` (HTTP/1.0) is allowed: a browser always sends one.
    """
    name = _hostname(header)
    if not name:
        return not header.strip()
    if name in hosts or any(
        h.startswith(".") and (name == h[1:] or name.endswith(h)) for h in hosts
    ):
        return True
    if probe:
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True
    return False


def _hostname(header: str) -> str:
    """``name:port``, ``[v6]:port``, ``name`` -> lower-case name (IPv6 unbracketed); '' if malformed."""
    value = header.strip().lower()
    if value.startswith("["):
        inside, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return ""
        return inside
    name, colon, port = value.rpartition(":")
    if not colon:
        name = value
    elif not port.isdigit() or ":" in name:
        return ""
    return name.rstrip(".")


async def _unsigned(request: web.Request, settings: DaemonSettings) -> web.Response | None:
    """With a webhook secret: GitLab's ``X-Gitlab-Token`` or GitHub's ``X-Hub-Signature-256``."""
    if settings.webhook_secret is None:
        return None
    secret = settings.webhook_secret.get_secret_value().encode()
    token = request.headers.get("X-Gitlab-Token")
    signature = request.headers.get("X-Hub-Signature-256")
    if token is not None:
        valid = hmac.compare_digest(token.strip().encode(), secret)
    elif signature is not None:
        body = await request.read()
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(signature.strip().lower().encode(), expected.encode())
    else:
        return _error(
            401,
            "the hook needs X-Hub-Signature-256 (GitHub, Gitea) or X-Gitlab-Token: "
            "a webhook secret is set",
        )
    return None if valid else _error(403, "wrong webhook signature or token")


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
