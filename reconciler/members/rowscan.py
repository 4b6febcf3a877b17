"""The rows of a member index and how they are narrowed, group by group, to a query's matches.

Used by :mod:`reconciler.members.index` only (:class:`Fleet` is its rows).
Every decision comes from :mod:`reconciler.members.matching`:
:func:`~reconciler.members.matching.haystack` (kept per row),
:func:`~reconciler.members.matching.value_matches` (decided once per
distinct value of a field), :func:`~reconciler.members.matching.group_test`
(row by row), so the
index and :func:`~reconciler.members.matching.select` cannot disagree.  Pure.

How a group narrows the rows still in play (cheap groups first):

- type, firmware, profile, status, provider, owner: the group is decided for
  each distinct value of the field (few), then rows are kept by a set lookup;
- a free word: one substring test of the row's haystack;
- id, address, station, port, label: a row whose haystack lacks the
  text the term needs cannot match (the haystack holds each field whole,
  lower-cased), the others are tested (labels: a row with the key as written
  is accepted at once); subsettings are tested row by row.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter
from typing import Any

from reconciler.members.matching import (
    SEPARATOR,
    Group,
    group_test,
    value_matches,
)
from reconciler.members.query import Term
from reconciler.members.rows import NO_STATUS, Member

ID = attrgetter("gateway_id")

GET: dict[str, Callable[[Member], Any]] = {
    name: attrgetter(name)
    for name in ("type", "firmware", "profile", "status", "provider", "owner")
}
"""Per field decided by distinct value, a row's value (``status``: the :class:`Status` or ``None``)."""

_VALUE: dict[str, Callable[[Any], Any]] = {
    "status": lambda status: status.value if status is not None else NO_STATUS
}
"""A value of :data:`GET` as :func:`~reconciler.members.matching.value_matches` takes it."""

Change = tuple[str, "Member | None", str]
"""A row's id, its new row (``None``: removed) and the new row's haystack."""

Distinct = Callable[[str], Iterable[Any]]
"""The distinct values of a field among the rows a search looks at."""


class Fleet:
    """Rows sorted by gateway id, each with its haystack; never changed once made."""

    __slots__ = ("hays", "rows")

    def __init__(self, rows: list[Member], hays: list[str]) -> None:
        self.rows = rows
        self.hays = hays

    def find(self, gateway_id: str, low: int = 0) -> int:
        """The position of ``gateway_id`` (at or after ``low``), or where it would go."""
        return bisect_left(self.rows, gateway_id, low, key=ID)

    def locate(self, changes: Sequence[Change]) -> tuple[list[int], list[Member | None]]:
        """Where each change (sorted by id) goes, and the row it replaces (``None``: a new id)."""
        rows = self.rows
        at: list[int] = []
        old: list[Member | None] = []
        i = 0
        for gateway_id, _, _ in changes:
            i = self.find(gateway_id, i)
            at.append(i)
            old.append(rows[i] if i < len(rows) and rows[i].gateway_id == gateway_id else None)
        return at, old

    def patched(
        self, changes: Sequence[Change], at: Sequence[int], old: Sequence[Member | None]
    ) -> Fleet:
        """A new fleet with ``changes`` applied where :meth:`locate` said; this one unchanged."""
        rows, hays = self.rows, self.hays
        if None not in old and all(new is not None for _, new, _ in changes):
            new_rows, new_hays = list(rows), list(hays)
            for i, (_, new, hay) in zip(at, changes, strict=True):
                if new is not None:
                    new_rows[i], new_hays[i] = new, hay
            return Fleet(new_rows, new_hays)
        new_rows, new_hays, last = [], [], 0
        for i, was, (_, new, hay) in zip(at, old, changes, strict=True):
            new_rows += rows[last:i]
            new_hays += hays[last:i]
            if new is not None:
                new_rows.append(new)
                new_hays.append(hay)
            last = i + 1 if was is not None else i
        new_rows += rows[last:]
        new_hays += hays[last:]
        return Fleet(new_rows, new_hays)

    def select(
        self, grouped: Sequence[Group], chosen: list[int] | None, distinct: Distinct
    ) -> list[Member]:
        """The rows of ``chosen`` (``None``: all) that satisfy every group, in id order."""
        for group in sorted(grouped, key=_cost):
            chosen = self._narrow(group, chosen, distinct)
            if chosen is not None and not chosen:
                return []
        rows = self.rows
        return list(rows) if chosen is None else [rows[i] for i in chosen]

    def _narrow(
        self, group: Group, chosen: list[int] | None, distinct: Distinct
    ) -> list[int] | None:
        rows, hays = self.rows, self.hays
        every: Iterable[int] = range(len(rows)) if chosen is None else chosen
        field, negated = group.field, group.negated
        if field is None:
            word = group.terms[0].value or ""
            if SEPARATOR in word:  # matches nothing (matching.word_matches)
                return chosen if negated else []
            if negated:
                return [i for i in every if word not in hays[i]]
            if chosen is None:
                return [i for i, hay in enumerate(hays) if word in hay]
            return [i for i in chosen if word in hays[i]]
        if field in GET:
            hit = _accepted(group, distinct(field))
            if hit is None:
                return chosen
            if not hit:
                return []
            get = GET[field]
            if chosen is None:
                return [i for i, m in enumerate(rows) if get(m) in hit]
            return [i for i in chosen if get(rows[i]) in hit]
        test = group_test(group)
        if field == "subsetting":  # an empty mapping has no key: most rows, skipped cheaply
            if negated:
                return [i for i in every if not rows[i].subsettings or not test(rows[i])]
            return [i for i in every if rows[i].subsettings and test(rows[i])]
        if negated:
            return [i for i in every if not test(rows[i])]
        needles = _needles(group.terms)
        if all(t.field == "label" and t.value is None for t in group.terms) and needles:
            # label:KEY (one key a group): the key as written accepts at once, as in row_test
            key, holds = group.terms[0].key, _holder(needles)
            return [i for i in every if key in rows[i].labels or (holds(hays[i]) and test(rows[i]))]
        return [i for i in _holding(needles, every, hays) if test(rows[i])]


def _accepted(group: Group, values: Iterable[Any]) -> set[Any] | None:
    """The values whose rows satisfy ``group``; ``None``: every value's do."""
    assert group.field is not None
    shown = _VALUE.get(group.field, _same)
    values = set(values)
    hit = {v for v in values if any(value_matches(t, shown(v)) for t in group.terms)}
    if group.negated:
        hit = values - hit
    return None if len(hit) == len(values) else hit


def _same(value: Any) -> Any:
    return value


def _cost(group: Group) -> int:
    """Cheap groups first: decided per distinct value, then free words, then row by row."""
    field = group.field
    return 0 if field in GET else 1 if field is None else 2


def _needles(terms: Sequence[Term]) -> list[tuple[str, ...]] | None:
    """Per term, texts a row's haystack holds whenever the term matches; ``None``: no such texts.

    Each is a field's (lower-cased) text or a part of it, and the haystack holds
    every field's lower-cased text whole, so the test never drops a match.
    """
    found: list[tuple[str, ...]] = []
    for term in terms:
        if term.field in ("id", "provider", "address", "owner", "station", "port"):
            found.append((term.value or "",))
        elif term.field == "label":
            found.append((term.key,) if term.value is None else (term.key, term.value))
        else:
            return None
    return found


def _holder(needles: list[tuple[str, ...]]) -> Callable[[str], bool]:
    """Whether a haystack holds every needle of one of the terms."""
    if len(needles) == 1 and len(needles[0]) == 1:
        needle = needles[0][0]
        return lambda hay: needle in hay
    return lambda hay: any(all(n in hay for n in ns) for ns in needles)


def _holding(
    needles: list[tuple[str, ...]] | None, every: Iterable[int], hays: list[str]
) -> Iterable[int]:
    """The rows of ``every`` whose haystack holds all needles of one term (or ``every``)."""
    if needles is None:
        return every
    if len(needles) == 1 and len(needles[0]) == 1:
        (needle,) = needles[0]
        return [i for i in every if needle in hays[i]]
    if len(needles) == 1 and len(needles[0]) == 2:
        first, second = needles[0]
        return [i for i in every if first in hays[i] and second in hays[i]]
    return [i for i in every if any(all(n in hays[i] for n in ns) for ns in needles)]
