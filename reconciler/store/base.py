"""The state store interface: what the engine and the commands need from durable storage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from reconciler.model.state import AppliedGateway, Status


@dataclass(frozen=True, slots=True)
class Rollout:
    """One rollout: the changes of one commit to one profile's members."""

    rollout_id: int
    commit: str | None
    profile: str | None
    started_at: float
    finished_at: float | None
    state: str
    """running | finished | aborted"""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Transition:
    """One status change of one gateway, kept for audit and metrics."""

    gateway_id: str
    status: Status
    at: float
    reason: str = ""
    rollout_id: int | None = None


class StateStore(Protocol):
    """Durable per-gateway state.  Every write is one transaction: a crash leaves each write whole or absent."""

    def applied(self) -> dict[str, AppliedGateway]:
        """Every managed gateway's state."""
        ...

    def get(self, gateway_id: str) -> AppliedGateway | None: ...

    def count(self) -> int:
        """How many gateways the store tracks."""
        ...

    def stored_ids(self) -> list[str]:
        """The ids of every gateway the store tracks (unordered)."""
        ...

    def changed_since(self, at: float) -> list[str]:
        """The ids of the gateways whose state was written at or after ``at`` (``updated_at``)."""
        ...

    def summaries(self, gateway_ids: Sequence[str]) -> dict[str, AppliedGateway]:
        """These gateways' states (those the store has) without their configurations.

        ``accepted``, ``target``, ``send`` and ``mismatch`` are left empty: what a
        members row shows, at a fraction of the cost of :meth:`get` (the report pages).
        """
        ...

    def write(self, states: Sequence[AppliedGateway], *, rollout_id: int | None = None) -> None:
        """Insert or replace these gateways' states, and record a transition for each status change.

        ``rollout_id``, when given, overrides each state's own ``rollout_id``."""
        ...

    def forget(self, gateway_ids: Sequence[str]) -> None:
        """Stop tracking gateways that left management (their reset was accepted)."""
        ...

    def start_rollout(self, commit: str | None, profile: str | None, at: float) -> int: ...

    def finish_rollout(self, rollout_id: int, state: str, at: float, reason: str = "") -> None: ...

    def rollouts(self, *, active_only: bool = False) -> list[Rollout]: ...

    def transitions(
        self, gateway_id: str | None = None, *, limit: int = 1000
    ) -> list[Transition]: ...

    def prune_transitions(self, keep_per_gateway: int = 50) -> int:
        """Drop all but the newest transitions of each gateway (a bounded history)."""
        ...

    def secret_key(self) -> bytes:
        """The key of the keyed hash that secret values are compared by (created once per store).

        Never kept beside the digests: a copy of the stored data alone must not
        let anyone test guesses of a secret (SQLite: a key file,
        :mod:`reconciler.store.keys`)."""
        ...

    def stored_secret_key(self) -> bytes | None:
        """The key of :meth:`secret_key` if one was created, else ``None``; never writes.

        For read-only callers (``reconciler plan``); without a key, no plan
        against this store has hashed a secret yet (or the key is not
        readable here, as in CI: secrets then compare by name)."""
        ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def close(self) -> None:
        """Close the store; a writable SQLite one gives up its writer lock (one writer per file)."""
        ...


@dataclass(frozen=True, slots=True)
class Lease:
    """The leader lease of a shared store: who leads, under which epoch, for how long yet."""

    holder: str | None
    """The replica id of the leader, ``None`` when nobody ever led."""
    epoch: int
    """Raised by one every time the lease changes hands: the fencing token of the leader's writes."""
    expires_in: float
    """Seconds until the lease runs out (database clock); ``<= 0``: nobody leads now."""
    name: str = ""
    """The leader's replica name (host name or ``--replica-name``), for people."""


@dataclass(frozen=True, slots=True)
class Replica:
    """One replica registered in a shared store (one incarnation of a ``reconciler run``)."""

    replica_id: str
    name: str
    started_at: float
    expires_in: float
    """Seconds until its own lease runs out (database clock); ``<= 0``: dead, its claims are free."""
    claims: int
    """Gateways in work it holds: Initial in a running rollout, Requested or Sent."""

    @property
    def live(self) -> bool:
        return self.expires_in > 0


class SharedStore(StateStore, Protocol):
    """A state store several ``reconciler run`` replicas share (PostgreSQL).

    On top of :class:`StateStore`:

    - **replicas**: :meth:`register` makes this store instance one replica's worker, with a
      lease it renews with :meth:`heartbeat`; its writes then check, in their own
      transaction, that the lease has not run out (else :class:`~reconciler.errors.NotLeaderError`,
      nothing written).
    - **claims**: :meth:`claim` takes gateway work with ``FOR UPDATE SKIP LOCKED`` in one short
      transaction; a claim lasts as long as its replica's lease.
    - **leader lease**: :meth:`lead` takes or renews the lease (a new holder raises the
      epoch); :meth:`fence` makes every later write of this instance check holder and epoch
      in its own transaction.
    - **guarded writes**: :meth:`write` names the status it expects to replace (the one this
      instance last read or wrote for the gateway) and, for a claimed gateway, the claim;
      a gateway it never read is only inserted, never replaced; rows that changed under it
      are not written (nor recorded as transitions), and their ids are in :attr:`skipped`.
      :meth:`forget` deletes under the same guard.
    """

    replica_id: str | None
    """The id :meth:`register` gave this instance, else ``None``."""
    skipped: list[str]
    """Gateways the last :meth:`write` or :meth:`forget` did not touch: another writer changed them."""

    def register(self, name: str, term_s: float) -> str:
        """Register a new replica incarnation live for ``term_s`` seconds; returns its id."""
        ...

    def heartbeat(self, term_s: float) -> bool:
        """Extend this replica's lease by ``term_s``; ``False`` when it had already run out (its
        claims may be someone else's now: drop all work and :meth:`register` again)."""
        ...

    def deregister(self) -> None:
        """End this replica's lease now (clean stop): its claims are free at once."""
        ...

    def lead(self, replica_id: str, name: str, term_s: float) -> int | None:
        """Take the leader lease when it is free or ran out (epoch + 1), or renew it when
        ``replica_id`` holds it; returns the epoch held, ``None`` when another replica leads."""
        ...

    def resign(self, replica_id: str, epoch: int) -> None:
        """Give the lease up at once (clean stop) if ``replica_id`` still holds it at ``epoch``."""
        ...

    def fence(self, replica_id: str | None, epoch: int | None) -> None:
        """From now on every write of this instance checks, in its own transaction, that
        ``replica_id`` holds the lease at ``epoch`` and it has not run out (``None``: no check)."""
        ...

    def leader(self) -> Lease: ...

    def replicas(self) -> list[Replica]:
        """The replicas registered, live first; dead ones are kept a while for the record."""
        ...

    def claim(
        self, limit: int, max_in_flight: Callable[[str | None], int | None]
    ) -> list[AppliedGateway]:
        """Claim up to ``limit`` gateways for this registered replica: first work whose replica
        died (Requested or Sent, claimed by no live replica), then Initial gateways of running
        rollouts that no live replica holds, without taking a rollout past its profile's
        ``max_in_flight(profile)`` gateways in work across all replicas (``None``: no limit),
        nor this replica past its share of it (rounded up, between the live replicas)."""
        ...

    def rollout_counts(self, rollout_ids: Sequence[int]) -> dict[int, Counter[Status]]:
        """Gateways per status of each of these rollouts (those whose ``rollout_id`` it is)."""
        ...

    def unowned(self) -> int:
        """Gateways in work (Requested or Sent) that no live replica holds: should stay 0."""
        ...

    def finish_idle_rollouts(self, older_than_s: float, exclude: Sequence[int] = ()) -> int:
        """Record ``finished`` every running rollout started more than ``older_than_s`` ago that
        has no gateway Initial, Requested or Sent left (one whose supervisor died); returns how many."""
        ...


def shared_store(store: StateStore) -> SharedStore | None:
    """``store`` as a :class:`SharedStore` when several replicas can share it, else ``None``."""
    return cast("SharedStore", store) if callable(getattr(store, "claim", None)) else None
