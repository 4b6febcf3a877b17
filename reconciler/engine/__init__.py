"""Executes plans: bounded concurrency, per-profile policy, statuses, retries, read-back.

:mod:`reconciler.engine.rollouts` holds the :class:`~reconciler.engine.rollouts.Engine`
that the ``apply`` and ``retry`` commands and the daemon drive; it talks to a
head-end only through the driver interface (:mod:`reconciler.drivers.base`)
and writes every status change to the store before the next step.
"""
