"""The state directory's files are the process's alone: folders 0700, files 0600.

The store holds every gateway's configuration and the keyed hashes of secret
values; its key file (:mod:`reconciler.store.keys`) holds the key of those
hashes.  Nobody but the reconciler's own user needs to read any of them, so
:class:`~reconciler.store.sqlite.SQLiteStore` creates the folders it needs
with :func:`private_dirs`, the database file (and so its ``-wal`` and
``-shm``, which SQLite creates with the database file's mode) with
:func:`private_file`, and tightens files an earlier release left readable with
:func:`tighten`.  The lock (:mod:`reconciler.store.locking`) and the key file
are created 0600 too.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dirs(folder: Path) -> None:
    """Create ``folder`` and its missing parents, each 0700; folders that exist are left as they are."""
    missing: list[Path] = []
    current = folder
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it in between
            path.mkdir(mode=DIR_MODE)
            os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask: this is exact


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (then :func:`tighten` it)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        tighten([path])
        return
    os.close(fd)


def tighten(paths: Iterable[Path]) -> None:
    """Remove group and other permissions from those of ``paths`` that exist; best effort.

    A file owned by another user (or on a read-only mount) keeps its mode:
    the store works as before, only less private."""
    for path in paths:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode & 0o077:
                os.chmod(path, mode & FILE_MODE)
        except OSError:
            continue


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``path`` (0600) atomically: it appears whole or not at all.

    An existing ``path`` is kept as it is (:class:`FileExistsError`): two
    processes creating it at once agree on one content."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    try:
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)  # fails if path exists, unlike a rename
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links
            if path.exists():
                raise FileExistsError(path) from None
            os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    sync_dir(path.parent)


def sync_dir(folder: Path) -> None:
    """fsync a folder, so that a file just created in it survives a power loss; best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
