"""Durable applied state and rollout statuses.

:class:`~reconciler.store.base.StateStore` is the interface the planner's
callers and the engine use; :mod:`reconciler.store.sqlite` is the default
backend, its schema and migrations are in :mod:`reconciler.store.migrations`.
Open a store with :func:`open_store` (:mod:`reconciler.store.opening`), read
one in one go with :func:`reconciler.store.reading.read_state`.  The
PostgreSQL backend (:mod:`reconciler.store.postgres`, a ``postgresql://`` URL)
implements the same protocol for several replicas sharing one database, and
:class:`~reconciler.store.base.SharedStore` on top (claims, leases, fencing).
"""

from reconciler.store.opening import open_store

__all__ = ["open_store"]
