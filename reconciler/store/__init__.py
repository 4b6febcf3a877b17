"""Durable applied state and rollout statuses.

:class:`~reconciler.store.base.StateStore` is the interface the planner's
callers and the engine use; :mod:`reconciler.store.sqlite` is the default
backend, its schema and migrations are in :mod:`reconciler.store.migrations`.
Open a store with :func:`open_store` (:mod:`reconciler.store.opening`), read
one in one go with :func:`reconciler.store.reading.read_state`.  A PostgreSQL
backend (several replicas) implements the same protocol without touching the
planner or the engine.
"""

from reconciler.store.opening import open_store

__all__ = ["open_store"]
