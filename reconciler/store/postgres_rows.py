"""Gateway rows of the PostgreSQL store: columns, configurations stored once, decoding.

Used by :class:`reconciler.store.postgres.PostgresStore` only.  As in the
SQLite store (:mod:`reconciler.store.configs`, whose encoding and hashing
:class:`PgConfigs` reuses), a gateway row holds a small configuration inline
and a larger one as ``@HASH``, a reference to a row of ``configs``.  Reading
loads every referenced text missing from the cache in one query and decodes
each distinct text once (gateways of one profile share one read-only object).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from reconciler.errors import StoreError
from reconciler.model.state import AppliedGateway
from reconciler.store.configs import PARSED_CACHE, Configs
from reconciler.store.rows import state_of, summary_of

REFERRING = (5, 6, 12, 16)
"""Positions in :data:`COLUMNS` of the columns that may hold ``@HASH``."""


class PgConfigs:
    """The configuration texts of one PostgreSQL store: decoding cache, encoding, stored hashes."""

    def __init__(self, name: str) -> None:
        self.codec = Configs(Path(name))
        """Encoding, hashing and the hashes known to be stored (``codec.stored``)."""
        self._parsed: dict[str, Any] = {}
        self._texts: dict[str, str] = {}
        self.generation: str | None = None
        """The pruning generation ``codec.stored`` was filled under."""
        self.name = name

    def load(self, conn: Any, rows: Sequence[Sequence[Any]], positions: Iterable[int]) -> None:
        """Fetch, in one query, the referenced texts of ``rows`` not decoded yet.

        The caches are bounded here, between batches, never while a batch decodes."""
        if len(self._parsed) >= PARSED_CACHE:
            self._parsed.clear()
        if len(self._texts) >= PARSED_CACHE:
            self._texts.clear()
        wanted = {
            row[i][1:]
            for row in rows
            for i in positions
            if row[i].startswith("@") and row[i] not in self._parsed
        }
        wanted.difference_update(self._texts)
        if wanted:
            found = conn.execute(
                "SELECT hash, text FROM configs WHERE hash = ANY(%s)", (list(wanted),)
            ).fetchall()
            self._texts.update(found)

    def parse(self, text: str) -> Any:
        """Decoded JSON, one shared (read-only) object per distinct text (after :meth:`load`)."""
        found = self._parsed.get(text)
        if found is None:
            stored = text
            if text.startswith("@"):
                stored = self._texts.get(text[1:], "")
                if not stored:
                    raise StoreError(f"{self.name}: configuration {text} is missing from the store")
            found = self._parsed[text] = json.loads(stored)
        return found

    def state(self, row: Sequence[Any]) -> AppliedGateway:
        """The state of a row of :data:`~reconciler.store.rows.COLUMNS`."""
        return state_of(row, self.parse)

    def states(self, conn: Any, rows: Sequence[Sequence[Any]]) -> list[AppliedGateway]:
        self.load(conn, rows, REFERRING)
        return [self.state(row) for row in rows]

    def summary(self, row: Sequence[Any]) -> AppliedGateway:
        """The state of a row of :data:`~reconciler.store.rows.SUMMARY_COLUMNS` (no configurations)."""
        return summary_of(row, self.parse)
