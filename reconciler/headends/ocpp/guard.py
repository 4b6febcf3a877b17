"""Hostile input at the OCPP door: frame checks, CALLERRORs for junk, a per-connection message budget.

Called by :mod:`.sessions` for every frame a charge point sends, before the
``ocpp`` library sees it.  Pure and O(frame): no I/O, no task.

- :func:`parse` turns a text frame into ``(kind, unique_id, action, payload)``,
  or a :class:`Refusal` saying which CALLERROR to answer (messageId ``"-1"``
  when the id cannot be read), as OCPP-J 1.6 section 4.2.3 and 2.0.1 part 4
  section 4.2.3 name the codes: 1.6 ``FormationViolation``/``ProtocolError``;
  2.0.1 ``RpcFrameworkError``/``FormatViolation``/``MessageTypeNotSupported``.
- :func:`error_code` renames the ``ocpp`` library's codes to the 1.6 spelling.
- :class:`Budget` is a token bucket (``rate`` messages per second, ``burst``
  at once): a CALL beyond it is answered with a CALLERROR; a client that
  keeps going (``strikes`` beyond ten seconds' worth of budget) is closed
  with 1008 by the session.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from reconciler.headends.ocpp.wire import compact_json

MAX_ID_LENGTH = 36
"""OCPP-J message ids are at most 36 characters; a longer one is treated as unreadable."""

_V16_CODES = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
    "RpcFrameworkError": "FormationViolation",
    "MessageTypeNotSupported": "ProtocolError",
}
"""The 2.0.1 (and ``ocpp`` library) spelling -> the OCPP 1.6 one."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A frame that is no acceptable OCPP-J message: answer ``[4, unique_id, code, description, {}]``."""

    unique_id: str
    code: str
    description: str
    answer: bool = True
    """``False``: ignore the frame (a malformed CALLRESULT or CALLERROR is never answered)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """A well-formed OCPP-J message: kind 2 (CALL), 3 (CALLRESULT) or 4 (CALLERROR)."""

    kind: int
    unique_id: str
    action: str
    payload: Any
    """CALL/CALLRESULT: the payload; CALLERROR: ``(code, description)``."""


def error_code(code: str, protocol: str) -> str:
    """``code`` as the charger's protocol spells it."""
    return _V16_CODES.get(code, code) if protocol == "ocpp1.6" else code


def call_error(unique_id: str, code: str, description: str, protocol: str) -> str:
    """The text of a CALLERROR frame (no details: never echo what the charger sent)."""
    return compact_json([4, unique_id, error_code(code, protocol), description[:200], {}])


def _id(message: list[Any]) -> str | None:
    if len(message) < 2:
        return None
    unique_id = message[1]
    if not isinstance(unique_id, str) or not 0 < len(unique_id) <= MAX_ID_LENGTH:
        return None
    return unique_id


def parse(text: str) -> Frame | Refusal:
    """One text frame as a :class:`Frame`, or the :class:`Refusal` to answer it with."""
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        return Refusal("-1", "RpcFrameworkError", "the message is not JSON")
    if not isinstance(message, list) or not message:
        return Refusal("-1", "RpcFrameworkError", "the message is not an OCPP-J array")
    kind = message[0]
    unique_id = _id(message)
    if type(kind) is not int:
        return Refusal(unique_id or "-1", "RpcFrameworkError", "MessageTypeId is not a number")
    if unique_id is None:
        return Refusal("-1", "RpcFrameworkError", "the message id cannot be read")
    if kind == 2:
        if len(message) != 4 or not isinstance(message[2], str) or not message[2]:
            return Refusal(unique_id, "FormatViolation", "a CALL is [2, id, action, payload]")
        if not isinstance(message[3], dict):
            return Refusal(unique_id, "FormatViolation", "the payload is not a JSON object")
        return Frame(2, unique_id, message[2], message[3])
    if kind == 3:
        if len(message) != 3 or not isinstance(message[2], dict):
            return Refusal(unique_id, "FormatViolation", "malformed CALLRESULT", answer=False)
        return Frame(3, unique_id, "", message[2])
    if kind == 4:
        if len(message) < 4 or not isinstance(message[2], str):
            return Refusal(unique_id, "FormatViolation", "malformed CALLERROR", answer=False)
        description = message[3] if isinstance(message[3], str) else ""
        return Frame(4, unique_id, "", (message[2][:64], description[:200]))
    return Refusal(unique_id, "MessageTypeNotSupported", f"MessageTypeId {kind} is not supported")


class Budget:
    """A token bucket of messages per connection, and the strikes of a client that ignores it."""

    __slots__ = ("burst", "rate", "stamp", "strikes", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.strikes = 0.0
        self.stamp = time.monotonic()

    def take(self) -> bool:
        """Spend one message; ``False`` when over budget (a strike is counted)."""
        now = time.monotonic()
        elapsed = now - self.stamp
        self.stamp = now
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.strikes = max(0.0, self.strikes - elapsed * self.rate)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.strikes += 1.0
        return False

    @property
    def flooding(self) -> bool:
        """More refused messages than ten seconds of budget: close the connection."""
        return self.strikes > 10 * max(self.rate, 1.0)
