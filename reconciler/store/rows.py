"""A gateway's row in either store backend: its columns, and the row read back as a state.

The SQLite store (:mod:`reconciler.store.sqlite`) and the PostgreSQL store
(:mod:`reconciler.store.postgres_rows`) keep the same columns in the same
order; :func:`state_of` and :func:`summary_of` turn a row back into an
:class:`~reconciler.model.state.AppliedGateway`, with the backend's own
``parse`` for the configuration columns (inline JSON, or ``@HASH`` of a
configuration stored once).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from reconciler.model.state import AppliedGateway, Status

COLUMNS = (
    "gateway_id, type, firmware, profile, status, accepted, target, reason, job_id, attempts, "
    "commit_sha, updated_at, mismatch, skipped, job_key, rollout_id, send, reboot_pending"
)
"""The columns of an :class:`AppliedGateway`, in :func:`state_of`'s order."""

SUMMARY_COLUMNS = (
    "gateway_id, type, firmware, profile, status, reason, job_id, attempts, "
    "commit_sha, updated_at, skipped, rollout_id, reboot_pending"
)
"""The columns of a state without its configurations, in :func:`summary_of`'s order."""

Parse = Callable[[str], Any]
"""A configuration column's text -> its value (the backend's: inline or by hash)."""


def state_of(row: Sequence[Any], parse: Parse) -> AppliedGateway:
    """The state of a row of :data:`COLUMNS`."""
    (
        gateway_id, gateway_type, firmware, profile, status, accepted, target, reason,
        job_id, attempts, commit, updated_at, mismatch, skipped, job_key, rollout_id,
        send, reboot_pending,
    ) = row  # fmt: skip
    return AppliedGateway(
        gateway_id=gateway_id,
        type=sys.intern(gateway_type),
        firmware=shared(firmware),
        profile=shared(profile),
        status=Status(status),
        accepted=parse(accepted),
        target=parse(target),
        reason=reason,
        job_id=job_id,
        attempts=attempts,
        commit=shared(commit),
        updated_at=updated_at,
        mismatch=parse(mismatch),
        skipped=tuple(parse(skipped)),
        job_key=job_key,
        rollout_id=rollout_id,
        send=parse(send),
        reboot_pending=tuple(parse(reboot_pending)),
    )


def summary_of(row: Sequence[Any], parse: Parse) -> AppliedGateway:
    """The state of a row of :data:`SUMMARY_COLUMNS`: ``accepted``, ``target``, ``send`` and
    ``mismatch`` left empty (what a members row shows)."""
    gateway_id, gateway_type, firmware, profile, status, reason = row[:6]
    job_id, attempts, commit, updated_at, skipped, rollout_id, pending = row[6:]
    return AppliedGateway(
        gateway_id=gateway_id,
        type=gateway_type,
        firmware=firmware,
        profile=profile,
        status=Status(status),
        reason=reason,
        job_id=job_id,
        attempts=attempts,
        commit=commit,
        updated_at=updated_at,
        skipped=tuple(parse(skipped)),
        rollout_id=rollout_id,
        reboot_pending=tuple(parse(pending)),
    )


def shared(value: str | None) -> str | None:
    """One string object per distinct type, firmware, profile and commit among the states read:
    a scan of 100,000 states (planning a full rollout) held ~250 bytes a gateway of copies."""
    return sys.intern(value) if value is not None else None
