"""A store read in one go, for the commands that never change it (``plan``, ``status``, ``search``, ``assign``).

:func:`read_state` opens the store read-only through
:func:`~reconciler.store.opening.open_store`, reads the applied state, the
rollouts and the secret digest key, and closes it; a missing file means
nothing has been applied yet and is not created.  :meth:`StoredState.aborted`
is the rule for reporting aborted rollouts: per profile, its latest rollout
when that one was aborted, with the members it left waiting in Initial (they
start on a Retry Upload or a new commit, see :mod:`reconciler.members.retrying`).
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass

from reconciler.errors import StoreError
from reconciler.model.state import AppliedGateway, Status
from reconciler.store.base import Rollout
from reconciler.store.opening import is_shared, open_store, store_path


@dataclass(frozen=True)
class AbortedRollout:
    """A profile's latest rollout, which was aborted."""

    rollout: Rollout
    waiting: int
    """Members it left in Initial: they wait for a Retry Upload or a new commit."""


@dataclass(frozen=True)
class StoredState:
    """What a read-only command needs from the store."""

    applied: dict[str, AppliedGateway]
    rollouts: list[Rollout]
    """Every rollout, oldest first."""
    secret_key: bytes | None
    """The key secrets are hashed with; ``None`` when none was created yet."""

    def aborted(self) -> list[AbortedRollout]:
        """Per profile whose latest rollout was aborted, in profile order ("no profile" first)."""
        latest = {r.profile: r for r in self.rollouts}  # oldest first: the last one wins
        found = []
        for _, rollout in sorted(latest.items(), key=lambda item: item[0] or ""):
            if rollout.state != "aborted":
                continue
            waiting = sum(
                1
                for s in self.applied.values()
                if s.rollout_id == rollout.rollout_id and s.status is Status.INITIAL
            )
            found.append(AbortedRollout(rollout, waiting))
        return found


def read_state(location: str | os.PathLike[str]) -> StoredState | None:
    """The store at ``location`` read once, read-only; ``None`` when there is no file (nothing applied).

    Raises :class:`~reconciler.errors.StoreError` (one line, naming the file)
    for a file that is no store, a store of another schema version, or one
    that cannot be read.  A PostgreSQL URL: ``None`` when the database has no
    schema yet; a database that cannot be reached is a :class:`StoreError`.
    """
    if is_shared(location):
        from reconciler.store.postgres import open_for_reading

        shared = open_for_reading(os.fspath(location))
        if shared is None:
            return None
        with closing(shared) as opened:
            return StoredState(opened.applied(), opened.rollouts(), opened.stored_secret_key())
    path = store_path(location)
    if not path.exists():
        return None
    try:
        with closing(open_store(path, read_only=True)) as store:
            return StoredState(store.applied(), store.rollouts(), store.stored_secret_key())
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot read the state store: {exc}") from exc
