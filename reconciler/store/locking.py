"""One writer per state store: a lock that ``reconciler run``, ``apply`` and ``retry`` hold while they write.

Two processes writing one store both roll out (every gateway got two jobs):
each plans against the same statuses and neither sees the other's jobs.  So a
writable :func:`~reconciler.store.opening.open_store` first takes
:class:`WriterLock` on ``STATE.lock`` beside the store and holds it until the
store is closed; a second writer is refused (after waiting ``wait_s``, 0 by
default) with a :class:`~reconciler.errors.StoreLockedError` naming the store
and the holder: its pid, host and since when.  Read-only opens (``plan
--state``, ``status``, the daemon's report reader) take no lock.

The lock is ``flock(2)`` on a file of its own (SQLite locks the database file
itself with ``fcntl``; the two never meet).  The kernel releases it when the
process ends, however it ends (``kill -9``, an OOM kill), so a stale lock
never blocks a restart and there is nothing to expire.  The lock file holds
the holder's description for the refused process's message; it is never
deleted (deleting a lock file lets two processes lock two different files).

A backend shared by replicas (PostgreSQL) takes a lease instead: a row with an
owner, an epoch and an expiry, claimed in a transaction once expired (the
epoch goes up by one), renewed by its holder well before it expires, and
checked (``WHERE epoch = mine``) by every write transaction, so that a holder
paused past its expiry cannot write after another took over.  It offers what
this class offers: taken at open, a one-line refusal that names the holder,
given up at close.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from reconciler.errors import StoreError, StoreLockedError
from reconciler.store.files import FILE_MODE, tighten

POLL_S = 0.1
"""How often a writer that waits for the lock tries again."""


def lock_path(store: Path) -> Path:
    """The lock file of the store at ``store``: ``STORE.lock``."""
    return store.with_name(store.name + ".lock")


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a store's writer lock, as its lock file says."""

    pid: int
    host: str
    since: float
    """Seconds since the epoch."""

    def __str__(self) -> str:
        when = datetime.fromtimestamp(self.since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"pid {self.pid} on {self.host} since {when}"

    def encode(self) -> bytes:
        return json.dumps({"pid": self.pid, "host": self.host, "since": self.since}).encode()

    @classmethod
    def decode(cls, data: bytes) -> Holder | None:
        """The holder a lock file names; ``None`` for an empty or unreadable one."""
        try:
            found = json.loads(data.decode("utf-8"))
            return cls(int(found["pid"]), str(found["host"]), float(found["since"]))
        except (ValueError, KeyError, TypeError):
            return None

    @classmethod
    def me(cls) -> Holder:
        return cls(os.getpid(), os.uname().nodename, time.time())


class WriterLock:
    """The writer lock of the store at ``store``, held from construction to :meth:`release`.

    Raises :class:`~reconciler.errors.StoreLockedError` when another process
    (or another open store of this process) holds it for longer than
    ``wait_s`` seconds, :class:`~reconciler.errors.StoreError` when the lock
    file cannot be opened."""

    def __init__(self, store: Path, *, wait_s: float = 0.0) -> None:
        self.store = store
        self.path = lock_path(store)
        self._fd: int | None = None
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        except OSError as exc:
            raise StoreError(
                f"{store}: cannot open the writer lock {self.path}: {exc.strerror or exc}"
            ) from exc
        tighten([self.path])
        try:
            self._lock(wait_s)
            self.holder = Holder.me()
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, self.holder.encode(), 0)
        except BaseException:
            self.release()
            raise

    def _lock(self, wait_s: float) -> None:
        assert self._fd is not None
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(POLL_S)
            except OSError as exc:
                raise StoreError(
                    f"{self.store}: cannot take the writer lock {self.path}: {exc.strerror or exc}"
                ) from exc
        holder = Holder.decode(os.pread(self._fd, 4096, 0))
        described = str(holder) if holder is not None else "holder unknown"
        waited = f" (waited {wait_s:g} s)" if wait_s > 0 else ""
        raise StoreLockedError(
            f"{self.store}: in use by another writer ({described}){waited}; "
            "one `reconciler run` or `apply` per state store: stop that one first",
            holder=str(holder) if holder is not None else "",
        )

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Give the lock up (idempotent); the kernel also does so when the process ends."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.close(fd)

    def __del__(self) -> None:
        self.release()
