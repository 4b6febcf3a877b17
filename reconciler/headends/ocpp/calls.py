"""The head-end's own OCPP exchanges with one charger: set values, read them back, reset, read limits.

Called by the job runner (:mod:`.jobs`) and by read-back (:mod:`.readback`);
every call goes through :meth:`~.sessions.Session.request` (one outstanding
call per connection).  What to send and how to read the answers is pure and
lives in :mod:`.callplans`; this module only sequences the calls and turns
CALLERRORs and timeouts into per-key rejections.  A charger that disconnects
raises :class:`~reconciler.errors.ChargerGoneError` to the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from reconciler.errors import ChargerCallError, ChargerTimeoutError
from reconciler.headends.ocpp import callplans
from reconciler.headends.ocpp.callplans import verdict
from reconciler.headends.ocpp.records import Limits
from reconciler.headends.ocpp.wire import from_wire, key_of

if TYPE_CHECKING:
    from reconciler.headends.ocpp.hub import Hub
    from reconciler.headends.ocpp.sessions import Session

Answered = Callable[[str, str, str], None]
"""``(key, verdict, reason)``: one key's answer, recorded by the caller."""

V16_READ_CHUNK = 20
"""Keys per GetConfiguration (chargers commonly take at least GetConfigurationMaxKeys = 20)."""

_LIMIT_KEYS = (
    ("ItemsPerMessage", "SetVariables"),
    ("BytesPerMessage", "SetVariables"),
    ("ItemsPerMessage", "GetVariables"),
    ("BytesPerMessage", "GetVariables"),
)


def _failure(exc: ChargerCallError | ChargerTimeoutError, timeout_s: float) -> str:
    if isinstance(exc, ChargerCallError):
        return f"the charger answered CALLERROR {exc.code}"
    return f"no answer within {timeout_s:g} s"


async def set_values(
    hub: Hub, session: Session, values: Mapping[str, Any], answered: Answered
) -> None:
    """Set ``values`` on the charger, reporting each key's verdict to ``answered``."""
    syntax = hub.syntax(session.charger)
    timeout = hub.options.call_timeout_s
    if session.protocol == "ocpp1.6":
        for call in callplans.v16_calls(values, syntax):
            key = call["key"]
            try:
                answer = await session.request("ChangeConfiguration", call)
            except (ChargerCallError, ChargerTimeoutError) as exc:
                answered(key, "rejected", _failure(exc, timeout))
                continue
            status = callplans.status_of(answer)
            if status is None:
                answered(key, "rejected", "the charger's answer has no status")
            else:
                answered(key, *verdict(status))
        return
    limits = await read_limits(hub, session)
    batches = callplans.v201_batches(
        values, syntax, items_per_message=limits.set_items, bytes_per_message=limits.set_bytes
    )
    for batch in batches:
        payload = {"setVariableData": [entry for _, entry in batch]}
        try:
            answer = await session.request("SetVariables", payload)
        except (ChargerCallError, ChargerTimeoutError) as exc:
            for key, _ in batch:
                answered(key, "rejected", _failure(exc, timeout))
            continue
        statuses = callplans.v201_set_results(batch, answer)
        for key, _ in batch:
            status = statuses.get(key)
            if status is None:
                answered(key, "rejected", "the charger's answer has no result for this key")
            else:
                answered(key, *verdict(status))


async def reset(session: Session) -> str:
    """Reset the charger when idle (1.6 ``Soft``, 2.0.1 ``OnIdle``); the answer's status."""
    kind = "Soft" if session.protocol == "ocpp1.6" else "OnIdle"
    answer = await session.request("Reset", {"type": kind})
    return callplans.status_of(answer) or "no status"


async def read_limits(hub: Hub, session: Session) -> Limits:
    """A 2.0.1 charger's DeviceDataCtrlr limits: read once (cached durably), defaults if unknown."""
    charger = session.charger
    if charger.limits is not None:
        return charger.limits
    entries = [
        {"component": {"name": "DeviceDataCtrlr"}, "variable": {"name": var, "instance": inst}}
        for var, inst in _LIMIT_KEYS
    ]
    try:
        answer = await session.request("GetVariables", {"getVariableData": entries})
    except ChargerTimeoutError:
        return Limits()  # maybe busy: ask again next time
    except ChargerCallError:
        answer = {}
    batch = [(key_of("DeviceDataCtrlr", var, inst), entry) for (var, inst), entry in zip(_LIMIT_KEYS, entries, strict=True)]  # fmt: skip
    found = callplans.v201_get_values(batch, answer)
    numbers = []
    for key, _ in batch:
        text = found.get(key, "")
        numbers.append(int(text) if text.strip().isdigit() and int(text) > 0 else None)
    charger.limits = Limits(*numbers)
    hub.store.charger_changed(charger)
    return charger.limits


async def read_values(hub: Hub, session: Session, keys: list[str]) -> dict[str, Any]:
    """The charger's current values of ``keys`` as typed JSON values; unknown keys left out."""
    syntax = hub.syntax(session.charger)
    raw: dict[str, str] = {}
    if session.protocol == "ocpp1.6":
        for start in range(0, len(keys), V16_READ_CHUNK):
            chunk = keys[start : start + V16_READ_CHUNK]
            answer = await session.request("GetConfiguration", {"key": chunk})
            raw.update(callplans.v16_values(chunk, answer))
    else:
        limits = await read_limits(hub, session)
        batches = callplans.get_batches(
            keys, syntax, items_per_message=limits.get_items, bytes_per_message=limits.get_bytes
        )
        for batch in batches:
            payload = {"getVariableData": [entry for _, entry in batch]}
            answer = await session.request("GetVariables", payload)
            raw.update(callplans.v201_get_values(batch, answer))
    return {key: from_wire(syntax.get(key), text) for key, text in raw.items()}
