"""The daemon (docs/reference/daemon.md): git watch, reconcile loop, reports, metrics, HTTP.

``reconciler run`` and ``reconciler demo`` (the ``cli`` layer) call
:func:`reconciler.daemon.running.serve` / :class:`~reconciler.daemon.running.Daemon`.
Modules: ``settings`` (what can be configured), ``watching`` (new commits),
``reconciling`` (the loop), ``rollout`` (the rollout task), ``readback``
(read-back and inventory changes), ``retry`` (Retry Upload), ``context`` (what
the tasks share), ``status`` (the one status record that reports, endpoints,
metrics and the demo read), ``reports`` and ``pages`` (report.json, REPORT.md,
report.html), ``metrics``, ``endpoints`` (HTTP), ``logs``, ``running`` (wiring
and signals), ``demo``.
"""
