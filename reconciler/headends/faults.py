"""Fault injection of the head-end simulator: which fault, if any, a request or job gets.

Used by :mod:`reconciler.headends.simulator`; changed at run time through
``POST /_admin/faults``.  Rates are probabilities from 0 to 1 per request
(throttle, error, timeout) or per created job (decline); ``fail_next`` queues
faults for the next requests, in order, so a test can script an exact sequence.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.drivers.bodies import Malformed

FAULT_KINDS = ("throttle", "error", "timeout")
TimeoutMode = Literal["mixed", "hang", "drop"]


@dataclass
class Faults:
    """The fault rates in force (changed at run time by ``POST /_admin/faults``)."""

    decline_rate: float
    error_rate: float
    throttle_rate: float
    timeout_rate: float
    drift_rate: float
    retry_after_s: int
    hang_s: float
    timeout_mode: TimeoutMode
    fail_next: deque[str] = field(default_factory=deque)

    def draw(self, rng: random.Random) -> str | None:
        if self.fail_next:
            return self.fail_next.popleft()
        for kind, rate in (
            ("throttle", self.throttle_rate),
            ("error", self.error_rate),
            ("timeout", self.timeout_rate),
        ):
            if rate > 0 and rng.random() < rate:
                return kind
        return None

    def update(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            if name == "fail_next":
                if not isinstance(value, list) or not all(v in FAULT_KINDS for v in value):
                    raise Malformed(f"fail_next: expected a list of {', '.join(FAULT_KINDS)}")
                self.fail_next.extend(value)
            elif name == "timeout_mode":
                if value not in ("mixed", "hang", "drop"):
                    raise Malformed("timeout_mode: expected mixed, hang or drop")
                self.timeout_mode = value
            elif name in ("retry_after_s",) and type(value) is int and value >= 0:
                self.retry_after_s = value
            elif name.endswith(("_rate", "_s")) and name in self.__dataclass_fields__:
                if type(value) not in (int, float) or value < 0:
                    raise Malformed(f"{name}: expected a number >= 0")
                setattr(self, name, float(value))
            else:
                raise Malformed(f"unknown or invalid fault setting '{name}'")
