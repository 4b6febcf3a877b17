"""The SQLite store's schema: one migration script per version, applied in order.

Used by :class:`reconciler.store.sqlite.SQLiteStore` when it opens a store.
Schema versions live in ``PRAGMA user_version``; :data:`MIGRATIONS` holds one
script per version, each applied in its own transaction (:func:`migrate`), so
a store written by any earlier release opens with the current one, and a store
from a newer release is refused.  A new version appends a script; a script
already released never changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.errors import StoreError
from reconciler.model.state import Status

_STATUSES = ", ".join(f"'{s.value}'" for s in Status)

MIGRATIONS: tuple[str, ...] = (
    # 1: gateways, rollouts, meta
    f"""
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE rollouts (
        rollout_id INTEGER PRIMARY KEY AUTOINCREMENT,
        commit_sha TEXT,
        profile TEXT,
        started_at REAL NOT NULL,
        finished_at REAL,
        state TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'finished', 'aborted')),
        reason TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE gateways (
        gateway_id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        firmware TEXT,
        profile TEXT,
        status TEXT NOT NULL CHECK (status IN ({_STATUSES})),
        accepted TEXT NOT NULL DEFAULT '{{}}',
        target TEXT NOT NULL DEFAULT '{{}}',
        reason TEXT NOT NULL DEFAULT '',
        job_id TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        commit_sha TEXT,
        rollout_id INTEGER REFERENCES rollouts(rollout_id),
        updated_at REAL NOT NULL DEFAULT 0
    );
    CREATE INDEX gateways_by_status ON gateways(status);
    CREATE INDEX gateways_by_profile ON gateways(profile);
    """,
    # 2: drift details, skipped keys, and a transition history
    """
    ALTER TABLE gateways ADD COLUMN mismatch TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE gateways ADD COLUMN skipped TEXT NOT NULL DEFAULT '[]';
    CREATE TABLE transitions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        gateway_id TEXT NOT NULL,
        status TEXT NOT NULL,
        at REAL NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        rollout_id INTEGER
    );
    CREATE INDEX transitions_by_gateway ON transitions(gateway_id, id);
    """,
    # 3: the current job: its idempotency key and what it sends (sealed, no secret values)
    """
    ALTER TABLE gateways ADD COLUMN job_key TEXT;
    ALTER TABLE gateways ADD COLUMN send TEXT NOT NULL DEFAULT '{}';
    """,
    # 4: configurations stored once by content hash; a gateway row holds "@HASH" (or a small
    # inline JSON text, as every row written before this version does)
    """
    CREATE TABLE configs (hash TEXT PRIMARY KEY, text TEXT NOT NULL);
    """,
    # 5: keys accepted with "reboot required" that wait for the device's next boot
    """
    ALTER TABLE gateways ADD COLUMN reboot_pending TEXT NOT NULL DEFAULT '[]';
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(db: sqlite3.Connection) -> int:
    """The schema version of the open store (0: an empty file)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back when the block raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def migrate(db: sqlite3.Connection, path: Path, target: int = SCHEMA_VERSION) -> None:
    """Apply the migrations from the store's version up to ``target``, one transaction each.

    ``path`` names the store in the :class:`~reconciler.errors.StoreError`
    raised for a store newer than this release.
    """
    current = schema_version(db)
    if current > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: schema version {current} is newer than this release understands ({SCHEMA_VERSION})"
        )
    for version in range(current + 1, target + 1):
        with transaction(db):
            for statement in MIGRATIONS[version - 1].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={version}")
