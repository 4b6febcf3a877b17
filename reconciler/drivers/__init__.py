"""The ``drivers`` layer: clients of the head-end API (docs/reference/headend-api.md).

- :mod:`~reconciler.drivers.base`: the driver interface the engine uses, and its values.
- :mod:`~reconciler.drivers.http`: the driver for the head-end's JSON-over-HTTP API.
- :mod:`~reconciler.drivers.bodies`: the API's request and answer bodies, checked
  (shared with the servers of the API in :mod:`reconciler.headends`).
- ``openapi.yaml``: that API as an OpenAPI 3.1 document (package data).

Drivers import ``model``, ``loading`` and :mod:`reconciler.errors`; the engine,
the daemon and the commands import drivers.  A client of another vendor's API
would be a second :class:`~reconciler.drivers.base.Driver` beside the HTTP one.
"""
