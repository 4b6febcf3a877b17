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
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from reconciler.errors import StoreError
from reconciler.model.state import AppliedGateway, Status
from reconciler.store.configs import PARSED_CACHE, Configs

COLUMNS = (
    "gateway_id, type, firmware, profile, status, accepted, target, reason, job_id, attempts, "
    "commit_sha, updated_at, mismatch, skipped, job_key, rollout_id, send, reboot_pending"
)
"""The columns of an :class:`AppliedGateway`, in :func:`PgConfigs.state`'s order."""

SUMMARY_COLUMNS = (
    "gateway_id, type, firmware, profile, status, reason, job_id, attempts, "
    "commit_sha, updated_at, skipped, rollout_id, reboot_pending"
)

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
        """The state of a row of :data:`COLUMNS`."""
        (
            gateway_id, gateway_type, firmware, profile, status, accepted, target, reason,
            job_id, attempts, commit, updated_at, mismatch, skipped, job_key, rollout_id,
            send, reboot_pending,
        ) = row  # fmt: skip
        return AppliedGateway(
            gateway_id=gateway_id,
            type=sys.intern(gateway_type),
            firmware=_shared(firmware),
            profile=_shared(profile),
            status=Status(status),
            accepted=self.parse(accepted),
            target=self.parse(target),
            reason=reason,
            job_id=job_id,
            attempts=attempts,
            commit=_shared(commit),
            updated_at=updated_at,
            mismatch=self.parse(mismatch),
            skipped=tuple(self.parse(skipped)),
            job_key=job_key,
            rollout_id=rollout_id,
            send=self.parse(send),
            reboot_pending=tuple(self.parse(reboot_pending)),
        )

    def states(self, conn: Any, rows: Sequence[Sequence[Any]]) -> list[AppliedGateway]:
        self.load(conn, rows, REFERRING)
        return [self.state(row) for row in rows]

    def summary(self, row: Sequence[Any]) -> AppliedGateway:
        """The state of a row of :data:`SUMMARY_COLUMNS` (no configurations)."""
        gateway_id, gateway_type, firmware, profile, status, reason = row[:6]
        job_id, attempts, commit, updated_at, skipped, rollout_id, pending = row[6:]
        return AppliedGateway(
            gateway_id=gateway_id,
            type=gateway_type,
            firmware=firmware,
            profile=profile,
            status=Status(status),
            reason=reason,
            job_id=job_id,
            attempts=attempts,
            commit=commit,
            updated_at=updated_at,
            skipped=tuple(self.parse(skipped)),
            rollout_id=rollout_id,
            reboot_pending=tuple(self.parse(pending)),
        )


def _shared(value: str | None) -> str | None:
    """One string object per distinct type, firmware, profile and commit among the states read."""
    return sys.intern(value) if value is not None else None
