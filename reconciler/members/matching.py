"""Magic Search, the meaning of a query: which members each term matches.

:func:`select` is the one query engine: ``reconciler search``, ``status
--query``, ``assign --query`` and the daemon's ``GET /api/v1/members`` (which
the report page's search box calls) all evaluate a :class:`Query` from
:func:`reconciler.members.query.parse` here, so they cannot disagree.  Pure.

Matching is case-insensitive.

===========  ==============================================================
free word    substring of id, type, firmware, profile, status, provider,
             address, owner, a station or port id, a label key or value
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

A negated term matches exactly the members the term does not match.  An
empty query matches every member.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from packaging.version import InvalidVersion, Version

from reconciler.members.query import STATUS_WORDS, Query, Term
from reconciler.members.rows import Member, value_text


def matches(query: Query, member: Member) -> bool:
    """Whether ``member`` satisfies every term of ``query``."""
    haystack: list[str] | None = None
    for term in query.terms:
        if term.field is None:
            if haystack is None:
                haystack = _haystack(member)
            word = term.value or ""
            found = any(word in text for text in haystack)
        else:
            found = _field_matches(term, member)
        if found == term.negated:
            return False
    return True


def select(query: Query, rows: Iterable[Member]) -> list[Member]:
    """The members that match, in their order."""
    return [row for row in rows if matches(query, row)]


def _haystack(m: Member) -> list[str]:
    """The lower-cased texts a free word is looked for in, each on its own (no match across two)."""
    status = m.status.value if m.status is not None else ""
    parts = [m.gateway_id, m.type, m.firmware or "", m.profile or "", status]
    parts += [m.provider, m.address, m.owner, *m.station_ids, *m.port_ids]
    parts += [text for pair in m.labels.items() for text in pair]
    return [part.lower() for part in parts]


def _field_matches(term: Term, m: Member) -> bool:
    wanted = term.value or ""
    match term.field:
        case "id":
            return wanted in m.gateway_id.lower()
        case "type":
            return wanted == m.type.lower()
        case "profile":
            # "none" (no profile) is also a valid profile name; it matches both.
            return m.profile == wanted or (wanted == "none" and m.profile is None)
        case "status":
            return m.status_key in STATUS_WORDS[wanted]
        case "provider" | "address" | "owner":
            return wanted in str(getattr(m, term.field)).lower()
        case "station":
            return any(wanted in s.lower() for s in m.station_ids)
        case "port":
            return any(wanted in p.lower() for p in m.port_ids)
        case "firmware":
            return _firmware_matches(term, m.firmware)
        case "label":
            return _pair_matches(term, m.labels)
        case "subsetting":
            return _pair_matches(term, {k: value_text(v) for k, v in m.subsettings.items()})
    raise AssertionError(f"unhandled field {term.field}")  # parse admits only FIELDS


def _pair_matches(term: Term, pairs: Mapping[str, str]) -> bool:
    return any(
        key.lower() == term.key and (term.value is None or value.lower() == term.value)
        for key, value in pairs.items()
    )


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
