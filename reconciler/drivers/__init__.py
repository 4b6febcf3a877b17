"""The ``drivers`` layer: how the reconciler talks to a head-end system (DESIGN.md section 6).

- :mod:`~reconciler.drivers.base`: the driver interface the engine uses, and its values.
- :mod:`~reconciler.drivers.http`: the driver for the head-end's JSON-over-HTTP API.
- ``openapi.yaml``: that API as an OpenAPI 3.1 document (package data).
- :mod:`~reconciler.drivers.simulator` and :mod:`~reconciler.drivers.fleet`: a head-end
  simulator serving the same API over a fleet of simulated gateways, for tests,
  benchmarks, ``reconciler simulate`` and the demo.

Drivers import ``model``, ``loading`` and :mod:`reconciler.errors`; the engine,
the daemon and the commands import drivers.  Other drivers (OCPP, MQTT) implement
:class:`~reconciler.drivers.base.Driver` beside the HTTP one.
"""
