"""Keyed hashes of secret values, as the planner compares them (DESIGN.md section 3).

Called by the commands (``apply``, ``plan --state``) and by the daemon: both
plan against a store, and a secret is compared by its keyed hash under that
store's key, never by its value.
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.plan.values import SecretDigest, keyed_digest
from reconciler.store.base import StateStore


def secret_digest(store: StateStore, resolve: Callable[[str], str | None]) -> SecretDigest:
    """Keyed hashes of secret values under the store's key (unresolvable: ``None``)."""
    key = store.secret_key()

    def digest(name: str) -> str | None:
        value = resolve(name)
        return None if value is None else keyed_digest(key, value)

    return digest
