"""The ``members`` layer: member rows, counts per status, and the Magic Search query engine.

Pure (no I/O): one implementation used by ``reconciler status``/``search``/``assign``,
the daemon's reports, its HTTP API and its report page.  ``rows`` (members and their
one JSON shape), ``counts``, ``query`` (the parser), ``matching`` (the engine),
``listing`` (what a view lists), ``retrying`` (the Retry Upload rule); ``search``
re-exports them in one namespace.
"""
