"""The one way to open a state store: :func:`open_store`, by path or URL.

Called by the commands (:mod:`reconciler.cli.common`, ``plan``, ``status``,
``search``, ``assign``) and meant for the daemon, so that every caller gets the
same backend choice, the same read-only rules, the same one-writer rule (a
writable open holds the store's writer lock until closed, so a second
``reconciler run`` or ``apply`` on one store is refused) and the same one-line
:class:`~reconciler.errors.StoreError` for a file that cannot be used.
Read-only views that read a store in one go are in :mod:`reconciler.store.reading`.
"""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.errors import StoreError
from reconciler.store.base import StateStore
from reconciler.store.postgres_urls import describe_url, is_postgres_url
from reconciler.store.sqlite import SQLiteStore

SQLITE_SCHEME = "sqlite:///"
"""URL prefix of a SQLite store; the rest is the path, as in SQLAlchemy
(``sqlite:///state.db`` relative, ``sqlite:////var/lib/reconciler/state.db`` absolute)."""


def is_shared(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` names a store several replicas share (a PostgreSQL URL)."""
    return is_postgres_url(os.fspath(location))


def describe(location: str | os.PathLike[str]) -> str:
    """``location`` for messages: a URL without its password, or the path."""
    text = os.fspath(location)
    if is_postgres_url(text):
        return describe_url(text)
    try:
        return str(store_path(text))
    except StoreError:  # another scheme: never show what follows it (it may hold a password)
        return text.split("://", 1)[0] + "://..."


def store_path(location: str | os.PathLike[str]) -> Path:
    """The SQLite file that ``location`` (a path or a ``sqlite:///`` URL) names; other URLs: :class:`StoreError`."""
    text = os.fspath(location)
    if text.startswith(SQLITE_SCHEME):
        return Path(text[len(SQLITE_SCHEME) :])
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise StoreError(
            f"{scheme}://...: no such state store backend "
            "(a path, sqlite:///PATH or postgresql://USER@HOST:PORT/DB)"
        )
    return Path(text)


def open_store(
    location: str | os.PathLike[str],
    *,
    read_only: bool = False,
    durable: bool = False,
    wait_s: float = 0.0,
) -> StateStore:
    """The state store at ``location``: a path, a ``sqlite:///`` URL or a ``postgresql://`` URL.

    PostgreSQL (``postgresql://`` or ``postgres://``): a
    :class:`~reconciler.store.postgres.PostgresStore`, shared by several
    replicas, so a writable open takes no writer lock; it migrates the
    schema, ``read_only`` never writes nor migrates; ``durable`` and
    ``wait_s`` do not apply; problems are one-line :class:`StoreError` messages
    that name the URL without its password.

    SQLite, writable (the default): the one writer of this store until ``close()``
    (:mod:`reconciler.store.locking`; another writer holding it for more than
    ``wait_s`` seconds raises :class:`~reconciler.errors.StoreLockedError`,
    which names it), created if absent (with its folder, all private:
    :mod:`reconciler.store.files`) and migrated to this release's schema.
    ``read_only``: takes no lock, is never written, never migrated, never
    created; a missing file, a store of another schema version or a file
    that is no store raises :class:`StoreError`.  ``durable``:
    ``synchronous=FULL`` (see :mod:`reconciler.store.sqlite`).  Every problem
    is a :class:`StoreError` with a one-line message that names the file.
    Close the store with ``close()`` (or ``contextlib.closing``).
    """
    if is_shared(location):
        from reconciler.store.postgres import PostgresStore

        return PostgresStore(os.fspath(location), read_only=read_only)
    path = store_path(location)
    if read_only and not path.is_file():
        raise StoreError(f"{path}: no state store there")
    try:
        return SQLiteStore(
            path, read_only=read_only, durable=durable, writer_lock=True, lock_wait_s=wait_s
        )
    except OSError as exc:  # the folder cannot be created, the file not opened
        raise StoreError(f"{path}: cannot open the state store: {exc.strerror or exc}") from exc
