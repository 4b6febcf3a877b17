"""Resolves secret references ``{secret: NAME}`` at rollout time.

Looked up, in order: the environment variable ``RECONCILER_SECRET_NAME``
(NAME as written, then upper-cased), then the file ``NAME`` in the directory
named by ``RECONCILER_SECRETS_DIR`` (a Kubernetes Secret volume, say; one
trailing newline is stripped).  Values are never logged; callers turn them
into keyed hashes (:func:`reconciler.plan.values.keyed_digest`) for storage.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


class SecretResolver:
    """NAME -> value, or ``None`` when it is not provided."""

    def __init__(
        self, environ: Mapping[str, str] | None = None, directory: Path | None = None
    ) -> None:
        self.environ = os.environ if environ is None else environ
        folder = directory if directory is not None else self.environ.get("RECONCILER_SECRETS_DIR")
        self.directory = Path(folder) if folder else None

    def __call__(self, name: str) -> str | None:
        for variable in (f"RECONCILER_SECRET_{name}", f"RECONCILER_SECRET_{name.upper()}"):
            value = self.environ.get(variable)
            if value is not None:
                return value
        if self.directory is not None:
            path = self.directory / name
            if path.is_file():
                return path.read_text(encoding="utf-8").removesuffix("\n")
        return None

    def __repr__(self) -> str:
        return f"SecretResolver(directory={self.directory})"
