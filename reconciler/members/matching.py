"""Magic Search, the meaning of a query: which members each term matches.

:func:`select` is the one query engine: ``reconciler search``, ``status
--query``, ``assign --query`` and the daemon's ``GET /api/v1/members`` (which
the report page's search box and the console call) all evaluate a
:class:`Query` from :func:`reconciler.members.query.parse` here, or through
:class:`reconciler.members.index.MemberIndex`, which is built on the pieces
below (:func:`groups`, :func:`haystack`, :func:`value_matches`), so they
cannot disagree.  Pure.

Matching is case-insensitive.

===========  ==============================================================
free word    substring of id, type, firmware, profile, status, provider,
             address, owner, a station or port id, a label key or value
             (one of them: a word never reaches across two)
id, provider, address, owner, station, port
             substring (``station``/``port``: of any of the gateway's ids)
type         exactly a type of the repository's catalog (shipped or
             ``catalog.d``), in any case: ``type:lsx`` is ``type:LSX``
profile      exactly the profile name, never a part of it (``profile:public``
             does not find ``public-ac``; the free word ``public`` does);
             ``profile:none``: no profile
status       exactly one of the six statuses; ``failed`` = Declined,
             ``active`` = Requested or Sent, ``none`` = no status yet
firmware     ``firmware:2.1``: a version prefix, by whole components: the
             version starts with 2.1 (2.1.0, 2.1.3, not 2.10.0 and never a
             digit found elsewhere: ``firmware:1`` is 1.x, not 2.1.3);
             ``<2.0.0``, ``<=``, ``>``, ``>=``, ``=``: compared as versions;
             ``firmware:none``: firmware unknown.  An unknown firmware
             never satisfies a comparison.
label        ``label:site``: has the label; ``label:site=dortmund-hbf``:
             the label has exactly this value
subsetting   ``subsetting:MaxChargingCurrent``: overrides the key;
             ``subsetting:MaxChargingCurrent=16``: with exactly this value
===========  ==============================================================

How terms combine (:func:`groups`): positive terms that name the same field
(for ``label:``/``subsetting:`` the same key) are alternatives, one of them
must match (OR): ``status:declined status:mismatch``.  Firmware comparisons
are the exception: they all must match, so ``firmware:>=2 firmware:<3`` is a
range (firmware prefixes, ``=`` and ``none`` are alternatives among
themselves, and that group must match as well).  Each negated term must
not match, each free word must match, and every group must hold (AND).  A
negated term matches exactly the members the term does not match.  An
empty query matches every member.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from packaging.version import InvalidVersion, Version

from reconciler.members.query import STATUS_WORDS, Query, Term
from reconciler.members.rows import Member, value_text

SEPARATOR = "\x00"
"""Between the fields of a :func:`haystack`: a free word holding it matches nothing."""

COMPARISONS = frozenset({"<", "<=", ">", ">="})
"""Firmware operators whose terms all must match (a range), never alternatives."""


@dataclass(frozen=True, slots=True)
class Group:
    """Terms of which at least one must match; ``negated``: one term that must not match."""

    terms: tuple[Term, ...]
    negated: bool = False

    @property
    def field(self) -> str | None:
        """The field every term of the group names (``None``: a free word)."""
        return self.terms[0].field


def groups(query: Query) -> tuple[Group, ...]:
    """The query's terms as groups that all must hold, in the order of their first term."""
    slots: list[Group | tuple[str, str]] = []
    alternatives: dict[tuple[str, str], list[Term]] = {}
    for term in query.terms:
        if term.negated or term.field is None or term.op in COMPARISONS:
            slots.append(Group((term,), term.negated))
            continue
        key = (term.field, term.key)
        if key not in alternatives:
            alternatives[key] = []
            slots.append(key)
        alternatives[key].append(term)
    return tuple(
        slot if isinstance(slot, Group) else Group(tuple(alternatives[slot])) for slot in slots
    )


def matches(query: Query, member: Member) -> bool:
    """Whether ``member`` satisfies ``query`` (every group of :func:`groups`)."""
    return _predicate(groups(query))(member)


def select(query: Query, rows: Iterable[Member]) -> list[Member]:
    """The members that match, in their order."""
    satisfies = _predicate(groups(query))
    return [row for row in rows if satisfies(row)]


def _predicate(grouped: Iterable[Group]) -> Callable[[Member], bool]:
    tests = [(group_test(g), g.negated) for g in grouped if g.field is not None]
    words = [(g.terms[0].value or "", g.negated) for g in grouped if g.field is None]

    def satisfies(member: Member) -> bool:
        for test, negated in tests:
            if test(member) is negated:
                return False
        if words:
            hay = haystack(member)
            for word, negated in words:
                if word_matches(word, hay) is negated:
                    return False
        return True

    return satisfies


def group_test(group: Group) -> Callable[[Member], bool]:
    """Whether one of the group's field terms matches a row (``negated`` not applied)."""
    tests = [row_test(t) for t in group.terms]
    if len(tests) == 1:
        return tests[0]
    return lambda m: any(test(m) for test in tests)


def row_test(term: Term) -> Callable[[Member], bool]:
    """The field term (not negated) as a predicate: ``value_matches(term, field_value(term, m))``.

    The same answer, with the frequent cases made cheap (for whole fleets).
    """
    wanted = term.value or ""
    field = term.field
    if field == "id":
        return lambda m: wanted in m.gateway_id.lower()
    if field in ("provider", "address", "owner"):
        get = attrgetter(field)
        return lambda m: wanted in get(m).lower()
    if field == "label":  # the key as written (lower-cased) first: most labels are
        key, value = term.key, term.value
        if value is None:
            return lambda m: key in m.labels or _pair_matches(term, m.labels, str)
        return lambda m: _label_is(m.labels, key, value) or _pair_matches(term, m.labels, str)
    if field == "subsetting":
        return lambda m: bool(m.subsettings) and _pair_matches(term, m.subsettings, value_text)
    return lambda m: value_matches(term, field_value(term, m))


def haystack(m: Member) -> str:
    """The lower-cased text free words are looked for in: the fields joined by :data:`SEPARATOR`.

    The one definition, for :func:`matches` and for the index, which keeps one per row.
    """
    status = m.status.value if m.status is not None else ""
    parts = [m.gateway_id, m.type, m.firmware or "", m.profile or "", status]
    parts += [m.provider, m.address, m.owner, *m.station_ids, *m.port_ids]
    parts += [text for pair in m.labels.items() for text in pair]
    # Lower-cased one by one: str.lower of a joined text may differ (Greek final sigma).
    return SEPARATOR.join([part.lower() for part in parts])


def word_matches(word: str, hay: str) -> bool:
    """Whether the free word (lower-cased) is in one field of the :func:`haystack` ``hay``."""
    return SEPARATOR not in word and word in hay


def field_value(term: Term, m: Member) -> Any:
    """What a field term looks at in ``m`` (:func:`value_matches` decides)."""
    match term.field:
        case "id":
            return m.gateway_id
        case "status":
            return m.status_key
        case "station":
            return m.station_ids
        case "port":
            return m.port_ids
        case "label":
            return m.labels
        case "subsetting":
            return m.subsettings
        case "type" | "firmware" | "profile" | "provider" | "address" | "owner":
            return getattr(m, term.field)
    raise AssertionError(f"unhandled field {term.field}")  # parse admits only FIELDS


def value_matches(term: Term, value: Any) -> bool:
    """Whether the field term (not negated) matches the :func:`field_value` ``value``."""
    wanted = term.value or ""
    match term.field:
        case "id" | "provider" | "address" | "owner":
            return wanted in value.lower()
        case "type":
            return bool(wanted == value.lower())
        case "profile":
            # "none" (no profile) is also a valid profile name; it matches both.
            return value == wanted or (wanted == "none" and value is None)
        case "status":
            return value in STATUS_WORDS[wanted]
        case "station" | "port":
            return any(wanted in text.lower() for text in value)
        case "firmware":
            return _firmware_matches(term, value)
        case "label":
            return _pair_matches(term, value, str)
        case "subsetting":
            return _pair_matches(term, value, value_text)
    raise AssertionError(f"unhandled field {term.field}")


def _label_is(labels: Mapping[str, str], key: str, value: str) -> bool:
    found = labels.get(key)
    return found is not None and str(found).lower() == value


def _pair_matches(term: Term, pairs: Mapping[str, Any], text: Any) -> bool:
    for key, value in pairs.items():
        if key.lower() == term.key and (term.value is None or text(value).lower() == term.value):
            return True
    return False


def _firmware_matches(term: Term, firmware: str | None) -> bool:
    if term.version is None:  # firmware:none
        return firmware is None
    if firmware is None:
        return False
    try:
        have = Version(firmware)
    except InvalidVersion:
        return False
    want = term.version
    match term.op:
        case "":
            prefix = want.release
            release = have.release + (0,) * max(0, len(prefix) - len(have.release))
            return release[: len(prefix)] == prefix
        case "<":
            return have < want
        case "<=":
            return have <= want
        case ">":
            return have > want
        case ">=":
            return have >= want
        case _:
            return have == want
