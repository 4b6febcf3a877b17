"""The OCPP head-end's durable state: one SQLite file (WAL) and its key file beside it.

Created and used by :class:`~reconciler.headends.ocpp.hub.Hub`.  Everything is
read into memory once at start (:meth:`Store.load`); afterwards the database is
written only, by one writer task that commits every ``interval_s`` (50 ms) or
at once when a caller waits for durability (:meth:`Store.sync`, used before a
job is acknowledged).  Many changes of one record between two commits cost one
row write (the dirty sets coalesce), so no message from a charger costs a disk
write of its own.

Secrets: a job's parameters are kept as one Fernet token (the ``cryptography``
library) under a key derived from the 32-byte key in ``STATE.key`` (mode 0600,
:class:`~reconciler.store.keys.KeyFile`); charger passwords only as
HMAC-SHA256 digests under a second derived key, salted with the charger id.
A copy of the database alone reveals neither.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from reconciler.errors import StoreError
from reconciler.headends.ocpp.records import (
    Charger,
    Event,
    Job,
    Passwords,
    charger_from_json,
    charger_json,
)
from reconciler.store.files import private_dirs
from reconciler.store.keys import KeyFile

log = logging.getLogger(__name__)

EVENTS_KEPT = 100_000
"""Events older than the last this many are pruned."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chargers (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY, job_id TEXT NOT NULL UNIQUE, gateway_id TEXT NOT NULL,
    idem TEXT NOT NULL UNIQUE, reboot TEXT NOT NULL, parameters BLOB, status TEXT NOT NULL,
    result TEXT NOT NULL, phase TEXT NOT NULL, ended REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS job_keys (
    seq INTEGER NOT NULL, key TEXT NOT NULL, verdict TEXT NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (seq, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, gateway_id TEXT NOT NULL, kind TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS passwords (
    id TEXT PRIMARY KEY, current TEXT, previous TEXT, source TEXT);
"""


class Store:
    """The head-end's SQLite file: loaded whole at start, then written by one batching writer."""

    def __init__(self, path: Path, *, interval_s: float = 0.05) -> None:
        self.path = path
        self.interval_s = interval_s
        private_dirs(path.parent)
        key = KeyFile(path.with_name(path.name + ".key")).create()
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(key, b"job-parameters")))
        self._password_key = _derive(key, b"charger-passwords")
        try:
            self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(jobs)")}
            if "ended" not in columns:  # a state written before jobs had an end time
                self.db.execute("ALTER TABLE jobs ADD COLUMN ended REAL NOT NULL DEFAULT 0")
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the head-end state: {exc}") from exc
        with contextlib.suppress(OSError):
            path.chmod(0o600)
        self._lock = threading.Lock()
        """Held while the database is used: one transaction at a time, whichever thread runs it."""
        self._closing = False
        self._new_jobs: dict[int, Job] = {}
        self._dropped: list[int] = []
        self._answers: list[tuple[int, str, str, str]] = []
        self._jobs: dict[int, Job] = {}
        self._chargers: dict[str, Charger] = {}
        self._events: list[Event] = []
        self._passwords: dict[str, Passwords] = {}
        self._meta: dict[str, str] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._dirty = asyncio.Event()
        self._urgent = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._max_event_seq = 0

    # --- secrets ---------------------------------------------------------------------------

    def password_digest(self, charger_id: str, password: str) -> str:
        """HMAC-SHA256 of ``password`` under the state key, salted with the charger id."""
        message = charger_id.encode() + b"\0" + password.encode()
        return hmac.new(self._password_key, message, hashlib.sha256).hexdigest()

    def seal(self, parameters: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(parameters).encode())

    def unseal(self, token: bytes) -> dict[str, Any]:
        try:
            value: dict[str, Any] = json.loads(self._fernet.decrypt(token))
        except InvalidToken as exc:
            raise StoreError(
                f"{self.path}: job parameters cannot be decrypted (is {self.path.name}.key the "
                "key file this state was written with?)"
            ) from exc
        return value

    # --- loading ---------------------------------------------------------------------------

    def load(
        self,
    ) -> tuple[dict[str, Charger], list[Job], list[Event], dict[str, Passwords], dict[str, str]]:
        """Everything stored: chargers, jobs (in creation order), the kept events, passwords, meta."""
        try:
            chargers = {
                ident: charger_from_json(ident, text)
                for ident, text in self.db.execute("SELECT id, data FROM chargers")
            }
            jobs = []
            query = (
                "SELECT seq, job_id, gateway_id, idem, reboot, parameters, status, result, "
                "phase, ended FROM jobs ORDER BY seq"
            )
            now = time.time()
            for row in self.db.execute(query):
                seq, job_id, gateway, idem, reboot, sealed, status, result, phase, ended = row
                final = status in ("accepted", "declined")
                jobs.append(
                    Job(
                        seq=seq,
                        job_id=job_id,
                        gateway_id=gateway,
                        key=idem,
                        reboot=reboot,
                        parameters=None if final or sealed is None else self.unseal(sealed),
                        status=status,
                        result=json.loads(result),
                        phase=phase,
                        ended=(ended or now) if final else 0.0,  # no end time: ended at upgrade
                    )
                )
            by_seq = {job.seq: job for job in jobs}
            for seq, key, verdict, reason in self.db.execute(
                "SELECT seq, key, verdict, reason FROM job_keys"
            ):
                if (found := by_seq.get(seq)) is not None and not found.final:
                    found.progress[key] = (verdict, reason)
            events = [
                Event(*row)
                for row in self.db.execute(
                    "SELECT seq, gateway_id, kind, at FROM events ORDER BY seq DESC LIMIT ?",
                    (EVENTS_KEPT,),
                )
            ]
            events.reverse()
            passwords = {
                ident: Passwords(current, previous, source)
                for ident, current, previous, source in self.db.execute(
                    "SELECT id, current, previous, source FROM passwords"
                )
            }
            meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        except (sqlite3.Error, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{self.path}: cannot read the head-end state: {exc}") from exc
        self._max_event_seq = events[-1].seq if events else 0
        return chargers, jobs, events, passwords, meta

    # --- writing ---------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ocpp-state-writer")

    async def close(self) -> None:
        """Commit what is pending and close the database.

        The writer is asked to stop, not cancelled: cancelling it would not stop
        a commit already running in its thread, and the final commit would then
        start a transaction inside that one.
        """
        self._closing = True
        if self._task is not None:
            self._urgent.set()
            self._dirty.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self._commit_pending()
        finally:
            with self._lock:
                self.db.close()

    def job_created(self, job: Job) -> None:
        self._new_jobs[job.seq] = job
        self._mark()

    def key_answered(self, job: Job, key: str, verdict: str, reason: str) -> None:
        """One key of a job answered: a row of its own (no rewrite of the job per answer)."""
        self._answers.append((job.seq, key, verdict, reason))
        self._mark()

    def jobs_dropped(self, jobs: Iterable[Job]) -> None:
        """Final jobs past their retention: their rows go in the next commit."""
        self._dropped.extend(job.seq for job in jobs)
        self._mark()

    def job_changed(self, job: Job) -> None:
        if job.seq not in self._new_jobs:
            self._jobs[job.seq] = job
        self._mark()

    def charger_changed(self, charger: Charger) -> None:
        self._chargers[charger.id] = charger
        self._mark()

    def chargers_changed(self, chargers: Iterable[Charger]) -> None:
        for charger in chargers:
            self._chargers[charger.id] = charger
        self._mark()

    def event_added(self, event: Event) -> None:
        self._events.append(event)
        self._mark()

    def passwords_changed(self, charger_id: str, passwords: Passwords) -> None:
        self._passwords[charger_id] = passwords
        self._mark()

    def meta_changed(self, key: str, value: str) -> None:
        self._meta[key] = value
        self._mark()

    async def sync(self) -> None:
        """Return once everything changed before this call is committed."""
        if not self._has_pending():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._urgent.set()
        self._dirty.set()
        await waiter

    def _mark(self) -> None:
        self._dirty.set()

    def _has_pending(self) -> bool:
        return bool(
            self._new_jobs
            or self._answers
            or self._jobs
            or self._chargers
            or self._events
            or self._passwords
            or self._meta
            or self._dropped
        )

    async def _run(self) -> None:
        while not self._closing:
            await self._dirty.wait()
            if not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), self.interval_s)
            if self._closing:
                return  # close() makes the last commit
            self._dirty.clear()
            self._urgent.clear()
            try:
                await self._commit_pending()
            except Exception:  # logged; the writer keeps going, the waiters were told
                log.exception("the head-end state could not be written")
                if not self._closing:
                    await asyncio.sleep(1.0)

    async def _commit_pending(self) -> None:
        waiters, self._waiters = self._waiters, []
        batch = self._take()
        try:
            if any(batch):
                await asyncio.to_thread(self._write, *batch)
        except (sqlite3.Error, OSError) as exc:
            error = StoreError(f"{self.path}: cannot write the head-end state: {exc}")
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error)
            raise error from exc
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _take(self) -> tuple[list[Any], ...]:
        new_jobs = [
            (j.seq, j.job_id, j.gateway_id, j.key, j.reboot, *self._job_fields(j, seal=True))
            for j in self._new_jobs.values()
        ]
        jobs = [(*self._job_fields(j, seal=False), j.final, j.seq) for j in self._jobs.values()]
        chargers = [charger_json(c) for c in self._chargers.values()]
        events = [(e.seq, e.gateway_id, e.kind, e.at) for e in self._events]
        passwords = [(i, p.current, p.previous, p.source) for i, p in self._passwords.items()]
        meta = list(self._meta.items())
        finished = {j.seq for j in (*self._new_jobs.values(), *self._jobs.values()) if j.final}
        # Answers of a job that ended since the last commit are not needed: only its result is.
        answers = [row for row in self._answers if row[0] not in finished]
        done = [(seq,) for seq in finished]
        dropped = [(seq,) for seq in self._dropped]
        self._answers, self._dropped = [], []
        self._new_jobs, self._jobs, self._chargers = {}, {}, {}
        self._events, self._passwords, self._meta = [], {}, {}
        if events:
            self._max_event_seq = events[-1][0]
        return new_jobs, jobs, answers, done, chargers, events, passwords, meta, dropped

    def _job_fields(self, job: Job, *, seal: bool) -> tuple[Any, ...]:
        keep = seal and job.parameters is not None and not job.final
        sealed = self.seal(job.parameters) if keep and job.parameters is not None else None
        fields = (job.status, json.dumps(job.result), job.phase, job.ended)
        return (sealed, *fields) if seal else fields

    def _write(self, *batch: list[Any]) -> None:
        with self._lock:
            self._transaction(*batch)

    def _transaction(
        self,
        new_jobs: list[Any],
        jobs: list[Any],
        answers: list[Any],
        done: list[Any],
        chargers: list[Any],
        events: list[Any],
        passwords: list[Any],
        meta: list[Any],
        dropped: list[Any],
    ) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR REPLACE INTO jobs (seq, job_id, gateway_id, idem, reboot, parameters, "
                "status, result, phase, ended) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                new_jobs,
            )
            db.executemany(
                "UPDATE jobs SET status = ?, result = ?, phase = ?, ended = ?, "
                "parameters = CASE WHEN ? THEN NULL ELSE parameters END WHERE seq = ?",
                jobs,
            )
            db.executemany("DELETE FROM jobs WHERE seq = ?", dropped)  # past their retention
            db.executemany(
                "INSERT OR REPLACE INTO job_keys (seq, key, verdict, reason) VALUES (?, ?, ?, ?)",
                answers,
            )
            db.executemany("DELETE FROM job_keys WHERE seq = ?", done)  # final: not needed
            db.executemany("DELETE FROM job_keys WHERE seq = ?", dropped)
            db.executemany("INSERT OR REPLACE INTO chargers (id, data) VALUES (?, ?)", chargers)
            db.executemany(
                "INSERT OR REPLACE INTO events (seq, gateway_id, kind, at) VALUES (?, ?, ?, ?)",
                events,
            )
            if events:
                db.execute("DELETE FROM events WHERE seq <= ?", (events[-1][0] - EVENTS_KEPT,))
            db.executemany(
                "INSERT OR REPLACE INTO passwords (id, current, previous, source) "
                "VALUES (?, ?, ?, ?)",
                passwords,
            )
            db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _derive(key: bytes, purpose: bytes) -> bytes:
    """A 32-byte subkey of the state key for one purpose."""
    return hmac.new(key, purpose, hashlib.sha256).digest()
