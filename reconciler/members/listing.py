"""Listings of members: which rows a view shows, grouped and counted, and its JSON document.

One :func:`listing` for every place that lists members: ``reconciler status``
(``--profile P``, ``--query Q``) and ``reconciler search`` print one
(:mod:`reconciler.cli.members`), the daemon's ``GET /api/v1/members`` answers
one page of one (:func:`page_json`; the report page's search box calls it).
Filtering is :func:`reconciler.members.matching.select`, so all of them find
the same gateways for the same query.  Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import UnknownProfileError
from reconciler.members.counts import ProfileCounts, count_by_profile, count_statuses
from reconciler.members.matching import select
from reconciler.members.query import Query, parse
from reconciler.members.rows import Member, member_json

NO_PROFILE = "(no profile)"
"""How the members without a profile are named in counts and headings."""

PER_PAGE = 100
"""Members per page of ``GET /api/v1/members`` unless ``per_page`` says otherwise."""

MAX_PER_PAGE = 1000
"""The largest page ``GET /api/v1/members`` answers."""


@dataclass(frozen=True, slots=True)
class Listing:
    """The members a view lists, their counts, and notes on the query."""

    rows: Sequence[Member]
    """The members that match, in id order."""
    groups: Sequence[ProfileCounts]
    """Counts per profile of :attr:`rows`; unfiltered, also the profiles with no member."""
    statuses: Mapping[str, int]
    """Counts per status of :attr:`rows`, every status key."""
    total: int
    """Every member known, before filtering."""
    query: str | None = None
    """The filter as given (a profile reads ``profile:P``); ``None``: no filter."""
    notes: Sequence[str] = field(default_factory=tuple)
    """What the user may have meant otherwise (a ``profile:`` naming no profile)."""


def listing(
    rows: Sequence[Member],
    *,
    query: Query | None = None,
    profile: str | None = None,
    profiles: Iterable[str] = (),
) -> Listing:
    """The members of ``rows`` in ``profile`` (``"none"``: without one) that match ``query``.

    ``profiles`` are the repository's profiles: a ``profile`` must be one of
    them (else :class:`~reconciler.errors.UnknownProfileError`), and without a filter each is counted,
    members or not.  Given both, a member must match both.
    """
    names = sorted(profiles)
    counted: list[str] = names
    shown = query.text if query is not None else None
    selected = list(rows)
    if profile is not None:
        if profile not in names and profile != "none":
            raise UnknownProfileError(profile, names)
        selected = select(parse(f"profile:{profile}"), selected)
        counted = [profile] if profile != "none" else []
        shown = " ".join(filter(None, [f"profile:{profile}", shown]))
    if query is not None and query.terms:
        selected = select(query, selected)
        counted = []
    return Listing(
        rows=selected,
        groups=count_by_profile(selected, profiles=counted),
        statuses=count_statuses(selected),
        total=len(rows),
        query=shown,
        notes=tuple(_profile_notes(query, names)),
    )


def _profile_notes(query: Query | None, names: Sequence[str]) -> list[str]:
    """A ``profile:`` term matches whole names only: say so when it names none of them."""
    if query is None:
        return []
    wanted = {t.value for t in query.terms if t.field == "profile" and t.value != "none"}
    return [
        f"profile:{value} names no profile (profile: matches a whole name; "
        f"profiles: {', '.join(names) or 'none'})"
        for value in sorted(v for v in wanted if v is not None and v not in names)
    ]


def grouped(v: Listing) -> list[tuple[ProfileCounts, list[Member]]]:
    """Each counted profile with its listed members, in the order of :attr:`Listing.groups`."""
    by_profile: dict[str | None, list[Member]] = {}
    for m in v.rows:
        by_profile.setdefault(m.profile, []).append(m)
    return [(g, by_profile.get(g.profile, [])) for g in v.groups]


def listing_json(v: Listing, *, rows: Sequence[Member] | None = None) -> dict[str, Any]:
    """``query``, ``total``, ``matched``, ``statuses``, ``profiles`` and ``members`` (``rows``, default all)."""
    return {
        "query": v.query,
        "total": v.total,
        "matched": len(v.rows),
        "statuses": dict(v.statuses),
        "profiles": {
            g.profile or NO_PROFILE: {"members": g.members, "statuses": dict(g.statuses)}
            for g in v.groups
        },
        "members": [member_json(m) for m in (v.rows if rows is None else rows)],
    }


def page_json(v: Listing, *, page: int = 1, per_page: int = PER_PAGE) -> dict[str, Any]:
    """:func:`listing_json` with one page of members (1-based), plus ``notes``, ``page``, ``per_page``."""
    start = (page - 1) * per_page
    return {
        **listing_json(v, rows=v.rows[start : start + per_page]),
        "notes": list(v.notes),
        "page": page,
        "per_page": per_page,
    }


def page_numbers(page: str | None, per_page: str | None) -> tuple[int, int]:
    """``page`` and ``per_page`` as given in a URL (absent: 1 and :data:`PER_PAGE`); ValueError if bad."""
    numbers = []
    for name, given, default, highest in (
        ("page", page, 1, None),
        ("per_page", per_page, PER_PAGE, MAX_PER_PAGE),
    ):
        if given is None or given == "":
            numbers.append(default)
            continue
        if (
            not (given.isascii() and given.isdigit())
            or int(given) < 1
            or (highest and int(given) > highest)
        ):
            limit = f" up to {highest}" if highest else ""
            raise ValueError(f"expected {name} to be a whole number from 1{limit}, got '{given}'")
        numbers.append(int(given))
    return numbers[0], numbers[1]
