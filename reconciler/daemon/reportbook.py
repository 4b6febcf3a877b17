"""The report's member pages, kept up to date at the cost of what changed, not of the fleet's size.

Called by :class:`reconciler.daemon.running.Daemon` in its report worker
thread, one call at a time, with a read-only store connection of its own.
:meth:`ReportBook.update` lays the members out in pages (per profile, sorted
by gateway id, :data:`~reconciler.daemon.memberpages.PAGE_SIZE` each),
rewrites only the pages that changed (:mod:`reconciler.daemon.memberpages`
renders them), deletes the pages that no longer exist, and returns a
:class:`Tally` (the counts per status and profile, the profiles Retry Upload
can act on, the page index) from which the summary files and the metrics are
made.  Only one page of member rows is in memory at a time.

A page is rewritten when:

- its gateways or their declarations differ (a commit changed membership,
  subsettings or labels), or the store began or stopped tracking one of them;
- a fact the members table shows from the head-end's inventory (firmware,
  provider, address, owner, stations) changed for one of its gateways;
- the store wrote the state of one of its gateways since the last update
  (``updated_at``, with a margin of :data:`MARGIN_S` for writes still in
  flight when the last update read);
- the set of aborted rollouts changed (it decides which Initial members
  Retry Upload can push to), or the group's page count changed (the pages
  link to each other).
"""

from __future__ import annotations

import contextlib
import shutil
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.daemon import memberpages
from reconciler.daemon.reports import atomic_write
from reconciler.members.counts import STATUS_KEYS, ProfileCounts
from reconciler.members.retrying import may_retry
from reconciler.members.rows import member_json, member_row
from reconciler.model.files import GatewayEntry
from reconciler.model.inventory import InventoryGateway
from reconciler.model.repos import Repo
from reconciler.store.base import StateStore

MARGIN_S = 5.0
"""How far back each update looks again for state writes (they may commit after the last read began)."""
RECHECK_S = 300.0
"""The layout is checked against the store at least this often (a row forgotten while another
was added leaves the count unchanged); it costs a pass over the ids, and renders nothing that
did not change."""


@dataclass(slots=True)
class Page:
    """One page of a profile's members, and what its last rendering counted."""

    profile: str | None
    number: int
    of: int
    ids: tuple[str, ...]
    entries: tuple[GatewayEntry | None, ...]
    statuses: Counter[str] = field(default_factory=Counter)
    reboot_pending: int = 0
    retry: Counter[str] = field(default_factory=Counter)
    """Members Retry Upload would push to, by the profile the store has them under."""
    members: int = 0
    stored: int = -1
    """How many of its gateways the store tracked when it was rendered."""
    dirty: bool = True


@dataclass(frozen=True)
class Tally:
    """What the member pages counted: the summary's and the metrics' numbers."""

    totals: dict[str, int]
    counts: tuple[ProfileCounts, ...]
    retryable: dict[str, int]
    pages: list[dict[str, Any]]
    rewritten: int
    """Pages rendered by this update (0 when nothing changed)."""
    error: OSError | None = None
    """The first error writing a page raised (those pages stay dirty: written next time)."""


class ReportBook:
    """The member pages under ``report_dir/members``, and what is needed to tell which changed."""

    def __init__(self, report_dir: Path) -> None:
        self.report_dir = report_dir
        self._pages: dict[tuple[str | None, int], Page] = {}
        self._page_of: dict[str, Page] = {}
        self._repo: Repo | None = None
        self._inventory: Mapping[str, InventoryGateway] | None = None
        self._count = -1
        self._aborted: frozenset[int] | None = None
        self._since: float | None = None
        self._relayout = True
        self._laid_out_at = 0.0

    def update(
        self,
        repo: Repo | None,
        inventory: Mapping[str, InventoryGateway] | None,
        store: StateStore,
        aborted: frozenset[int],
        now: float,
    ) -> Tally:
        """Bring the pages up to date; those that cannot be written stay dirty (``Tally.error``)."""
        since = self._since
        count = store.count()
        changed = store.changed_since(since) if since is not None else []
        if (
            repo is not self._repo
            or count != self._count
            or self._relayout
            or now - self._laid_out_at > RECHECK_S
            or any(i not in self._page_of for i in changed)
        ):
            self._layout(repo, store)
            self._repo, self._count, self._relayout = repo, count, False
            self._laid_out_at = now
        if inventory is not self._inventory:
            old = self._inventory or {}
            new = inventory or {}
            for gateway_id, page in self._page_of.items():
                before, after = old.get(gateway_id), new.get(gateway_id)
                if before is not after and _shown(before) != _shown(after):
                    page.dirty = True
            self._inventory = inventory
        for gateway_id in changed:
            written = self._page_of.get(gateway_id)
            if written is not None:
                written.dirty = True
        if aborted != self._aborted:
            for page in self._pages.values():
                page.dirty = True
            self._aborted = aborted
        rewritten = 0
        error: OSError | None = None
        if repo is not None:
            for key in sorted(self._pages, key=_order):
                page = self._pages[key]
                if not page.dirty:
                    continue
                try:
                    # After a failed write the rest are counted, not written: still dirty.
                    self._render(page, repo, inventory, store, aborted, write=error is None)
                except OSError as exc:
                    error = exc
                rewritten += 1
        self._since = now - MARGIN_S  # pages that could not be written stay dirty
        return self._tally(repo, rewritten, error)

    # --- layout ----------------------------------------------------------------------------------

    def _layout(self, repo: Repo | None, store: StateStore) -> None:
        groups: dict[str | None, list[str]] = {}
        stored = set(store.stored_ids()) if repo is not None else set()
        if repo is not None:
            for entry in repo.gateways.values():
                groups.setdefault(entry.profile, []).append(entry.id)
            groups.setdefault(None, []).extend(i for i in stored if i not in repo.gateways)
        pages: dict[tuple[str | None, int], Page] = {}
        size = memberpages.PAGE_SIZE
        for profile, ids in groups.items():
            if not ids:
                continue
            ids.sort()
            of = -(-len(ids) // size)
            for number in range(1, of + 1):
                chunk = tuple(ids[(number - 1) * size : number * size])
                assert repo is not None
                entries = tuple(repo.gateways.get(i) for i in chunk)
                old = self._pages.get((profile, number))
                if old is not None and old.ids == chunk and old.of == of and _same(old, entries):
                    old.entries = entries  # the new commit's objects; the old commit can go
                    # The store began or stopped tracking one of them (a forgotten row
                    # leaves no trace in changed_since):
                    old.dirty |= old.stored != sum(1 for i in chunk if i in stored)
                    pages[profile, number] = old
                else:
                    pages[profile, number] = Page(profile, number, of, chunk, entries)
        for key in self._pages.keys() - pages.keys():
            for fmt in memberpages.FORMATS:
                with contextlib.suppress(OSError):  # gone already, or the directory is
                    (self.report_dir / memberpages.page_path(*key, fmt)).unlink()
        for profile in {k[0] for k in self._pages} - {k[0] for k in pages}:
            shutil.rmtree(
                self.report_dir / "members" / memberpages.group_dir(profile), ignore_errors=True
            )
        self._pages = pages
        self._page_of = {i: page for page in pages.values() for i in page.ids}

    # --- rendering -------------------------------------------------------------------------------

    def _render(
        self,
        page: Page,
        repo: Repo,
        inventory: Mapping[str, InventoryGateway] | None,
        store: StateStore,
        aborted: frozenset[int],
        *,
        write: bool,
    ) -> None:
        states = store.summaries(page.ids)
        page.stored = len(states)
        rows = []
        statuses: Counter[str] = Counter()
        retry: Counter[str] = Counter()
        pending = 0
        for gateway_id in page.ids:
            state = states.get(gateway_id)
            member = member_row(repo, inventory, gateway_id, state)
            if member is None:  # the store forgot it since the layout: lay out again next time
                self._relayout = True
                continue
            rows.append(member_json(member))
            statuses[member.status_key] += 1
            pending += bool(member.reboot_pending)
            if state is not None and state.profile is not None and may_retry(state, aborted):
                retry[state.profile] += 1
        page.statuses, page.retry, page.reboot_pending = statuses, retry, pending
        page.members = len(rows)
        if not write:
            return
        texts = memberpages.texts(page.profile, page.number, page.of, rows)
        for fmt, text in texts.items():
            atomic_write(
                self.report_dir / memberpages.page_path(page.profile, page.number, fmt), text
            )
        page.dirty = False

    def _tally(self, repo: Repo | None, rewritten: int, error: OSError | None) -> Tally:
        totals: Counter[str] = Counter()
        retryable: Counter[str] = Counter()
        groups: dict[str | None, list[Page]] = {
            name: [] for name in (repo.profiles if repo else ())
        }
        ordered = sorted(self._pages, key=_order)
        for key in ordered:
            page = self._pages[key]
            totals.update(page.statuses)
            retryable.update(page.retry)
            groups.setdefault(page.profile, []).append(page)
        names = sorted(n for n in groups if n is not None) + ([None] if None in groups else [])
        counts = []
        for name in names:
            statuses: Counter[str] = Counter()
            for page in groups[name]:
                statuses.update(page.statuses)
            counts.append(
                ProfileCounts(
                    name,
                    sum(p.members for p in groups[name]),
                    {k: statuses[k] for k in STATUS_KEYS},
                    sum(p.reboot_pending for p in groups[name]),
                )
            )
        return Tally(
            totals={k: totals[k] for k in STATUS_KEYS},
            counts=tuple(counts),
            retryable=dict(retryable),
            pages=[
                memberpages.page_entry(p.profile, p.number, p.members)
                for p in (self._pages[k] for k in ordered)
            ],
            rewritten=rewritten,
            error=error,
        )


def _order(key: tuple[str | None, int]) -> tuple[bool, str, int]:
    return (key[0] is None, key[0] or "", key[1])


def _shown(known: InventoryGateway | None) -> tuple[object, ...] | None:
    """The inventory facts a member row shows (not ``last_seen``, ``connected``, ``busy``)."""
    if known is None:
        return None
    return (known.firmware, known.provider, known.address, known.owner, known.stations)


def _same(page: Page, entries: tuple[GatewayEntry | None, ...]) -> bool:
    return all(a is b or a == b for a, b in zip(page.entries, entries, strict=True))
