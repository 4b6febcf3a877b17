"""SQLite state store: WAL journal, one transaction per state change, versioned schema.

Opened for writing with ``writer_lock=True`` (what
:func:`~reconciler.store.opening.open_store` does), it holds the store's
writer lock (:mod:`reconciler.store.locking`) until closed.  Its files are
private (:mod:`reconciler.store.files`), and the key of the secret digests
lives in a key file, never in the database (:mod:`reconciler.store.keys`).

Durability: WAL with ``synchronous=NORMAL`` never loses a committed
transaction when the *process* dies (``kill -9``); only a power loss may drop
the last commits, never corrupt the database.  Set ``durable=True`` for
``synchronous=FULL`` where that matters more than write speed.

The schema and its migrations are in :mod:`reconciler.store.migrations`: a
store written by any earlier release opens with the current one (read-only
opening never migrates).  Callers open a store with
:func:`reconciler.store.opening.open_store` (``reconciler.store.open_store``).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from reconciler.errors import StoreError
from reconciler.model.state import AppliedGateway, Status
from reconciler.store import migrations
from reconciler.store.base import Rollout, Transition
from reconciler.store.configs import Configs
from reconciler.store.files import private_dirs, private_file, tighten
from reconciler.store.keys import KeyFile, key_path, legacy_key, move_legacy_key
from reconciler.store.locking import WriterLock
from reconciler.store.migrations import MIGRATIONS, SCHEMA_VERSION
from reconciler.store.rows import COLUMNS, SUMMARY_COLUMNS, state_of, summary_of

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SQLiteStore", "StoreError"]


class SQLiteStore:
    """A :class:`~reconciler.store.base.StateStore` in one SQLite file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durable: bool = False,
        read_only: bool = False,
        writer_lock: bool = False,
        lock_wait_s: float = 0.0,
        key_file: Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._keys = KeyFile(key_path(self.path, key_file))
        self._lock: WriterLock | None = None
        self._configs = Configs(self.path)
        try:
            if read_only:
                # Plans must never change the store: open it read-only, without migrating.
                self._db = sqlite3.connect(
                    f"file:{self.path}?mode=ro",
                    uri=True,
                    isolation_level=None,
                    check_same_thread=False,
                )
                if self.schema_version != SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.path}: schema version {self.schema_version}, this release needs {SCHEMA_VERSION}; "
                        "run `reconciler apply` or the daemon once to migrate it"
                    )
                return
            private_dirs(self.path.parent)
            if writer_lock:  # before the first write: migrating is one
                self._lock = WriterLock(self.path, wait_s=lock_wait_s)
            private_file(self.path)  # SQLite gives -wal and -shm the database file's mode
            tighten(self.path.with_name(self.path.name + end) for end in ("-wal", "-shm"))
            tighten([self._keys.path])
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
            self.migrate()
            move_legacy_key(self._db, self._keys)
        except BaseException as exc:
            self._release()
            if isinstance(exc, sqlite3.DatabaseError):
                raise StoreError(f"{self.path}: cannot open the state store: {exc}") from exc
            raise

    # --- schema ---------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return migrations.schema_version(self._db)

    def migrate(self, target: int = SCHEMA_VERSION) -> None:
        """Apply the migrations from the store's version up to ``target``, one transaction each."""
        migrations.migrate(self._db, self.path, target)

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return migrations.transaction(self._db)

    # --- gateways -------------------------------------------------------------

    def _parse(self, text: str) -> Any:
        return self._configs.parse(self._db, text)

    def _row(self, row: tuple[Any, ...]) -> AppliedGateway:
        return state_of(row, self._parse)

    def applied(self) -> dict[str, AppliedGateway]:
        rows = self._db.execute(f"SELECT {COLUMNS} FROM gateways ORDER BY gateway_id")
        return {row[0]: self._row(row) for row in rows}

    def get(self, gateway_id: str) -> AppliedGateway | None:
        row = self._db.execute(
            f"SELECT {COLUMNS} FROM gateways WHERE gateway_id = ?", (gateway_id,)
        ).fetchone()
        return self._row(row) if row is not None else None

    def count(self) -> int:
        row = self._db.execute("SELECT count(*) FROM gateways").fetchone()
        return int(row[0])

    def stored_ids(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT gateway_id FROM gateways")]

    def changed_since(self, at: float) -> list[str]:
        rows = self._db.execute("SELECT gateway_id FROM gateways WHERE updated_at >= ?", (at,))
        return [row[0] for row in rows]

    def summaries(self, gateway_ids: Sequence[str]) -> dict[str, AppliedGateway]:
        found: dict[str, AppliedGateway] = {}
        for start in range(0, len(gateway_ids), 500):
            chunk = gateway_ids[start : start + 500]
            rows = self._db.execute(
                f"SELECT {SUMMARY_COLUMNS} FROM gateways "
                f"WHERE gateway_id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            found.update((row[0], summary_of(row, self._parse)) for row in rows)
        return found

    def write(self, states: Sequence[AppliedGateway], *, rollout_id: int | None = None) -> None:
        if not states:
            return
        with self._transaction() as db:
            ids = [s.gateway_id for s in states]
            before: dict[str, str] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                before.update(
                    db.execute(
                        f"SELECT gateway_id, status FROM gateways WHERE gateway_id IN ({marks})",
                        chunk,
                    )
                )
            new: dict[str, str] = {}
            rows = [
                (
                    s.gateway_id,
                    s.type,
                    s.firmware,
                    s.profile,
                    s.status.value,
                    self._configs.ref(s.accepted, new),
                    self._configs.ref(s.target, new),
                    s.reason,
                    s.job_id,
                    s.attempts,
                    s.commit,
                    s.updated_at,
                    self._configs.ref(s.mismatch, new),
                    self._configs.text(s.skipped),
                    s.job_key,
                    s.rollout_id if rollout_id is None else rollout_id,
                    self._configs.ref(s.send, new),
                    self._configs.text(s.reboot_pending),
                )
                for s in states
            ]
            # The configurations first, in the same transaction: a row never points at nothing.
            db.executemany("INSERT OR IGNORE INTO configs (hash, text) VALUES (?, ?)", new.items())
            db.executemany(
                f"INSERT OR REPLACE INTO gateways ({COLUMNS}) VALUES ({','.join('?' * 18)})", rows
            )
            db.executemany(
                "INSERT INTO transitions (gateway_id, status, at, reason, rollout_id) VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        s.gateway_id,
                        s.status.value,
                        s.updated_at,
                        s.reason,
                        s.rollout_id if rollout_id is None else rollout_id,
                    )
                    for s in states
                    if before.get(s.gateway_id) != s.status.value
                ],
            )

        self._configs.stored.update(new)  # committed: later transactions may point at them

    def forget(self, gateway_ids: Sequence[str]) -> None:
        with self._transaction() as db:
            db.executemany("DELETE FROM gateways WHERE gateway_id = ?", [(g,) for g in gateway_ids])

    # --- rollouts -------------------------------------------------------------

    def start_rollout(self, commit: str | None, profile: str | None, at: float) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO rollouts (commit_sha, profile, started_at) VALUES (?, ?, ?)",
                (commit, profile, at),
            )
            return int(cursor.lastrowid or 0)

    def finish_rollout(self, rollout_id: int, state: str, at: float, reason: str = "") -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE rollouts SET state = ?, finished_at = ?, reason = ? WHERE rollout_id = ?",
                (state, at, reason, rollout_id),
            )

    def rollouts(self, *, active_only: bool = False) -> list[Rollout]:
        query = "SELECT rollout_id, commit_sha, profile, started_at, finished_at, state, reason FROM rollouts"
        if active_only:
            query += " WHERE state = 'running'"
        return [Rollout(*row) for row in self._db.execute(query + " ORDER BY rollout_id")]

    def transitions(self, gateway_id: str | None = None, *, limit: int = 1000) -> list[Transition]:
        query = "SELECT gateway_id, status, at, reason, rollout_id FROM transitions"
        parameters: tuple[Any, ...] = ()
        if gateway_id is not None:
            query += " WHERE gateway_id = ?"
            parameters = (gateway_id,)
        rows = self._db.execute(
            query + " ORDER BY id DESC LIMIT ?", (*parameters, limit)
        ).fetchall()
        return [Transition(g, Status(s), at, reason, r) for g, s, at, reason, r in reversed(rows)]

    def prune_transitions(self, keep_per_gateway: int = 50) -> int:
        """Keep the newest ``keep_per_gateway`` transitions of each gateway; returns how many went.

        The history grows by ~4 rows per gateway and rollout; without pruning a
        fleet of 100,000 adds ~200 MB a month of daily rollouts.  Configurations
        no gateway refers to any more go in the same transaction
        (:meth:`prune_configs`).
        """
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM transitions WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER "
                "(PARTITION BY gateway_id ORDER BY id DESC) AS newer FROM transitions) WHERE newer > ?)",
                (keep_per_gateway,),
            )
            gone = self._configs.prune(db)
        self._configs.forget(gone)
        return int(cursor.rowcount)

    def prune_configs(self) -> int:
        """Delete the configurations no gateway row refers to; returns how many went.

        Each distinct configuration is stored once (:meth:`_ref`); one that every
        gateway left (a profile changed, a gateway was forgotten) would otherwise
        stay for ever.  One transaction: a kill leaves all of them or none.
        """
        with self._transaction() as db:
            gone = self._configs.prune(db)
        self._configs.forget(gone)
        return len(gone)

    # --- meta -----------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def stored_secret_key(self) -> bytes | None:
        """The key file's key; for a store no writer opened since an upgrade, the key it still holds."""
        return self._keys.read() or legacy_key(self._db)

    def secret_key(self) -> bytes:
        """The key file's key, created (0600) on first use; read-only: only an existing key."""
        if self.read_only:
            found = self.stored_secret_key()
            if found is None:
                raise StoreError(f"{self.path}: opened read-only and has no secret key yet")
            return found
        return self._keys.create()

    def integrity_ok(self) -> bool:
        return bool(self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

    def close(self) -> None:
        self._db.close()
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
