"""The ``editing`` layer: changes to config files, keeping comments and layout.

- :mod:`~reconciler.editing.roundtrip`: round-trip YAML (ruamel) reading and writing;
- :mod:`~reconciler.editing.edits`: typed edits of profiles and gateways files.

Used by the editing commands (``profile new``, ``assign``, ``unassign``, ``set``).
"""
