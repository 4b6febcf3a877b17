"""The key of the secret digests lives in a file of its own, never in the database.

The store keeps secret values only as HMAC-SHA256 digests
(:func:`reconciler.plan.values.keyed_digest`).  A digest is worthless to
whoever lacks the key, even for a 4-digit PIN, so the key must not travel with
the database: a copy of ``state.db`` (a backup, a file copied for
``reconciler plan --state``) holds digests only.  The key is 32 random bytes,
written as 64 hex digits to ``STATE.key`` beside the store (``state.db.key``,
mode 0600), or to the file named by ``RECONCILER_STATE_KEY_FILE`` (a mounted
Kubernetes Secret, say, outside the state volume and so outside its
snapshots).  It is created on the first rollout that hashes a secret.

Releases before this one kept the key in the ``meta`` table;
:class:`~reconciler.store.sqlite.SQLiteStore` moves it into the key file when
it opens the store for writing, so the digests already stored stay comparable.
A lost key file costs one push of every secret parameter: the digests under a
new key differ from the stored ones.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from pathlib import Path

from reconciler.errors import StoreError
from reconciler.store.files import write_private
from reconciler.store.migrations import transaction

KEY_FILE_VARIABLE = "RECONCILER_STATE_KEY_FILE"
"""Names the key file when it should not sit beside the store."""

KEY_BYTES = 32
MIN_KEY_BYTES = 16
"""A key file written by hand must hold at least this many bytes (as hex digits)."""

LEGACY_META_KEY = "secret_hmac_key"
"""The ``meta`` row where releases before this one kept the key (hex)."""


def key_path(store: Path, explicit: Path | None = None) -> Path:
    """The key file of the store at ``store``: ``explicit``, else ``$RECONCILER_STATE_KEY_FILE``, else ``STORE.key``."""
    if explicit is not None:
        return explicit
    named = os.environ.get(KEY_FILE_VARIABLE)
    return Path(named) if named else store.with_name(store.name + ".key")


class KeyFile:
    """The secret digest key of one store, read from (and created in) one file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> bytes | None:
        """The key, or ``None`` when the file does not exist; never writes."""
        try:
            text = self.path.read_text(encoding="ascii")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise StoreError(f"{self.path}: cannot read the secret key file: {reason}") from exc
        try:
            key = bytes.fromhex(text.strip())
        except ValueError:
            key = b""
        if len(key) < MIN_KEY_BYTES:
            raise StoreError(
                f"{self.path}: not a secret key file (expected {2 * KEY_BYTES} hex digits)"
            )
        return key

    def create(self, key: bytes | None = None) -> bytes:
        """The key in the file, written first (``key``, else a random one) when there is no file.

        An existing file wins: its key is returned and ``key`` is dropped."""
        found = self.read()
        if found is not None:
            return found
        new = key if key is not None else secrets.token_bytes(KEY_BYTES)
        try:
            write_private(self.path, new.hex().encode("ascii") + b"\n")
        except FileExistsError:
            pass  # written by another process in between: read theirs
        except OSError as exc:
            raise StoreError(
                f"{self.path}: cannot create the secret key file: {exc.strerror or exc}"
            ) from exc
        created = self.read()
        if created is None:
            raise StoreError(f"{self.path}: the secret key file vanished after it was written")
        return created


def legacy_key(db: sqlite3.Connection) -> bytes | None:
    """The key a store of an earlier release keeps in its ``meta`` table, if any."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", (LEGACY_META_KEY,)).fetchone()
    if row is None:
        return None
    try:
        return bytes.fromhex(str(row[0]))
    except ValueError:
        return None  # unusable: secrets compare as if no key existed, and are pushed once more


def move_legacy_key(db: sqlite3.Connection, keys: KeyFile) -> None:
    """Move the key out of the database into ``keys`` (kept if it exists), leaving no trace in the file.

    The row is deleted with ``secure_delete`` (its bytes are zeroed), the
    database rebuilt (``VACUUM``: no stale copy in free space) and the WAL
    truncated.  Done once, when a store of an earlier release is first opened
    for writing."""
    found = db.execute("SELECT value FROM meta WHERE key = ?", (LEGACY_META_KEY,)).fetchone()
    if found is None:
        return
    key = legacy_key(db)
    if key is not None:
        keys.create(key)  # before the row goes: a crash in between loses nothing
    db.execute("PRAGMA secure_delete=ON")
    try:
        with transaction(db):
            db.execute("DELETE FROM meta WHERE key = ?", (LEGACY_META_KEY,))
        with contextlib.suppress(sqlite3.OperationalError):  # busy: the zeroed row suffices
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.execute("PRAGMA secure_delete=OFF")
