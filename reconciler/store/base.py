"""The state store interface: what the engine and the commands need from durable storage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from reconciler.model.state import AppliedGateway, Status


@dataclass(frozen=True, slots=True)
class Rollout:
    """One rollout: the changes of one commit to one profile's members."""

    rollout_id: int
    commit: str | None
    profile: str | None
    started_at: float
    finished_at: float | None
    state: str
    """running | finished | aborted"""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Transition:
    """One status change of one gateway, kept for audit and metrics."""

    gateway_id: str
    status: Status
    at: float
    reason: str = ""
    rollout_id: int | None = None


class StateStore(Protocol):
    """Durable per-gateway state.  Every write is one transaction: a crash leaves each write whole or absent."""

    def applied(self) -> dict[str, AppliedGateway]:
        """Every managed gateway's state."""
        ...

    def get(self, gateway_id: str) -> AppliedGateway | None: ...

    def count(self) -> int:
        """How many gateways the store tracks."""
        ...

    def stored_ids(self) -> list[str]:
        """The ids of every gateway the store tracks (unordered)."""
        ...

    def changed_since(self, at: float) -> list[str]:
        """The ids of the gateways whose state was written at or after ``at`` (``updated_at``)."""
        ...

    def summaries(self, gateway_ids: Sequence[str]) -> dict[str, AppliedGateway]:
        """These gateways' states (those the store has) without their configurations.

        ``accepted``, ``target``, ``send`` and ``mismatch`` are left empty: what a
        members row shows, at a fraction of the cost of :meth:`get` (the report pages).
        """
        ...

    def write(self, states: Sequence[AppliedGateway], *, rollout_id: int | None = None) -> None:
        """Insert or replace these gateways' states, and record a transition for each status change.

        ``rollout_id``, when given, overrides each state's own ``rollout_id``."""
        ...

    def forget(self, gateway_ids: Sequence[str]) -> None:
        """Stop tracking gateways that left management (their reset was accepted)."""
        ...

    def start_rollout(self, commit: str | None, profile: str | None, at: float) -> int: ...

    def finish_rollout(self, rollout_id: int, state: str, at: float, reason: str = "") -> None: ...

    def rollouts(self, *, active_only: bool = False) -> list[Rollout]: ...

    def transitions(
        self, gateway_id: str | None = None, *, limit: int = 1000
    ) -> list[Transition]: ...

    def prune_transitions(self, keep_per_gateway: int = 50) -> int:
        """Drop all but the newest transitions of each gateway (a bounded history)."""
        ...

    def secret_key(self) -> bytes:
        """The key of the keyed hash that secret values are compared by (created once per store).

        Never kept beside the digests: a copy of the stored data alone must not
        let anyone test guesses of a secret (SQLite: a key file,
        :mod:`reconciler.store.keys`)."""
        ...

    def stored_secret_key(self) -> bytes | None:
        """The key of :meth:`secret_key` if one was created, else ``None``; never writes.

        For read-only callers (``reconciler plan``); without a key, no plan
        against this store has hashed a secret yet (or the key is not
        readable here, as in CI: secrets then compare by name)."""
        ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def close(self) -> None:
        """Close the store; a writable one gives up its writer lock (one writer per store)."""
        ...
