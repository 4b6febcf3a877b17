"""An immutable snapshot of member rows that answers Magic Search fast: :class:`MemberIndex`.

Kept by the daemon's live member index (:mod:`reconciler.daemon.memberindex`),
which builds one per commit and inventory and moves it forward with
:meth:`MemberIndex.updated` as the store's statuses change; its users (the
members API, the console) read a snapshot from any thread.  Pure.

:meth:`MemberIndex.select` finds exactly what :func:`reconciler.members.matching.select`
finds over the same rows, by the same definitions (each row's
:func:`~reconciler.members.matching.haystack` is kept; the scans are in
:mod:`reconciler.members.rowscan`), only cheaper.  Each profile's members
are a sorted array of positions in the fleet's rows, so ``profile=`` costs
that profile's size, not the fleet's.

:meth:`MemberIndex.updated` copies the fleet's two pointer lists and patches
them (about 5 ms at 100,000 rows): the profiles' arrays stay shared while
the set of ids is the same (a status change), and are laid out again when
ids come or go.  Counts (:meth:`~MemberIndex.facets`) are made when first
asked, per profile, and carried over to the next snapshot, adjusted.
"""

from __future__ import annotations

import enum
from array import array
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal, TypeAlias

from reconciler.members.counts import STATUS_KEYS
from reconciler.members.matching import groups, haystack
from reconciler.members.query import Query
from reconciler.members.rows import NO_STATUS, Member
from reconciler.members.rowscan import GET, ID, Change, Fleet


class Scope(enum.Enum):
    """Which rows a call looks at besides one profile's: :data:`ALL`."""

    ALL = "all"


ALL: Final = Scope.ALL
"""Every profile's rows (the default of :meth:`MemberIndex.select` and :meth:`~MemberIndex.facets`)."""

Profile = str | None | Literal[Scope.ALL]
"""A profile name, ``None`` (members without a profile) or :data:`ALL`."""

FACETS: tuple[str, ...] = ("type", "firmware", "status", "provider")
"""The fields :meth:`MemberIndex.facets` counts (the console's filters)."""

_COUNTED: dict[str, Callable[[Member], Any]] = {**GET, "reboot": lambda m: bool(m.reboot_pending)}
"""What a count is made of, per field; ``reboot``: rows with keys waiting for a boot."""

Positions: TypeAlias = "array[int]"
"""Sorted positions in the fleet's rows (``array('i')``)."""


class MemberIndex:
    """Member rows sorted by gateway id, answering queries without a full scan.

    Immutable: :meth:`updated` returns a new index and leaves this one as it
    was, so a reader holding it sees one moment.
    """

    __slots__ = ("_counted", "_fleet", "_members")

    def __init__(
        self,
        fleet: Fleet,
        members: dict[str | None, Positions],
        counted: dict[Profile, dict[str, Counter[Any]]] | None = None,
    ) -> None:
        """Use :meth:`build`."""
        self._fleet = fleet
        self._members = members
        self._counted: dict[Profile, dict[str, Counter[Any]]] = counted or {}
        """Counts per scope and field, made when first asked (two threads may both make one)."""

    @classmethod
    def build(cls, rows: Iterable[Member]) -> MemberIndex:
        """An index of ``rows`` (one per gateway id; any order)."""
        ordered = sorted(rows, key=ID)
        return cls(Fleet(ordered, [haystack(m) for m in ordered]), _positions(ordered))

    def updated(self, changed: Mapping[str, Member | None]) -> MemberIndex:
        """A new index with these rows replaced or added (``None``: the id is removed).

        This index stays as it was; counts already made are carried over, adjusted.
        """
        if not changed:
            return self
        changes: list[Change] = [
            (gateway_id, new, haystack(new) if new is not None else "")
            for gateway_id, new in sorted(changed.items(), key=lambda pair: pair[0])
        ]
        at, old = self._fleet.locate(changes)
        fleet = self._fleet.patched(changes, at, old)
        members = self._placed(at, old, changes)
        touched: set[Profile] = {ALL}
        touched.update(m.profile for m in old if m is not None)
        touched.update(new.profile for _, new, _ in changes if new is not None)
        counted: dict[Profile, dict[str, Counter[Any]]] = {}
        for scope, per_field in list(self._counted.items()):
            if scope in touched:
                counted[scope] = {
                    field: _recounted(counts, field, scope, old, changes)
                    for field, counts in list(per_field.items())
                }
            else:
                counted[scope] = per_field  # the same rows: the same counts
        return MemberIndex(fleet, members, counted)

    def _placed(
        self, at: list[int], old: list[Member | None], changes: list[Change]
    ) -> dict[str | None, Positions]:
        """The profiles' positions in the patched fleet (:meth:`Fleet.patched`).

        Only the profiles rows left or joined are copied when no id comes or
        goes; otherwise every array is translated (in C) to the new positions.
        """
        table: list[int] | None = None  # old position -> new; None: the same
        added: list[int] = []  # the new position of each change
        if None in old or any(new is None for _, new, _ in changes):
            table, out, last = [], 0, 0
            for i, was, (_, new, _) in zip(at, old, changes, strict=True):
                table.extend(range(out, out + i - last))
                out += i - last
                if was is not None:
                    table.append(out if new is not None else -1)
                added.append(out)
                out += new is not None
                last = i + 1 if was is not None else i
            table.extend(range(out, out + len(self._fleet.rows) - last))
        else:
            added = at
        leaving: dict[str | None, list[int]] = {}
        joining: dict[str | None, list[int]] = {}
        for i, j, was, (_, new, _) in zip(at, added, old, changes, strict=True):
            if was is not None and (new is None or new.profile != was.profile):
                leaving.setdefault(was.profile, []).append(i)
            if new is not None and (was is None or new.profile != was.profile):
                joining.setdefault(new.profile, []).append(j)
        members: dict[str | None, Positions] = {}
        for profile in {*self._members, *joining}:
            positions = self._members.get(profile, array("i"))
            gone, come = leaving.get(profile), joining.get(profile)
            if gone:
                positions = array("i", positions)
                for i in gone:
                    del positions[bisect_left(positions, i)]
            if table is not None:
                positions = array("i", [table[i] for i in positions])
            if come:
                positions = array("i", positions) if table is None and not gone else positions
                for j in come:
                    insort(positions, j)
            if positions:
                members[profile] = positions
        return members

    def __len__(self) -> int:
        return len(self._fleet.rows)

    def get(self, gateway_id: str) -> Member | None:
        """The row of ``gateway_id``, or ``None``."""
        rows = self._fleet.rows
        i = self._fleet.find(gateway_id)
        return rows[i] if i < len(rows) and rows[i].gateway_id == gateway_id else None

    def profiles(self) -> list[str | None]:
        """The profiles that have members (``None``: members without one), in no set order."""
        return list(self._members)

    def profile_size(self, profile: Profile = ALL) -> int:
        """How many rows ``profile`` has (:data:`ALL`: every row)."""
        if profile is ALL:
            return len(self._fleet.rows)
        return len(self._members.get(profile, ()))

    def select(self, query: Query | None, *, profile: Profile = ALL) -> list[Member]:
        """The rows of ``profile`` (``None``: without one; :data:`ALL`: any) that match, by id.

        The same rows, in the same order, as
        ``matching.select(query, [m for m in rows if m.profile == profile])``.
        """
        rows = self._fleet.rows
        chosen: list[int] | None = None
        if profile is not ALL:
            positions = self._members.get(profile)
            if positions is None:
                return []
            chosen = list(positions)
        if query is None or not query.terms:
            return list(rows) if chosen is None else [rows[i] for i in chosen]
        return self._fleet.select(groups(query), chosen, lambda field: self._counts(profile, field))

    def facets(self, profile: Profile = ALL) -> dict[str, dict[str, int]]:
        """Distinct values and their rows among ``profile``'s: ``type``, ``firmware``, ``status``, ``provider``.

        An unknown firmware counts as ``"none"`` (as ``firmware:none`` finds
        it), a missing status as ``"none"``; an unknown provider is left out (no
        term finds it).  Each value put in a quoted term (``type:"LSX"``) finds
        its rows.  The counts are kept in the index, made when first asked.
        """
        firmware: dict[str, int] = {}
        for value, n in self._counts(profile, "firmware").items():
            key = value if value is not None else "none"
            firmware[key] = firmware.get(key, 0) + n
        return {
            "type": dict(self._counts(profile, "type")),
            "firmware": firmware,
            "status": {
                value.value if value is not None else NO_STATUS: n
                for value, n in self._counts(profile, "status").items()
            },
            "provider": {v: n for v, n in self._counts(profile, "provider").items() if v},
        }

    def status_counts(self, profile: Profile = ALL) -> dict[str, int]:
        """Rows of ``profile`` per status key, every key of :data:`STATUS_KEYS` (kept in the index)."""
        found = self._counts(profile, "status")
        return {key: found[None if key == NO_STATUS else key] for key in STATUS_KEYS}

    def reboot_pending(self, profile: Profile = ALL) -> int:
        """Rows of ``profile`` with keys waiting for the device's next boot (kept in the index)."""
        return self._counts(profile, "reboot")[True]

    def _counts(self, scope: Profile, field: str) -> Counter[Any]:
        per_field = self._counted.get(scope)
        if per_field is None:
            per_field = self._counted.setdefault(scope, {})
        found = per_field.get(field)
        if found is None:
            rows, get = self._fleet.rows, _COUNTED[field]
            if scope is ALL:
                found = Counter(map(get, rows))
            else:
                found = Counter(get(rows[i]) for i in self._members.get(scope, ()))
            per_field[field] = found
        return found


def _positions(rows: list[Member]) -> dict[str | None, Positions]:
    """Each profile's positions in ``rows``."""
    found: dict[str | None, list[int]] = {}
    for i, profile in enumerate(map(GET["profile"], rows)):
        listed = found.get(profile)
        if listed is None:
            listed = found[profile] = []
        listed.append(i)
    return {profile: array("i", listed) for profile, listed in found.items()}


def _recounted(
    counts: Counter[Any],
    field: str,
    scope: Profile,
    old: list[Member | None],
    changes: list[Change],
) -> Counter[Any]:
    """``counts`` of ``scope`` after ``changes`` replaced the rows ``old``."""
    counts, get = Counter(counts), _COUNTED[field]
    for was, (_, new, _) in zip(old, changes, strict=True):
        if was is not None and (scope is ALL or was.profile == scope):
            value = get(was)
            counts[value] -= 1
            if counts[value] <= 0:
                del counts[value]
        if new is not None and (scope is ALL or new.profile == scope):
            counts[get(new)] += 1
    return counts
