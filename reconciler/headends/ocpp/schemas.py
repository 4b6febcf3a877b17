"""OCPP message schemas: the ``ocpp`` library's JSON schemas, with a cache of verdicts.

Called by the head-end's sessions (:mod:`.sessions`, the chargers' own CALLs)
and by the simulated charge points (:mod:`.chargepoint`, the head-end's CALLs).
Validation with ``jsonschema`` costs 100-300 us per message (the 2.0.1 schemas
resolve ``$ref`` at every level) and was the largest cost of a simulated
charger (profiled with 4,000 chargers).  Fleets send the same payloads over
and over (the same ChangeConfiguration to thousands of chargers), so each
verdict is kept, keyed by the protocol, the action and the payload's
canonical JSON, in a bounded LRU: identical payloads are checked once, and
every payload is still checked exactly as the library checks it.
"""

# The ocpp library ships no type information.
# mypy: disable-error-code="import-untyped"

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, _validate_payload

from reconciler.headends.ocpp.wire import canonical_json

CACHE_SIZE = 4096
"""Verdicts kept (each a payload of at most a few hundred bytes)."""
CACHEABLE_BYTES = 2048
"""Larger payloads are validated every time (they are rare and seldom repeat)."""

_verdicts: OrderedDict[tuple[str, str, str], OCPPError | None] = OrderedDict()


def check_call(unique_id: str, action: str, payload: Any, version: str) -> None:
    """Raise the library's :class:`OCPPError` when the CALL's payload breaks its schema."""
    try:
        text = canonical_json(payload)
    except (TypeError, ValueError):
        text = ""
    key = (version, action, text)
    if text and len(text) <= CACHEABLE_BYTES and key in _verdicts:
        _verdicts.move_to_end(key)
        found = _verdicts[key]
        if found is not None:
            raise found
        return
    verdict: OCPPError | None = None
    try:
        _validate_payload(Call(unique_id, action, payload), version)
    except OCPPError as exc:
        verdict = exc
    if text and len(text) <= CACHEABLE_BYTES:
        _verdicts[key] = verdict
        if len(_verdicts) > CACHE_SIZE:
            _verdicts.popitem(last=False)
    if verdict is not None:
        raise verdict
