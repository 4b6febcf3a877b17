"""Applied state of a gateway as the store keeps it (docs/reference/desired-state.md); pure data.

The planner reads it, the store persists it, the engine moves it through the
statuses.  Secret values never appear here in plain text: a secret parameter
is kept as ``{"secret": NAME, "digest": HMAC}`` (see :mod:`reconciler.plan.values`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Rollout status of one gateway; durable."""

    INITIAL = "Initial"
    """Recorded here; the head-end has not acknowledged the job yet."""
    REQUESTED = "Requested"
    """The head-end acknowledged the job."""
    SENT = "Sent"
    """The head-end sent the configuration to the gateway."""
    ACCEPTED = "Accepted"
    """The gateway applied it."""
    DECLINED = "Declined"
    """Declined by head-end or gateway, or retries exhausted; the reason is kept."""
    MISMATCH = "Mismatch"
    """The live configuration differs from what the gateway accepted."""


ACTIVE = frozenset({Status.REQUESTED, Status.SENT})
"""Statuses of a rollout in progress: membership changes wait until it ends."""

Config = Mapping[str, Any]
"""A flat configuration, ``Key -> value`` as it travels on the wire (keys without sections)."""


@dataclass(frozen=True, slots=True)
class AppliedGateway:
    """What the store knows about one managed gateway."""

    gateway_id: str
    type: str
    firmware: str | None
    profile: str | None
    """The profile the gateway was last rolled out under (``None``: subsettings only)."""
    status: Status
    accepted: Config = field(default_factory=dict)
    """The last configuration the gateway accepted (managed keys only); empty if none yet."""
    target: Config = field(default_factory=dict)
    """The managed configuration once the current job is accepted (becomes ``accepted``)."""
    reason: str = ""
    job_id: str | None = None
    attempts: int = 0
    commit: str | None = None
    updated_at: float = 0.0
    mismatch: Config = field(default_factory=dict)
    """Live values that differ from ``accepted`` (status Mismatch)."""
    skipped: tuple[str, ...] = ()
    job_key: str | None = None
    """The idempotency key of the current job, stored before it is submitted."""
    rollout_id: int | None = None
    """The rollout the current job belongs to (its abort state stops a resume)."""
    send: Config = field(default_factory=dict)
    """What the current job sends: the keys that differ, and resets to firmware defaults."""
    reboot_pending: tuple[str, ...] = ()
    """Accepted keys that take effect at the device's next boot ("reboot pending"); read-back
    does not count them as Mismatch before that boot."""
