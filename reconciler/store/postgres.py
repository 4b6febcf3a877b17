"""PostgreSQL state store: one database that several ``reconciler run`` replicas share.

:class:`PostgresStore` is a :class:`~reconciler.store.base.StateStore` (the
same behaviour as the SQLite store) and a
:class:`~reconciler.store.base.SharedStore` (replica leases, claims, the
leader lease, guarded writes).  Callers open it with
:func:`reconciler.store.opening.open_store` and a ``postgresql://`` (or
``postgres://``) URL; it uses psycopg 3 (synchronous), one connection per
instance, one transaction per write (default ``synchronous_commit``).

- **Several writers**: a writable open takes no exclusive lock (replicas
  write side by side); :meth:`PostgresStore.write` only replaces a row that
  is still in the status this instance last read or wrote for it
  (:mod:`reconciler.store.postgres_writes`), see ``skipped``.
- **Schema**: :mod:`reconciler.store.postgres_schema`, migrated on writable
  open (replicas starting together serialise on an advisory lock); a
  read-only open (``SET default_transaction_read_only``) never migrates and
  refuses another schema version.
- **Leases and claims**: :mod:`reconciler.store.postgres_shared`, on the
  database clock.  Once :meth:`~PostgresStore.register` or
  :meth:`~PostgresStore.fence` was called, every write transaction first
  checks the replica's lease (and the leader's holder and epoch) in the same
  transaction: :class:`~reconciler.errors.NotLeaderError`, nothing written.
- **The secret digest key is never in the database**: it lives in a key file
  (:mod:`reconciler.store.keys`), ``$RECONCILER_STATE_KEY_FILE`` or
  ``$XDG_STATE_HOME/reconciler/postgresql-HOST-PORT-DB.key``.  Every replica
  must read the same key (on Kubernetes: one Secret mounted in every pod and
  named by ``RECONCILER_STATE_KEY_FILE``), else each hashes secrets under its
  own key and pushes them again.
- **Passwords**: messages name the store by its URL without the password
  (:func:`~reconciler.store.postgres_urls.describe_url`).

An instance is safe to use from several threads (one lock around each call).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler.errors import StoreError
from reconciler.model.state import AppliedGateway, Status
from reconciler.store import postgres_shared as shared
from reconciler.store.base import Lease, Replica, Rollout, Transition
from reconciler.store.files import private_dirs
from reconciler.store.keys import KeyFile
from reconciler.store.postgres_rows import PgConfigs
from reconciler.store.postgres_schema import SCHEMA_VERSION, migrate, schema_version
from reconciler.store.postgres_urls import (
    connect,
    describe_url,
    key_file_path,
    one_line,
    url_parts,
)
from reconciler.store.postgres_writes import forget_states, write_states
from reconciler.store.postgres_writes import prune_configs as prune_unreferenced
from reconciler.store.rows import COLUMNS, SUMMARY_COLUMNS

__all__ = ["SCHEMA_VERSION", "PostgresStore"]


class PostgresStore:
    """A :class:`~reconciler.store.base.SharedStore` in one PostgreSQL database."""

    def __init__(self, url: str, *, read_only: bool = False, key_file: Path | None = None) -> None:
        self._url = url  # holds the password, if any: never shown, never logged
        self._password = url_parts(url).get("password")
        self.name = describe_url(url)
        """The URL without its password: what messages show."""
        self.read_only = read_only
        self.replica_id: str | None = None
        self.skipped: list[str] = []
        self._seen: dict[str, str] = {}
        """Gateway id -> the status this instance last read or wrote (what a write expects)."""
        self._claimed: dict[str, str] = {}
        """Gateway id -> the replica id this instance claimed it as (its writes expect that claim:
        once another replica, or a new incarnation of this one, holds it, they are skipped)."""
        self._fence: tuple[str, int] | None = None
        self._keys = KeyFile(key_file or key_file_path(url))
        self._configs = PgConfigs(self.name)
        self._lock = threading.RLock()
        self._closed = False
        self._conn: Any = connect(url, read_only=read_only)
        try:
            with self._session() as conn:
                if read_only:
                    found = schema_version(conn)
                    if found != SCHEMA_VERSION:
                        raise StoreError(
                            f"{self.name}: schema version {found}, this release needs {SCHEMA_VERSION}; "
                            "run `reconciler apply` or the daemon once to migrate it"
                        )
                else:
                    migrate(conn, self.name)
        except BaseException:
            self._conn.close()
            raise

    # --- sessions and transactions -----------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[Any]:
        """The connection, under this instance's lock; database errors as one-line StoreErrors."""
        import psycopg

        with self._lock:
            if self._closed:
                raise StoreError(f"{self.name}: the store is closed")
            if self._conn.closed or self._conn.broken:  # the server restarted: a new session
                self._conn.close()
                self._conn = connect(self._url, read_only=self.read_only)
            try:
                yield self._conn
            except psycopg.Error as exc:
                raise StoreError(f"{self.name}: {one_line(exc, self._password)}") from exc

    @contextmanager
    def _writing(self) -> Iterator[Any]:
        """One write transaction, refused before anything is written when the fences say so."""
        if self.read_only:
            raise StoreError(f"{self.name}: opened read-only; cannot write")
        with self._session() as conn, conn.transaction():
            shared.check_fences(conn, self.name, self.replica_id, self._fence)
            yield conn

    # --- gateways -----------------------------------------------------------------

    def _read(self, conn: Any, rows: Sequence[Sequence[Any]]) -> list[AppliedGateway]:
        states = self._configs.states(conn, rows)
        if not self.read_only:
            self._seen.update((s.gateway_id, s.status.value) for s in states)
        return states

    def applied(self) -> dict[str, AppliedGateway]:
        with self._session() as conn:
            rows = conn.execute(f"SELECT {COLUMNS} FROM gateways ORDER BY gateway_id").fetchall()
            return {s.gateway_id: s for s in self._read(conn, rows)}

    def get(self, gateway_id: str) -> AppliedGateway | None:
        with self._session() as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM gateways WHERE gateway_id = %s", (gateway_id,)
            ).fetchall()
            found = self._read(conn, rows)
        return found[0] if found else None

    def count(self) -> int:
        with self._session() as conn:
            return int(conn.execute("SELECT count(*) FROM gateways").fetchone()[0])

    def stored_ids(self) -> list[str]:
        with self._session() as conn:
            return [row[0] for row in conn.execute("SELECT gateway_id FROM gateways")]

    def changed_since(self, at: float) -> list[str]:
        with self._session() as conn:
            rows = conn.execute("SELECT gateway_id FROM gateways WHERE updated_at >= %s", (at,))
            return [row[0] for row in rows]

    def summaries(self, gateway_ids: Sequence[str]) -> dict[str, AppliedGateway]:
        with self._session() as conn:
            rows = conn.execute(
                f"SELECT {SUMMARY_COLUMNS} FROM gateways WHERE gateway_id = ANY(%s::text[])",
                (list(gateway_ids),),
            ).fetchall()
            found = {row[0]: self._configs.summary(row) for row in rows}
        if not self.read_only:
            self._seen.update((g, s.status.value) for g, s in found.items())
        return found

    def write(self, states: Sequence[AppliedGateway], *, rollout_id: int | None = None) -> None:
        """Write ``states`` guarded (see the module docstring); ``skipped``: those not written."""
        with self._lock:  # the memory of what was seen moves with the database, call by call
            self.skipped = []
            if not states:
                return
            latest = list({s.gateway_id: s for s in states}.values())  # the last one wins
            with self._writing() as conn:
                written, new = write_states(
                    conn, self._configs, latest, rollout_id, self._seen, self._claimed
                )
            self._configs.codec.stored.update(new)  # committed: later writes may refer to them
            for s in latest:
                if s.gateway_id in written:
                    self._seen[s.gateway_id] = s.status.value
            self.skipped = [s.gateway_id for s in latest if s.gateway_id not in written]

    def forget(self, gateway_ids: Sequence[str]) -> None:
        """Delete these gateways; a row changed since this instance saw it stays (``skipped``)."""
        with self._lock:
            self.skipped = []
            ids = list(dict.fromkeys(gateway_ids))
            if not ids:
                return
            with self._writing() as conn:
                gone = forget_states(conn, ids, self._seen, self._claimed)
            self.skipped = [g for g in ids if g not in gone and g in self._seen]
            for gateway_id in gone:
                self._seen.pop(gateway_id, None)
                self._claimed.pop(gateway_id, None)

    # --- rollouts -------------------------------------------------------------------

    def start_rollout(self, commit: str | None, profile: str | None, at: float) -> int:
        with self._writing() as conn:
            row = conn.execute(
                "INSERT INTO rollouts (commit_sha, profile, started_at) VALUES (%s, %s, %s) "
                "RETURNING rollout_id",
                (commit, profile, at),
            ).fetchone()
            return int(row[0])

    def finish_rollout(self, rollout_id: int, state: str, at: float, reason: str = "") -> None:
        with self._writing() as conn:
            conn.execute(
                "UPDATE rollouts SET state = %s, finished_at = %s, reason = %s WHERE rollout_id = %s",
                (state, at, reason, rollout_id),
            )

    def rollouts(self, *, active_only: bool = False) -> list[Rollout]:
        query = "SELECT rollout_id, commit_sha, profile, started_at, finished_at, state, reason FROM rollouts"
        if active_only:
            query += " WHERE state = 'running'"
        with self._session() as conn:
            return [Rollout(*row) for row in conn.execute(query + " ORDER BY rollout_id")]

    def transitions(self, gateway_id: str | None = None, *, limit: int = 1000) -> list[Transition]:
        query = "SELECT gateway_id, status, at, reason, rollout_id FROM transitions"
        parameters: tuple[Any, ...] = ()
        if gateway_id is not None:
            query += " WHERE gateway_id = %s"
            parameters = (gateway_id,)
        with self._session() as conn:
            rows = conn.execute(
                query + " ORDER BY id DESC LIMIT %s", (*parameters, limit)
            ).fetchall()
        return [Transition(g, Status(s), at, reason, r) for g, s, at, reason, r in reversed(rows)]

    def prune_transitions(self, keep_per_gateway: int = 50) -> int:
        """Keep the newest ``keep_per_gateway`` transitions of each gateway; returns how many went.

        Configurations no gateway refers to any more go in the same transaction."""
        with self._writing() as conn:
            gone = conn.execute(
                "DELETE FROM transitions WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER "
                "(PARTITION BY gateway_id ORDER BY id DESC) AS newer FROM transitions) t "
                "WHERE newer > %s)",
                (keep_per_gateway,),
            ).rowcount
            prune_unreferenced(conn, self._configs)
        return int(gone)

    def prune_configs(self) -> int:
        """Delete the configurations no gateway row refers to; returns how many went."""
        with self._writing() as conn:
            return prune_unreferenced(conn, self._configs)

    # --- meta and the secret key ---------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._session() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._writing() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (key, value),
            )

    def stored_secret_key(self) -> bytes | None:
        """The key file's key, or ``None``; never writes (the key is never in the database)."""
        return self._keys.read()

    def secret_key(self) -> bytes:
        """The key file's key, created (0600, its folder 0700) on first use; read-only: only an existing one."""
        if self.read_only:
            found = self.stored_secret_key()
            if found is None:
                raise StoreError(f"{self.name}: opened read-only and has no secret key yet")
            return found
        try:
            private_dirs(self._keys.path.parent)
        except OSError as exc:
            raise StoreError(
                f"{self._keys.path}: cannot create the secret key file: {exc.strerror or exc}"
            ) from exc
        return self._keys.create()

    @property
    def schema_version(self) -> int:
        with self._session() as conn:
            return schema_version(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- shared: replicas, the leader lease, claims (reconciler.store.postgres_shared) ------

    def register(self, name: str, term_s: float) -> str:
        if self.read_only:
            raise StoreError(f"{self.name}: opened read-only; cannot register a replica")
        with self._session() as conn, conn.transaction():
            replica_id = shared.register(conn, name, term_s)
        self.replica_id = replica_id  # the claims of the last incarnation stay expected: not ours
        return replica_id

    def heartbeat(self, term_s: float) -> bool:
        if self.replica_id is None:
            return False
        with self._session() as conn:
            return shared.heartbeat(conn, self.replica_id, term_s)

    def deregister(self) -> None:
        if self.replica_id is not None:
            with self._session() as conn:
                shared.deregister(conn, self.replica_id)

    def lead(self, replica_id: str, name: str, term_s: float) -> int | None:
        with self._session() as conn:
            return shared.lead(conn, replica_id, name, term_s)

    def resign(self, replica_id: str, epoch: int) -> None:
        with self._session() as conn:
            shared.resign(conn, replica_id, epoch)

    def fence(self, replica_id: str | None, epoch: int | None) -> None:
        self._fence = None if replica_id is None or epoch is None else (replica_id, int(epoch))

    def leader(self) -> Lease:
        with self._session() as conn:
            return shared.leader(conn)

    def replicas(self) -> list[Replica]:
        with self._session() as conn:
            return shared.replicas(conn)

    def claim(
        self, limit: int, max_in_flight: Callable[[str | None], int | None]
    ) -> list[AppliedGateway]:
        with self._lock:
            replica_id = self.replica_id
            if replica_id is None:
                raise StoreError(f"{self.name}: claim() needs register() first")
            with self._writing() as conn:
                rows = shared.claim(conn, replica_id, limit, max_in_flight)
                states = self._configs.states(conn, rows)
            for s in states:
                self._seen[s.gateway_id] = s.status.value
                self._claimed[s.gateway_id] = replica_id
            return states

    def rollout_counts(self, rollout_ids: Sequence[int]) -> dict[int, Counter[Status]]:
        with self._session() as conn:
            return shared.rollout_counts(conn, rollout_ids)

    def unowned(self) -> int:
        with self._session() as conn:
            return shared.unowned(conn)

    def finish_idle_rollouts(self, older_than_s: float, exclude: Sequence[int] = ()) -> int:
        with self._writing() as conn:
            return shared.finish_idle_rollouts(conn, older_than_s, exclude)


def open_for_reading(url: str) -> PostgresStore | None:
    """The database at ``url`` opened read-only, ``None`` when it has no schema yet (nothing applied)."""
    probe = connect(url, read_only=True)
    try:
        empty = schema_version(probe) == 0
    except Exception as exc:  # psycopg.Error: a one-line message without the password
        raise StoreError(
            f"{describe_url(url)}: {one_line(exc, url_parts(url).get('password'))}"
        ) from exc
    finally:
        probe.close()
    return None if empty else PostgresStore(url, read_only=True)
