"""The console's routes: every screen as a page and as JSON, the static assets, Retry Upload's guard.

Added to the daemon's aiohttp application by :func:`reconciler.daemon.endpoints.app`.

| page | JSON | screen |
|---|---|---|
| ``/`` | ``/api/v1/profiles`` | profiles, counts per status, progress, daemon state |
| ``/profiles/NAME?type=T`` | ``/api/v1/profiles/NAME/configuration?type=T`` | a profile's configuration |
| ``/profiles/NAME/members?...`` | ``/api/v1/members?profile=NAME&...`` | a profile's members |
| ``/members?...`` | ``/api/v1/members?...`` | every gateway |
| ``/gateways/ID`` | ``/api/v1/gateways/ID`` | one gateway |
| ``/commits?page=N`` | ``/api/v1/commits?page=N`` | the branch's history |
| | ``/api/v1/live`` | the generation the script polls |

A page asked with ``X-Console-Partial: 1`` answers only its live region (the
script swaps it in place when the generation changes or a filter is typed).
Views run in a worker thread: the HTTP loop keeps answering probes.

:func:`cross_site` refuses state-changing requests from other sites: a browser
sends ``Origin`` (and ``Sec-Fetch-Site``) with every POST, and only the
console's own pages may post.  Together with the bearer token, which a
browser never attaches by itself, a page elsewhere cannot start a retry.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Callable
from functools import partial
from importlib import resources
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from reconciler.daemon.console import pages, views
from reconciler.errors import StoreError

STATIC = {
    "console.css": "text/css",
    "console.js": "text/javascript",
}
"""The assets under ``/static/`` (shipped in the package)."""

PARTIAL = "X-Console-Partial"

ERROR_KEYS = frozenset({"error", "query", "position"})
"""What a JSON error answer holds: the message, and for a malformed query where it went wrong."""


def params_of(query: MultiMapping[str]) -> dict[str, str | list[str]]:
    """Query parameters: the filters may repeat (a list), the others are single (the last)."""
    found: dict[str, str | list[str]] = {}
    for key in query:
        values = query.getall(key)
        found[key] = list(values) if key in views.FILTERS else values[-1]
    return found


def add_routes(routes: web.RouteTableDef, source: views.Source) -> None:
    """Register the console's pages, JSON documents and assets on ``routes``."""

    async def answer(
        request: web.Request,
        view: Callable[[], views.Answer],
        template: str | None,
        *,
        inline_400: bool = False,
    ) -> web.StreamResponse:
        """The view's document as JSON (``template`` None) or rendered; errors on error.html,
        except a 400 of a page that shows it in place (a malformed query keeps its search box)."""
        started = time.perf_counter()
        try:
            code, document = await asyncio.to_thread(view)
        except StoreError as exc:
            code, document = 503, {"error": f"the state store cannot be read now: {exc}"}
        if template is None:
            if code >= 400:  # an error document is the error alone (what a page adds stays out)
                document = {k: v for k, v in document.items() if k in ERROR_KEYS}
            response = web.json_response(document, status=code, dumps=pages.dumps)
            _timed(response, started)
            return response
        partial_only = request.headers.get(PARTIAL) == "1"
        text = pages.render(
            template if code < 400 or (code == 400 and inline_400) else "error.html",
            document,
            request=_request_facts(request),
            partial=partial_only,
            code=code,
        )
        response = web.Response(text=text, status=code, content_type="text/html")
        response.headers["Cache-Control"] = "no-store"
        _timed(response, started)
        return response

    @routes.get("/")
    async def overview_page(request: web.Request) -> web.StreamResponse:
        view = partial(views.overview, source, params_of(request.query))
        return await answer(request, view, "profiles.html")

    @routes.get("/api/v1/profiles")
    async def overview_json(request: web.Request) -> web.StreamResponse:
        return await answer(
            request, partial(views.overview, source, params_of(request.query)), None
        )

    @routes.get("/api/v1/live")
    async def live_json(request: web.Request) -> web.StreamResponse:
        code, document = views.live(source)
        return web.json_response(document, status=code)

    def configuration(request: web.Request) -> Callable[[], views.Answer]:
        return partial(
            views.configuration,
            source,
            request.match_info["name"],
            request.query.get("type") or None,
        )

    @routes.get("/profiles/{name}")
    async def configuration_page(request: web.Request) -> web.StreamResponse:
        return await answer(request, configuration(request), "configuration.html")

    @routes.get("/api/v1/profiles/{name}/configuration")
    async def configuration_json(request: web.Request) -> web.StreamResponse:
        return await answer(request, configuration(request), None)

    @routes.get("/profiles/{name}/members")
    async def profile_members_page(request: web.Request) -> web.StreamResponse:
        view = partial(views.members, source, params_of(request.query), request.match_info["name"])
        return await answer(request, view, "members.html", inline_400=True)

    @routes.get("/members")
    async def members_page(request: web.Request) -> web.StreamResponse:
        view = partial(views.members, source, params_of(request.query), None)
        return await answer(request, view, "members.html", inline_400=True)

    @routes.get("/api/v1/members")
    async def members_json(request: web.Request) -> web.StreamResponse:
        params = params_of(request.query)
        profile = params.pop("profile", None)
        view = partial(
            views.members, source, params, profile if isinstance(profile, str) and profile else None
        )
        return await answer(request, view, None)

    @routes.get("/gateways/{id}")
    async def gateway_page(request: web.Request) -> web.StreamResponse:
        view = partial(views.gateway, source, request.match_info["id"])
        return await answer(request, view, "gateway.html")

    @routes.get("/api/v1/gateways/{id}")
    async def gateway_json(request: web.Request) -> web.StreamResponse:
        view = partial(views.gateway, source, request.match_info["id"])
        return await answer(request, view, None)

    @routes.get("/commits")
    async def commits_page(request: web.Request) -> web.StreamResponse:
        view = partial(views.commits, source, params_of(request.query))
        return await answer(request, view, "commits.html")

    @routes.get("/api/v1/commits")
    async def commits_json(request: web.Request) -> web.StreamResponse:
        view = partial(views.commits, source, params_of(request.query))
        return await answer(request, view, None)

    @routes.get("/static/{name}")
    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        kind = STATIC.get(name)
        if kind is None:
            raise web.HTTPNotFound()
        response = web.Response(body=_asset(name), content_type=kind)
        response.headers["Cache-Control"] = "public, max-age=300"
        return response


def _timed(response: web.Response, started: float) -> None:
    """``Server-Timing: app;dur=MS``: the view and its rendering (the benchmark reads it; so can
    a browser's developer tools)."""
    response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"


_ASSETS: dict[str, bytes] = {}


def _asset(name: str) -> bytes:
    if name not in _ASSETS:
        _ASSETS[name] = (
            resources.files("reconciler.daemon.console").joinpath("static", name).read_bytes()
        )
    return _ASSETS[name]


def _request_facts(request: web.Request) -> dict[str, Any]:
    """What a template needs of the request: its path and query (for links that keep the filter)."""
    return {"path": request.path, "query": params_of(request.query)}


def cross_site(request: web.Request) -> str | None:
    """Why a state-changing request comes from another site (``None``: it does not).

    A request whose ``Origin`` names another host than ``Host``, or that a browser
    marks ``Sec-Fetch-Site: cross-site``/``same-site``, is refused.  Scripts and
    curl send neither header and are judged by their token alone.
    """
    site = request.headers.get("Sec-Fetch-Site", "")
    if site in {"cross-site", "same-site"}:
        return f"cross-site request refused (Sec-Fetch-Site: {site})"
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    if origin == "null":
        return "cross-site request refused (Origin: null)"
    given = urllib.parse.urlsplit(origin).netloc.lower()
    if given != request.headers.get("Host", "").lower():
        return "cross-site request refused: Origin does not name this daemon"
    return None
