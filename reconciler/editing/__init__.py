"""The ``editing`` layer: changes to config files, keeping comments and layout.

- :mod:`~reconciler.editing.roundtrip`: round-trip YAML (ruamel) reading and writing;
- :mod:`~reconciler.editing.edits`: typed edits of profiles and gateways files, text to text;
- :mod:`~reconciler.editing.membership`: the membership rules (assign, reassign, unassign);
- :mod:`~reconciler.editing.quickconfig`: subsettings of one gateway (Quick Config);
- :mod:`~reconciler.editing.profiles`: new profile files;
- :mod:`~reconciler.editing.gate`: the validation gate and the atomic write of an edit.

Refusals raise :class:`~reconciler.errors.EditError` and its subclasses; nothing
here prints or exits.  Used by the editing commands (``profile new``,
``assign``, ``unassign``, ``set``), which print the result and choose the exit code.
"""
