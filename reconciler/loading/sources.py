"""Where config files are read from: a directory on disk, or (later) a git commit.

A :class:`Source` lists files below a folder and returns their bytes; the
repository loader neither knows nor cares whether they come from a working
tree or from git objects.  Problems with a single file (a symlink out of the
repository, an unreadable file) raise :class:`SourceError` and become a
diagnostic for that file; the other files are still read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from reconciler.errors import SourceError as SourceError
from reconciler.loading.yamlfiles import MAX_FILE_BYTES

YAML_SUFFIXES = (".yaml", ".yml")


class Source(Protocol):
    """Read access to one version of a config repository."""

    def list(self, folder: str, *, recursive: bool) -> list[str]:
        """Relative POSIX paths of the YAML files below ``folder``, sorted."""
        ...

    def read(self, path: str) -> bytes:
        """The bytes of ``path`` (relative); raises :class:`SourceError`."""
        ...

    def blob_id(self, path: str) -> str | None:
        """A content id that changes whenever the file does (git blob sha), or ``None``."""
        ...


class DirectorySource:
    """A working tree on disk.  Symlinks are followed only while they stay inside ``root``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    def list(self, folder: str, *, recursive: bool) -> list[str]:
        base = self.root / folder
        if not base.is_dir():
            return []
        if not base.resolve().is_relative_to(self.root):
            # A symlinked folder leading out of the repository: list nothing from there
            # (not even names; CI logs are public).  The folder itself is returned so that
            # reading it gives the one diagnostic that says why.
            return [folder]
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                if name.endswith(YAML_SUFFIXES) and not name.startswith("."):
                    found.append(Path(dirpath, name).relative_to(self.root).as_posix())
            if not recursive:
                break
        return sorted(found)

    def read(self, path: str) -> bytes:
        full = self.root / path
        if not full.resolve().is_relative_to(self.root):
            # The file, or a folder on its way, is a symlink leading out of the repository:
            # nothing there is read, so nothing from outside reaches messages or CI logs.
            if full.is_symlink():
                raise SourceError(f"symlink points outside the repository (to {os.readlink(full)})")
            raise SourceError(
                "symlinked folder points outside the repository; nothing in it is read"
            )
        if full.is_dir():
            raise SourceError("not a file")
        try:
            with open(full, "rb") as handle:
                # One byte past the cap tells an oversized file without reading it all.
                return handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise SourceError(f"cannot read file: {exc.strerror}") from None

    def blob_id(self, path: str) -> str | None:
        return None


class MemorySource:
    """Files held in memory, optionally over another source: what a repository *would* be.

    The editing commands validate the repository as it would be after an edit
    (an overlay of the changed files over the working tree); tests build
    repositories without touching the disk.  ``None`` in ``files`` deletes.
    """

    def __init__(self, files: dict[str, bytes | None], base: Source | None = None) -> None:
        self.files = files
        self.base = base

    def list(self, folder: str, *, recursive: bool) -> list[str]:
        found = set(self.base.list(folder, recursive=recursive)) if self.base is not None else set()
        prefix = folder.rstrip("/") + "/"
        for path, data in self.files.items():
            if not path.startswith(prefix) or not path.endswith(YAML_SUFFIXES):
                continue
            rest = path[len(prefix) :]
            if not recursive and "/" in rest:
                continue
            if data is None:
                found.discard(path)
            else:
                found.add(path)
        return sorted(found)

    def read(self, path: str) -> bytes:
        if path in self.files:
            data = self.files[path]
            if data is None:
                raise SourceError("no such file")
            return data
        if self.base is None:
            raise SourceError("no such file")
        return self.base.read(path)

    def blob_id(self, path: str) -> str | None:
        return None if path in self.files or self.base is None else self.base.blob_id(path)
