"""``GET /api/v1/members``: Magic Search over a member index snapshot, one page of the matches.

Called by :class:`reconciler.daemon.running.Daemon` (the endpoint's backend,
with a snapshot of :class:`reconciler.daemon.memberindex.LiveMembers`) and by
:func:`reconciler.daemon.reports.members_answer` (over given rows).  The
answer is :func:`reconciler.members.listing.page_json` of the same
:class:`~reconciler.members.listing.Listing` that
:func:`reconciler.members.listing.listing` makes, found through the index
(:meth:`~reconciler.members.index.MemberIndex.select`) at the cost of the
matches.  The filters ``type``, ``firmware``, ``status`` and ``provider``
add one quoted ``field:"value"`` term per value to ``q`` (:func:`query_text`),
so several values of one filter are alternatives, as in Magic Search.  Pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from itertools import compress
from operator import attrgetter
from typing import Any

from reconciler.errors import QueryError, UnknownProfileError
from reconciler.members.counts import STATUS_KEYS, ProfileCounts
from reconciler.members.index import ALL, MemberIndex, Profile
from reconciler.members.listing import Listing, _profile_notes, page_json, page_numbers
from reconciler.members.query import Query, parse, shipped_types
from reconciler.members.rows import NO_STATUS, Member

FILTERS: tuple[str, ...] = ("type", "firmware", "status", "provider")
"""Parameters that add one quoted ``field:"value"`` term per value."""

_PROFILE = attrgetter("profile")
_PROFILE_STATUS = attrgetter("profile", "status")
_REBOOT = attrgetter("reboot_pending")

Params = Mapping[str, str | list[str]]
"""A request's query parameters: one value, or every value of a repeated one."""


def query_text(params: Params) -> str:
    """``q`` followed by one ``field:"value"`` term per value of each filter (empty ones skipped).

    Terms of one field are alternatives (``status=Declined&status=Mismatch``:
    either), and they join ``q``'s own terms as if typed after them.
    """
    terms = [f"{field}:{_quoted(value)}" for field in FILTERS for value in _values(params, field)]
    return " ".join([text for text in [_single(params, "q") or "", *terms] if text])


def members_answer(
    index: MemberIndex | None,
    profiles: Sequence[str],
    params: Params,
    *,
    types: Collection[str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """``GET /api/v1/members?q=Q&profile=P&type=T&firmware=F&status=S&provider=V&page=N&per_page=M``.

    (HTTP status, JSON body): 200 with :func:`reconciler.members.listing.page_json`
    over the snapshot ``index`` (``None``: no members yet), whose ``query`` is
    the effective query (:func:`query_text`, after ``profile:P`` when a
    profile is given); 400 with ``{"error"}`` naming what was expected (for a
    bad query also ``query`` and ``position``, 0-based, in the effective
    query).  A parameter given more than once counts by its last value,
    except the filters, whose every value counts.

    ``type:`` takes ``types`` (the commit's catalog); by default the shipped
    catalog's types and every type the rows have.
    """
    index = index if index is not None else MemberIndex.build(())
    if types is None:
        types = {*shipped_types(), *index.facets()["type"]}
    try:
        page, per_page = page_numbers(_single(params, "page"), _single(params, "per_page"))
        query = parse(query_text(params), types=types)
        found = listing(index, query, profile=_single(params, "profile") or None, profiles=profiles)
    except QueryError as exc:
        error = {"error": f"bad query at column {exc.position + 1}: {exc.message}"}
        return 400, {**error, "query": exc.query, "position": exc.position}
    except (UnknownProfileError, ValueError) as exc:  # an unknown profile, a bad page number
        return 400, {"error": str(exc)}
    return 200, page_json(found, page=page, per_page=per_page)


def listing(
    index: MemberIndex, query: Query, *, profile: str | None, profiles: Sequence[str]
) -> Listing:
    """:func:`reconciler.members.listing.listing` over the index's rows, at the cost of the matches.

    The same rows, counts, query text and notes; without terms the counts are
    the index's own (made once per snapshot).
    """
    names = sorted(profiles)
    counted: list[str] = names
    shown = query.text
    scopes: list[Profile] = [ALL]
    if profile is not None:
        if profile not in names and profile != "none":
            raise UnknownProfileError(profile, names)
        scopes = [profile] if profile != "none" else [None, "none"]
        counted = [profile] if profile != "none" else []
        shown = " ".join(filter(None, [f"profile:{profile}", shown]))
    if query.terms:
        counted = []
    rows = [m for scope in scopes for m in index.select(query, profile=scope)]
    if len(scopes) > 1:
        rows.sort(key=lambda m: m.gateway_id)
    if query.terms:
        groups, statuses = _counted(rows, counted)
    else:
        groups, statuses = _counts(index, scopes, counted)
    return Listing(
        rows=rows,
        groups=groups,
        statuses=statuses,
        total=len(index),
        query=shown,
        notes=tuple(_profile_notes(query, names)),
    )


def _counted(
    rows: Sequence[Member], counted: Sequence[str]
) -> tuple[list[ProfileCounts], dict[str, int]]:
    """``count_by_profile(rows, profiles=counted)`` and ``count_statuses(rows)``, in one pass in C."""
    pairs = Counter(map(_PROFILE_STATUS, rows))
    pending = Counter(compress(map(_PROFILE, rows), map(_REBOOT, rows)))
    statuses = dict.fromkeys(STATUS_KEYS, 0)
    per_profile: dict[str | None, dict[str, int]] = {name: dict(statuses) for name in counted}
    for (profile, status), n in pairs.items():
        key = status.value if status is not None else NO_STATUS
        statuses[key] += n
        per_profile.setdefault(profile, dict.fromkeys(STATUS_KEYS, 0))[key] += n
    return [
        ProfileCounts(name, sum(per_profile[name].values()), per_profile[name], pending[name])
        for name in _ordered(per_profile)
    ], statuses


def _ordered(names: Iterable[str | None]) -> list[str | None]:
    """By name, "no profile" last (as :func:`~reconciler.members.counts.count_by_profile`)."""
    listed = set(names)
    return [*sorted(n for n in listed if n is not None), *([None] if None in listed else [])]


def _counts(
    index: MemberIndex, scopes: Sequence[Profile], counted: Sequence[str]
) -> tuple[list[ProfileCounts], dict[str, int]]:
    """``count_by_profile`` and ``count_statuses`` of whole scopes, from the index's counts."""
    present: set[str | None] = set()
    for scope in scopes:
        if scope is ALL:
            present.update(index.profiles())
        elif index.profile_size(scope):
            present.add(scope)
    groups = [
        ProfileCounts(
            name, index.profile_size(name), index.status_counts(name), index.reboot_pending(name)
        )
        for name in _ordered([*counted, *present])
    ]
    statuses = dict.fromkeys(index.status_counts(), 0)
    for scope in scopes:
        for key, n in index.status_counts(scope).items():
            statuses[key] += n
    return groups, statuses


def _values(params: Params, name: str) -> list[str]:
    value = params.get(name)
    if value is None:
        return []
    return [v for v in ([value] if isinstance(value, str) else value) if v]


def _single(params: Params, name: str) -> str | None:
    value = params.get(name)
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
