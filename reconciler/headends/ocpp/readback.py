"""Read-back for ``POST /api/v1/gateways:config``: the live values of the keys the head-end set.

Called by :mod:`.northbound`.  Per connected charger it asks only for the keys
this head-end set through jobs (:attr:`~.records.Charger.keys_set`), minus
write-only and secret keys (:func:`~.callplans.readable_keys`): never a
whole-device dump.  Chargers are read concurrently (at most
:data:`CONCURRENCY` at once); each read waits its turn on its charger's
connection.  A charger that is disconnected, unknown, or does not answer
within :data:`READ_BUDGET_S` (or the call timeout, if shorter) is left out.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from reconciler.errors import OcppError
from reconciler.headends.ocpp import calls
from reconciler.headends.ocpp.callplans import readable_keys

if TYPE_CHECKING:
    from reconciler.headends.ocpp.hub import Hub

CONCURRENCY = 200
READ_BUDGET_S = 8.0
"""Time one charger's read-back may take: inside the HTTP driver's default 10 s timeout."""


async def read_configs(hub: Hub, ids: list[str]) -> list[dict[str, Any]]:
    """``configs`` of the ``gateways:config`` answer, in request order (missing ones left out)."""
    slots = asyncio.Semaphore(CONCURRENCY)
    budget = min(READ_BUDGET_S, hub.options.call_timeout_s)

    async def one(ident: str) -> dict[str, Any] | None:
        session = hub.sessions.get(ident)
        if session is None or session.closed:
            return None
        charger = session.charger
        syntax = hub.syntax(charger)
        keys = [
            key
            for key in readable_keys(sorted(charger.keys_set), syntax)
            if (spec := syntax.get(key)) is None or spec.type != "secret"
        ]
        parameters: dict[str, Any] = {}
        if keys:
            async with slots:
                try:
                    parameters = await asyncio.wait_for(
                        calls.read_values(hub, session, keys), budget
                    )
                except (OcppError, TimeoutError):
                    return None
        return {
            "gateway_id": ident,
            "firmware": charger.firmware or "unknown",
            "parameters": parameters,
        }

    unique = list(dict.fromkeys(ids))
    results = await asyncio.gather(*(one(ident) for ident in unique))
    return [result for result in results if result is not None]
