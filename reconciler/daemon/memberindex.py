"""The daemon's live member index: every member's row, kept close to the store.

:class:`LiveMembers` keeps a :class:`~reconciler.members.index.MemberIndex`
of every member (the rows ``reconciler status`` lists: the last valid
commit, the head-end's inventory, the store's statuses) close to the store.
:class:`reconciler.daemon.running.Daemon` holds one; its HTTP worker threads
(the members API, the console's screens) and its report worker thread call
:meth:`LiveMembers.snapshot` concurrently.

- A new commit (``status.good.repo``) or a new inventory object: the index
  is built again in a thread of its own (about 2 s at 100,000 gateways);
  meanwhile callers get the previous snapshot at once.  Only before the
  first snapshot does a caller wait.  A new inventory that shares most
  gateways' objects with the last one (the read-back's updates) only
  rebuilds the rows whose objects changed.
- Otherwise, at most once per ``max_age_s``, one caller brings the
  snapshot up to date with what the store wrote since the last look
  (``changed_since``, looking back :data:`MARGIN_S` more for writes still in
  flight), costing what changed; concurrent callers meanwhile get the
  snapshot as it is.  Forgotten gateways leave no trace in
  ``changed_since``: the store's ``count()`` (one cheap query) is compared
  with the rows that have a status, and only when they differ are the
  stored ids listed and the difference applied.

The members API answers from a snapshot (:mod:`reconciler.daemon.membersapi`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.daemon.status import DaemonStatus
from reconciler.errors import StoreError
from reconciler.loading import bulk
from reconciler.members.index import MemberIndex
from reconciler.members.rows import NO_STATUS, Member, member_row, members
from reconciler.model.inventory import InventoryGateway
from reconciler.model.repos import Repo
from reconciler.store import open_store
from reconciler.store.base import StateStore

log = logging.getLogger("reconciler.daemon")

MARGIN_S = 5.0
"""How far back each refresh looks again for state writes (as the report pages do:
``updated_at`` is the writer's wall clock, and a write may commit after the last read began)."""

RETRY_S = 5.0
"""After a failed build, the next one starts no sooner (while a snapshot is served)."""

DIFF_SHARE = 0.1
"""A new inventory whose changed gateways are at most this share of the rows is applied
row by row; a larger change builds the index again."""

Inventory = Mapping[str, InventoryGateway] | None
Basis = tuple[Repo, Inventory]


class LiveMembers:
    """A member index kept up to date with the store; safe to call from any thread."""

    def __init__(self, state_location: str | os.PathLike[str], *, max_age_s: float = 1.0) -> None:
        self.state_location = state_location
        self.max_age_s = max_age_s
        self._lock = threading.Condition()
        self._index: MemberIndex | None = None
        self._basis: Basis | None = None
        """What :attr:`_index` was built from."""
        self._wanted: Basis | None = None
        """What the newest caller asked for (the builder builds it next)."""
        self._builder: threading.Thread | None = None
        self._error: Exception | None = None
        """Why the last build failed (raised to callers that wait for a first snapshot)."""
        self._failed_at = -RETRY_S
        self._refreshing = False
        self._failing = False
        """The last refresh could not read the store (said once, not every refresh)."""
        self._checked = 0.0
        self._since = 0.0
        self._closed = False
        self._store_lock = threading.Lock()
        self._store: StateStore | None = None
        self.builds = 0
        """Full builds done (a new commit, a new inventory); the rest were incremental."""

    def snapshot(self, status: DaemonStatus, *, fresh: bool = False) -> MemberIndex | None:
        """The members of ``status``'s last valid commit, as of at most ``max_age_s`` ago.

        ``None`` before a valid commit.  Raises :class:`StoreError` when there
        is no snapshot yet and the store cannot be read.  ``fresh``: waits for
        the index of ``status``'s commit and inventory and for what the store
        holds now (a store that cannot be read raises) - for callers that must
        see their own writes, never for requests.
        """
        if status.good is None:
            return None
        basis: Basis = (status.good.repo, status.inventory)
        with self._lock:
            if self._basis is None or not _same(basis, self._basis):
                index = self._rebuilding(basis, wait=fresh)
                if not fresh:
                    return index
            while fresh and self._refreshing:
                self._lock.wait()
            if self._closed:
                raise StoreError("the member index is closed")
            index, basis, since = self._index, self._basis or basis, self._since
            if not fresh and (
                self._refreshing
                or self._builder is not None
                or time.monotonic() - self._checked < self.max_age_s
            ):
                return index
            self._refreshing = True
        assert index is not None
        try:
            index, since = self._refresh(index, basis, since)
            if self._failing:
                log.info("members: the store can be read again")
            self._failing = False
        except StoreError as exc:
            self._drop_store()
            if not fresh and not self._failing:
                log.warning(
                    "members: the store cannot be read (%s); serving the last snapshot", exc
                )
            self._failing = True
            if fresh:
                raise
        finally:
            with self._lock:
                self._refreshing = False
                self._checked = time.monotonic()
                if self._basis is not None and _same(basis, self._basis):
                    self._index, self._since = index, since
                index = self._index
                self._lock.notify_all()
        return index

    def close(self) -> None:
        """Stop: no more snapshots; a build in progress ends on its own (its thread is a daemon)."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._drop_store()

    # --- building ----------------------------------------------------------------------------------

    def _rebuilding(self, basis: Basis, *, wait: bool) -> MemberIndex | None:
        """Under the lock: have ``basis`` built in the builder thread.

        Returns the previous snapshot at once; waits only when there is none, or
        for ``wait`` until the index is of ``basis``.  Raises the build's error
        when a build this call waits for failed.
        """
        started = False
        while True:
            if self._closed:
                raise StoreError("the member index is closed")
            if self._basis is not None and _same(self._basis, basis):
                return self._index
            if self._builder is not None:
                self._wanted = basis  # built next
            else:
                if started and self._error is not None:
                    raise self._error
                since_failure = time.monotonic() - self._failed_at
                if started or wait or self._index is None or since_failure >= RETRY_S:
                    self._wanted, self._error, started = basis, None, True
                    self._builder = threading.Thread(
                        target=self._build, name="member index", daemon=True
                    )
                    self._builder.start()
            if self._index is not None and not wait:
                return self._index
            self._lock.wait()

    def _build(self) -> None:
        """The builder thread: build what is wanted until the snapshot is of the newest basis."""
        while True:
            with self._lock:
                basis, built_from = self._wanted, self._basis
                index, since = self._index, self._since  # a pair: the index saw writes up to since
                done = built_from is not None and basis is not None and _same(basis, built_from)
                if basis is None or done or self._closed:
                    self._builder = None
                    self._lock.notify_all()
                    return
            try:
                started = time.monotonic()
                if index is not None and built_from is not None and built_from[0] is basis[0]:
                    fresh = self._inventory_changed(index, since, built_from[1], basis)
                else:
                    fresh = None
                how = "updated for a new inventory"
                if fresh is None:
                    fresh, how = self._full(basis), "built"
            except Exception as exc:
                log.warning("members: building the member index failed: %s", exc)
                self._drop_store()
                with self._lock:
                    self._error, self._builder = exc, None
                    self._failed_at = time.monotonic()
                    self._lock.notify_all()
                return
            log.info(
                "members: index of %d gateways %s in %.2f s",
                len(fresh[0]),
                how,
                time.monotonic() - started,
            )
            with self._lock:
                self._index, self._since = fresh
                self._basis, self._checked = basis, time.monotonic()
                self._lock.notify_all()
                if self._wanted is None or _same(self._wanted, basis):
                    self._builder = None
                    return

    def _full(self, basis: Basis) -> tuple[MemberIndex, float]:
        repo, inventory = basis
        with self._store_lock:
            store = self._open()
            read_at = time.time()
            states = store.summaries(store.stored_ids())
        with bulk.paused_gc():  # ~2 s less GC work at 100,000 gateways; the rows are long-lived
            index = MemberIndex.build(members(repo, inventory, states))
        self.builds += 1  # the builder thread only
        return index, read_at - MARGIN_S

    def _inventory_changed(
        self, index: MemberIndex, since: float, before: Inventory, basis: Basis
    ) -> tuple[MemberIndex, float] | None:
        """The rows whose inventory object changed made again (``None``: too many, build)."""
        repo, after = basis
        old, new = before or {}, after or {}
        ids = [i for i, known in new.items() if old.get(i) is not known]
        ids += [i for i in old if i not in new]
        if len(ids) > DIFF_SHARE * max(len(index), 1):
            return None
        with self._store_lock:
            states = self._open().summaries(ids)
        return index.updated(_changes(index, repo, after, ids, states)), since

    # --- refreshing ----------------------------------------------------------------------------------

    def _refresh(self, index: MemberIndex, basis: Basis, since: float) -> tuple[MemberIndex, float]:
        """``index`` with what the store wrote since ``since``, and the next ``since``."""
        repo, inventory = basis
        with self._store_lock:
            store = self._open()
            read_at = time.time()
            count = store.count()
            ids = store.changed_since(since)
            states = store.summaries(ids) if ids else {}
        changed = _changes(index, repo, inventory, ids, states)
        index = index.updated(changed)
        if count != len(index) - index.status_counts()[NO_STATUS]:
            index = self._recount(index, repo, inventory)
        return index, read_at - MARGIN_S

    def _recount(self, index: MemberIndex, repo: Repo, inventory: Inventory) -> MemberIndex:
        """Apply the difference between the stored ids and the rows that have a status."""
        with self._store_lock:
            store = self._open()
            stored = set(store.stored_ids())
            shown = {m.gateway_id for m in index.select(None) if m.status is not None}
            ids = sorted((shown - stored) | (stored - shown))
            states = store.summaries(ids)
        if ids:
            log.info("members: %d gateways began or stopped being stored", len(ids))
        return index.updated(_changes(index, repo, inventory, ids, states))

    def _open(self) -> StateStore:
        """The read-only store connection (under :attr:`_store_lock`)."""
        if self._closed:
            raise StoreError("the member index is closed")
        if self._store is None:
            self._store = open_store(self.state_location, read_only=True)
        return self._store

    def _drop_store(self) -> None:
        """Close the connection (after an error, or at close): the next read opens a new one."""
        with self._store_lock:
            if self._store is not None:
                store, self._store = self._store, None
                try:
                    store.close()
                except Exception as exc:  # closing a broken connection: nothing to do
                    log.debug("members: closing the store connection: %s", exc)


def _same(a: Basis, b: Basis) -> bool:
    return a[0] is b[0] and a[1] is b[1]


def _changes(
    index: MemberIndex,
    repo: Repo,
    inventory: Inventory,
    ids: Sequence[str],
    states: Mapping[str, Any],
) -> dict[str, Member | None]:
    """The rows of ``ids`` made again, those that differ from ``index``'s."""
    changed: dict[str, Member | None] = {}
    for gateway_id in ids:
        row = member_row(repo, inventory, gateway_id, states.get(gateway_id))
        if row != index.get(gateway_id):
            changed[gateway_id] = row
    return changed
