"""Durable applied state and rollout statuses (DESIGN.md section 5).

:class:`~reconciler.store.base.StateStore` is the interface the planner's
callers and the engine use; :mod:`reconciler.store.sqlite` is the default
backend.  A PostgreSQL backend (several replicas) implements the same
protocol without touching the planner or the engine.
"""
