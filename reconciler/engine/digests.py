"""Keyed hashes of secret values, as the planner compares them.

Called by the commands (``apply``, ``plan --state``) and by the daemon: both
plan against a store, and a secret is compared by its keyed hash under that
store's key, never by its value.  The key is kept apart from the digests (a
key file beside the store, :mod:`reconciler.store.keys`), so a copy of the
database alone cannot test guesses of a secret.  :func:`secret_digest` creates the key when
the store has none (a writable store); :func:`key_digest` takes a key read
without writing (:meth:`~reconciler.store.base.StateStore.stored_secret_key`,
``None``: no key yet), for read-only callers.
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.plan.values import SecretDigest, keyed_digest, no_secrets
from reconciler.store.base import StateStore


def secret_digest(store: StateStore, resolve: Callable[[str], str | None]) -> SecretDigest:
    """Keyed hashes of secret values under the store's key (unresolvable: ``None``)."""
    return key_digest(store.secret_key(), resolve)


def key_digest(key: bytes | None, resolve: Callable[[str], str | None]) -> SecretDigest:
    """Keyed hashes of secret values under ``key``; without a key, secrets compare by name only."""
    if key is None:
        return no_secrets

    def digest(name: str) -> str | None:
        value = resolve(name)
        return None if value is None else keyed_digest(key, value)

    return digest
