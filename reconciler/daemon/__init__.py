"""The daemon (DESIGN.md section 8): git watch, reconcile loop, reports, metrics, HTTP endpoints.

``reconciler run`` and ``reconciler demo`` (the ``cli`` layer) call
:func:`reconciler.daemon.running.serve`.  Modules: ``settings`` (what can be
configured), ``watching`` (new commits), ``reconciling`` (the loop),
``reports`` and ``pages`` (report.json, REPORT.md, report.html), ``metrics``,
``endpoints`` (HTTP), ``logs``, ``running`` (wiring and signals), ``demo``.
"""
