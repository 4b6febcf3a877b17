"""Executes plans: bounded concurrency, per-profile policy, statuses, retries, read-back.

:mod:`reconciler.engine.rollouts` holds the :class:`~reconciler.engine.rollouts.Engine`
that the ``apply`` and ``retry`` commands and the daemon drive (its public API;
``Outcome``, ``GroupProgress`` and ``NothingToRetry`` are importable there).
Beneath it: :mod:`~reconciler.engine.opening` (Initial states, pure),
:mod:`~reconciler.engine.runner` (the one I/O loop),
:mod:`~reconciler.engine.decisions` (admission, status, resubmission, timeout
and abort decisions, pure), :mod:`~reconciler.engine.progress` (counts),
:mod:`~reconciler.engine.readback` (drift, pure),
:mod:`~reconciler.engine.stalls` (lost jobs, stalls) and
:mod:`~reconciler.engine.jobs` (keys, secrets on the wire and their checks).  The engine talks
to a head-end only through the driver interface (:mod:`reconciler.drivers.base`)
and writes every status change to the store before the next step.
"""
