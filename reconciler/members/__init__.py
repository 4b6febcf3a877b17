"""The ``members`` layer: member rows, counts per status, and the Magic Search query engine.

Pure (no I/O): one implementation used by ``reconciler status``/``search``, the
daemon's reports, its HTTP API and its console.
"""
