"""``apply`` and ``retry`` on a shared state store (PostgreSQL): the command leads while it runs, and works.

Called by :mod:`reconciler.cli.apply` and :mod:`reconciler.cli.retry` when
:func:`~reconciler.store.base.shared_store` says their store is shared.  The
command acts like one ``reconciler run`` replica that leads
(:mod:`reconciler.daemon.replicas`):

- :func:`take_lead` takes the store's leader lease for this process (replica
  name ``apply-HOST-PID``) for ``RECONCILER_LEASE_TERM`` seconds (15 by
  default, as the daemon's) and fences the store with its epoch: every later
  write of this process checks, in its own transaction, that it still leads.
  When another replica leads (a daemon), the command is refused with
  :class:`~reconciler.errors.StoreLockedError`, as a SQLite store's second
  writer is;
- :meth:`Leadership.carry_out` runs the engine's work (an engine with
  ``shared=True`` opens and supervises the rollouts) beside this process's
  :class:`~reconciler.engine.shared.Worker`, on a second connection of its own,
  which claims the gateway work and carries it out (with the workers of any
  daemon replicas), and renews the lease every third of its term.  A lease it
  cannot renew stops the work with :class:`~reconciler.errors.NotLeaderError`
  (every status is durable: the next ``apply`` or leader resumes).  At the end
  the worker stops and the lease is given up at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from reconciler import errors
from reconciler.cli.common import StateLocationValue, describe, fail
from reconciler.drivers.base import Driver
from reconciler.engine.settings import EngineSettings
from reconciler.engine.shared import Worker
from reconciler.model.catalogs import Catalog
from reconciler.model.files import RolloutPolicy
from reconciler.store import open_store
from reconciler.store.base import SharedStore, StateStore, shared_store

log = logging.getLogger("reconciler.cli")

LEASE_TERM_VARIABLE = "RECONCILER_LEASE_TERM"
DEFAULT_LEASE_TERM_S = 15.0
"""Seconds the leader lease and the worker's lease last without renewal (as ``reconciler run``'s)."""

IDLE_WAIT_S = 60.0
"""Seconds the worker may take to finish its work (read-backs) once the rollouts ended."""
IDLE_POLL_S = 0.1

T = TypeVar("T")


def lease_term() -> float:
    """``RECONCILER_LEASE_TERM`` (seconds, at least 1), else 15; :class:`ValueError` names a bad value."""
    text = os.environ.get(LEASE_TERM_VARIABLE, "").strip()
    if not text:
        return DEFAULT_LEASE_TERM_S
    try:
        term = float(text)
    except ValueError:
        term = math.nan
    if not (1.0 <= term < math.inf):
        raise ValueError(f"{LEASE_TERM_VARIABLE}={text!r}: expected seconds, at least 1")
    return term


@dataclass
class Leadership:
    """This process's hold on a shared store's leader lease."""

    store: SharedStore
    location: StateLocationValue
    name: str
    """The replica name other replicas show for this process (``apply-HOST-PID``)."""
    identity: str
    """The lease holder's id: the name and 8 random hex digits (one per run)."""
    epoch: int
    term_s: float
    deadline: float
    """Until when (monotonic) the lease holds for sure, on this process's clock."""

    async def carry_out(
        self,
        work: Coroutine[Any, Any, T],
        *,
        driver: Driver,
        catalog: Catalog,
        policies: Mapping[str, RolloutPolicy],
        resolve_secret: Callable[[str], str | None],
        settings: EngineSettings | None = None,
    ) -> T:
        """Await ``work`` (the engine's) with this process's worker running and the lease renewed.

        Raises :class:`~reconciler.errors.NotLeaderError` when the lease is lost
        (``work`` is cancelled), and what ``work`` or the worker raise.  The
        lease is given up at the end in every case.
        """
        try:
            opened = open_store(self.location)
        except BaseException:
            work.close()
            self.resign()
            raise
        worker_store = shared_store(opened)
        assert worker_store is not None  # the same location as the leader's shared store
        worker = Worker(
            driver=driver,
            store=worker_store,
            name=self.name,
            catalog=catalog,
            resolve_secret=resolve_secret,
            settings=settings,
            term_s=self.term_s,
        )
        worker.policies = policies
        working = asyncio.create_task(worker.run(), name="apply-worker")
        renewing = asyncio.create_task(self._renew(), name="apply-lease")
        main = asyncio.create_task(work, name="apply-engine")
        try:
            await asyncio.wait({main, renewing, working}, return_when=asyncio.FIRST_COMPLETED)
            if not main.done():
                main.cancel()
                await asyncio.gather(main, return_exceptions=True)
                if renewing.done():
                    renewing.result()  # raises NotLeaderError
                working.result()  # raises what stopped the worker
                raise errors.NotLeaderError(f"{describe(self.location)}: the worker stopped")
            return main.result()
        finally:
            for task in (main, renewing):
                task.cancel()
            if main.done() and not main.cancelled() and main.exception() is None:
                await _idle(worker, working)  # its last read-backs (after Accepted) included
            # Cancelled rather than stopped with ``worker.stopping``: once that is set, the
            # worker's lease keepalive pauses no more, and Python 3.11's ``asyncio.wait_for``
            # swallows a cancellation that meets a finished wait: the keepalive would never
            # end.  Cancelled, the worker still deregisters (its claims are free at once).
            working.cancel()
            await asyncio.gather(main, renewing, working, return_exceptions=True)
            opened.close()
            self.resign()

    async def _renew(self) -> None:
        """Renew the lease every third of its term until cancelled; raise once it is lost."""
        while True:
            await asyncio.sleep(self.term_s / 3)
            started = time.monotonic()
            try:
                epoch = self.store.lead(self.identity, self.name, self.term_s)
            except errors.StoreError as exc:  # the database is away: lead no longer than sure
                if started >= self.deadline:
                    raise errors.NotLeaderError(
                        f"{describe(self.location)}: the leader lease of this {self.name} may "
                        f"have run out ({exc}); every status is durable: run it again to resume"
                    ) from None
                log.warning("renewing the leader lease failed: %s", exc)
                continue
            if epoch != self.epoch:
                raise errors.NotLeaderError(
                    f"{describe(self.location)}: {self.name} lost the leader lease to "
                    f"another replica; every status is durable: run it again to resume"
                )
            self.deadline = started + self.term_s * 0.9

    def resign(self) -> None:
        """Give the lease up now (if this process still holds it); never raises."""
        with contextlib.suppress(Exception):
            self.store.resign(self.identity, self.epoch)


async def _idle(worker: Worker, working: asyncio.Task[None]) -> None:
    """Until ``worker`` has finished every round that claimed work (at most :data:`IDLE_WAIT_S`).

    Its current round claimed nothing and holds nothing: each earlier one ran to its end,
    read-backs included (the supervisor ends a rollout once its gateways are Accepted, before
    they are read back)."""
    deadline = time.monotonic() + IDLE_WAIT_S
    while not working.done() and time.monotonic() < deadline:
        runner = worker.runner
        if runner is None or (runner.claimed == 0 and worker.claims == 0):
            return
        await asyncio.sleep(IDLE_POLL_S)


def take_lead(
    store: SharedStore,
    location: StateLocationValue,
    *,
    term_s: float,
    instead: str = "apply through its repository instead",
) -> Leadership:
    """Take the leader lease of ``store`` for this process and fence the store with it.

    Raises :class:`~reconciler.errors.StoreLockedError` (one line, ``instead``
    says what to do) when another replica leads."""
    name = f"apply-{socket.gethostname()}-{os.getpid()}"
    identity = f"{name}-{secrets.token_hex(4)}"
    started = time.monotonic()
    epoch = store.lead(identity, name, term_s)
    if epoch is None:
        holder = store.leader().name or "another replica"
        raise errors.StoreLockedError(
            f"{describe(location)}: replica {holder} leads this store "
            f"(a `reconciler run` daemon); {instead}, or stop it",
            holder=holder,
        )
    store.fence(identity, epoch)
    return Leadership(
        store=store,
        location=location,
        name=name,
        identity=identity,
        epoch=epoch,
        term_s=term_s,
        deadline=started + term_s * 0.9,
    )


def lead_or_fail(
    store: StateStore,
    location: StateLocationValue,
    *,
    instead: str = "apply through its repository instead",
) -> Leadership | None:
    """:func:`take_lead` when ``store`` is shared (else ``None``); exit 1 with one line when
    another replica leads or ``RECONCILER_LEASE_TERM`` is malformed (``store`` is closed then)."""
    shared = shared_store(store)
    if shared is None:
        return None
    try:
        return take_lead(shared, location, term_s=lease_term(), instead=instead)
    except (ValueError, errors.StoreError) as exc:
        store.close()
        fail(str(exc))
