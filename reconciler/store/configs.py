"""The SQLite store's configurations table: each distinct configuration stored once, by content hash.

Used by :class:`reconciler.store.sqlite.SQLiteStore` only.  A gateway row
holds a small configuration inline and a larger one as ``@HASH``, a
reference to a row of ``configs`` (schema version 4,
:mod:`reconciler.store.migrations`).  :class:`Configs` keeps the caches that
make this cheap (decoded texts, encoded objects, hashes, and the hashes known
to be stored) and deletes the rows no gateway refers to any more
(:meth:`Configs.prune`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reconciler.errors import StoreError

INLINE_MAX = 64
"""Configurations whose JSON is at most this long stay inline in the row ("{}", one key)."""

PARSED_CACHE = 20_000
"""Distinct configuration texts kept decoded between reads (see :meth:`Configs.parse`)."""

REFERRING = ("accepted", "target", "mismatch", "send")
"""The gateway columns that may hold ``@HASH``."""


def dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class Configs:
    """The configuration texts of one store: shared decoding, encoding and hashing, and pruning."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._parsed: dict[str, Any] = {}
        self._texts: dict[int, tuple[Any, str]] = {}
        self._hashes: dict[str, str] = {}
        self.stored: set[str] = set()
        """Hashes known to have a committed row (a write need not insert them again)."""

    def parse(self, db: sqlite3.Connection, text: str) -> Any:
        """Decoded JSON, one shared (read-only) object per distinct text.

        Gateways of one profile, type and firmware hold identical configurations:
        sharing them keeps 100,000 states at a few MB instead of ~400 MB of dicts.
        """
        found = self._parsed.get(text)
        if found is None:
            if len(self._parsed) >= PARSED_CACHE:
                self._parsed.clear()
            stored = text
            if text.startswith("@"):
                row = db.execute("SELECT text FROM configs WHERE hash = ?", (text[1:],)).fetchone()
                if row is None:
                    raise StoreError(f"{self.path}: configuration {text} is missing from the store")
                stored = row[0]
            found = self._parsed[text] = json.loads(stored)
        return found

    def text(self, value: Any) -> str:
        """JSON text of a configuration; encoded once per shared (read-only) object.

        Every status change rewrites the whole row, and the gateways of one profile
        share their configuration objects: without this, a rollout of 100,000
        gateways encoded the same few hundred dicts some 1.2 million times.
        """
        if not value:  # most mismatch and send fields: no cache entry per empty object
            return "{}" if isinstance(value, Mapping) else "[]"
        found = self._texts.get(id(value))
        if found is not None and found[0] is value:
            return found[1]
        text = dump(dict(value) if isinstance(value, Mapping) else list(value))
        if len(self._texts) >= PARSED_CACHE:
            self._texts.clear()
        self._texts[id(value)] = (value, text)  # holding the object keeps its id unique
        return text

    def ref(self, value: Any, new: dict[str, str]) -> str:
        """What a row stores for a configuration: small ones inline, others as ``@HASH``.

        Status changes rewrite a whole row; with ~1.5 KB of JSON per configuration
        and three per row, a rollout of 100,000 gateways wrote ~1.8 GB into the WAL and
        the store grew by ~2 KB per gateway and rollout.  Gateways share their
        configurations, so each distinct one is stored once in ``configs``.
        ``new`` collects the texts this transaction must insert.
        """
        text = self.text(value)
        if len(text) <= INLINE_MAX:
            return text
        digest = self._hashes.get(text)
        if digest is None:
            digest = hashlib.sha256(text.encode()).hexdigest()[:32]
            if len(self._hashes) >= PARSED_CACHE:
                self._hashes.clear()
            self._hashes[text] = digest
        if digest not in self.stored:
            new[digest] = text
        return "@" + digest

    @staticmethod
    def prune(db: sqlite3.Connection) -> list[str]:
        """Delete the rows no gateway refers to, inside the caller's transaction; their hashes.

        One pass over the gateways (an index-free scan: ~0.1 s at 100,000) and one
        over ``configs``.  Call :meth:`forget` with the answer once committed.
        """
        referenced = " UNION ".join(
            f"SELECT substr({column}, 2) FROM gateways WHERE {column} LIKE '@%'"
            for column in REFERRING
        )
        gone = [
            row[0]
            for row in db.execute(f"SELECT hash FROM configs WHERE hash NOT IN ({referenced})")
        ]
        for start in range(0, len(gone), 500):
            chunk = gone[start : start + 500]
            db.execute(f"DELETE FROM configs WHERE hash IN ({','.join('?' * len(chunk))})", chunk)
        return gone

    def forget(self, hashes: Iterable[str]) -> None:
        """Deleted rows are no longer known to exist: a later write that needs one inserts it again."""
        self.stored.difference_update(hashes)
