"""The control API of the simulated charge points: look at them, inject faults, plug cars in.

Served by ``reconciler ocpp simulate --control HOST:PORT`` and by
:func:`reconciler.testing.chargers.running_chargers`.  HTTP JSON over aiohttp,
meant for loopback; there is no token (it is a test tool).  No answer carries a
secret value: passwords show as ``has_password`` only.

- ``GET /status`` -> ``{"chargers", "connected", "booted", "busy"}``
- ``GET /counters`` -> ``{"total": {NAME: n}, "chargers": {ID: {NAME: n}}}``: CALLs
  received per action (``SetVariables.entries``/``GetVariables.entries`` count
  entries), ``connects``, ``boots`` (power-ups), ``boot_notifications``,
  ``disconnects``, ``reboots``, ``heartbeats_sent``, ``answers_dropped``, ``transactions``
- ``GET /chargers`` -> ``{"chargers": [ID, ...]}``
- ``GET /chargers/{id}`` -> id, protocol, type, vendor, model, firmware, connected,
  busy, transaction, reset_scheduled, has_password, parameters (readable live values
  as JSON values of their catalog type), pending_reboot, faults, counters
- ``POST /chargers/{id}/transaction`` ``{"active": true|false}`` -> ``{"changed": bool}``
- ``POST /chargers/{id}/disconnect`` ``{"for_s": 1.0}`` (no reboot, no BootNotification)
- ``POST /chargers/{id}/reboot`` ``{}`` (power cycle: pending values apply, BootNotification)
- ``POST /chargers/{id}/firmware`` ``{"version": "2.0.0"}`` (update and reboot)
- ``POST /chargers/{id}/drift`` ``{"parameters": {KEY: VALUE}}`` (no OCPP call)
- ``POST /faults`` ``{"slow_s": 2.0, "drop_answers": 1, "chargers": [ID, ...] | "share": 0.1}``
  -> ``{"chargers": [ID, ...]}`` (the chargers changed; neither list nor share: all)

Unknown charger: 404; a malformed body: 422 ``{"error": ...}``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from reconciler.headends.ocpp.chargepoint import SimCharger
from reconciler.headends.ocpp.simfleet import Fleet

FLEET = web.AppKey("fleet", Fleet)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _problem(status: int, text: str) -> web.Response:
    return web.json_response({"error": text}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise web.HTTPUnprocessableEntity(
            text=json.dumps({"error": "body is no JSON"}), content_type="application/json"
        ) from None
    if not isinstance(body, dict):
        raise web.HTTPUnprocessableEntity(
            text=json.dumps({"error": "body must be an object"}), content_type="application/json"
        )
    return body


def _charger(request: web.Request) -> SimCharger:
    charger = request.app[FLEET].chargers.get(request.match_info["id"])
    if charger is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": "unknown charger"}), content_type="application/json"
        )
    return charger


def _number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise web.HTTPUnprocessableEntity(
            text=json.dumps({"error": f"{name} must be a number >= 0"}),
            content_type="application/json",
        )
    return float(value)


async def status(request: web.Request) -> web.Response:
    return web.json_response(request.app[FLEET].status())


async def counters(request: web.Request) -> web.Response:
    return web.json_response(request.app[FLEET].counters())


async def list_chargers(request: web.Request) -> web.Response:
    return web.json_response({"chargers": sorted(request.app[FLEET].chargers)})


async def one_charger(request: web.Request) -> web.Response:
    return web.json_response(_charger(request).describe())


async def transaction(request: web.Request) -> web.Response:
    charger, body = _charger(request), await _body(request)
    active = body.get("active")
    if not isinstance(active, bool):
        return _problem(422, "active must be true or false")
    changed = await (charger.start_transaction() if active else charger.stop_transaction())
    return web.json_response({"changed": changed, "busy": charger.busy})


async def disconnect(request: web.Request) -> web.Response:
    charger, body = _charger(request), await _body(request)
    await charger.disconnect(_number(body, "for_s", 1.0))
    return web.json_response({"ok": True})


async def reboot(request: web.Request) -> web.Response:
    charger = _charger(request)
    await charger.reboot("PowerUp")
    return web.json_response({"ok": True})


async def firmware(request: web.Request) -> web.Response:
    charger, body = _charger(request), await _body(request)
    version = body.get("version")
    if not isinstance(version, str) or not 0 < len(version) <= 50:
        return _problem(422, "version must be a string of 1..50 characters")
    await charger.update_firmware(version)
    return web.json_response({"ok": True})


async def drift(request: web.Request) -> web.Response:
    charger, body = _charger(request), await _body(request)
    parameters = body.get("parameters")
    if not isinstance(parameters, dict) or not parameters:
        return _problem(422, "parameters must be a non-empty object")
    charger.store.drift(parameters)
    return web.json_response({"ok": True})


async def faults(request: web.Request) -> web.Response:
    fleet, body = request.app[FLEET], await _body(request)
    ids = body.get("chargers")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
        return _problem(422, "chargers must be a list of ids")
    share = _number(body, "share", 1.0) if "share" in body else None
    slow = _number(body, "slow_s", 0.0) if "slow_s" in body else None
    drop = int(_number(body, "drop_answers", 0)) if "drop_answers" in body else None
    chosen = fleet.set_faults(fleet.select(ids, share), slow_s=slow, drop_answers=drop)
    return web.json_response({"chargers": chosen})


def make_app(fleet: Fleet) -> web.Application:
    """The control API over ``fleet``."""
    app = web.Application()
    app[FLEET] = fleet
    app.router.add_get("/status", status)
    app.router.add_get("/counters", counters)
    app.router.add_get("/chargers", list_chargers)
    app.router.add_get("/chargers/{id}", one_charger)
    app.router.add_post("/chargers/{id}/transaction", transaction)
    app.router.add_post("/chargers/{id}/disconnect", disconnect)
    app.router.add_post("/chargers/{id}/reboot", reboot)
    app.router.add_post("/chargers/{id}/firmware", firmware)
    app.router.add_post("/chargers/{id}/drift", drift)
    app.router.add_post("/faults", faults)
    return app


@contextlib.asynccontextmanager
async def serving(fleet: Fleet, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve the control API; yields its base URL (``port`` 0 picks a free one)."""
    runner = web.AppRunner(make_app(fleet), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        yield f"http://{shown}:{bound_port}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def simulating(
    fleet: Fleet, control: tuple[str, int] | None = None
) -> AsyncIterator[str | None]:
    """Start ``fleet`` (and its control API when ``control`` is HOST, PORT); stop both on exit.

    Yields the control API's URL (``None`` without one).
    """
    fleet.start()
    try:
        if control is None:
            yield None
        else:
            async with serving(fleet, *control) as url:
                yield url
    finally:
        await fleet.stop()
