"""Members and Magic Search: the rows of the members table, and the query language over them.

A :class:`Member` is one gateway as an operator sees it (DESIGN.md section 1,
"members"): its declaration in ``gateways.d``, the head-end's inventory facts
and its rollout status from the store, joined by :func:`members`.  The
commands ``reconciler status`` and ``search`` (:mod:`reconciler.cli.members`)
list them; ``assign --query`` and the daemon's report select them with the
same queries.  Pure: no I/O, no clock.

Query language (``docs/search.md`` has examples)::

    query    := term (SPACE term)*          all terms must match (AND)
    term     := ["-"] (field ":" value | word)   a leading "-" negates the term
    field    := id | type | firmware | profile | status | provider | address
              | owner | station | port | label | subsetting   (case-insensitive)
    value    := [op] text                   op (firmware only): < <= > >= =
    word     := text                        free text, searched in every field
    text     := one or more of: bare characters (no space, no '"'),
                or "quoted text" (spaces allowed; \\" and \\\\ escape)

Matching is case-insensitive.

===========  ==============================================================
free word    substring of id, type, firmware, profile, status, provider,
             address, owner, a station or port id, a label key or value
id, provider, address, owner, station, port
             substring (``station``/``port``: of any of the gateway's ids)
type         exactly LSX, LSG or ACCU
profile      exactly the profile name; ``profile:none``: no profile
status       exactly one of the six statuses; ``failed`` = Declined,
             ``active`` = Requested or Sent, ``none`` = no status yet
firmware     ``firmware:2.1``: the version starts with 2.1 (2.1.0, 2.1.3);
             ``<2.0.0``, ``<=``, ``>``, ``>=``, ``=``: compared as versions;
             ``firmware:none``: firmware unknown.  An unknown firmware
             never satisfies a comparison.
label        ``label:site``: has the label; ``label:site=dortmund-hbf``:
             the label has exactly this value
subsetting   ``subsetting:MaxChargingCurrent``: overrides the key;
             ``subsetting:MaxChargingCurrent=16``: with exactly this value
===========  ==============================================================

A negated term matches exactly the members the term does not match.  A word
that starts with ``-`` or holds a ``:`` is searched for by quoting it:
``"-1"``, ``"urn:x"``.  An empty query matches every member.  A malformed
query raises :class:`QueryError` with the position and what was expected.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.version import InvalidVersion, Version

from reconciler.model.catalogs import GATEWAY_TYPES, Catalog
from reconciler.model.files import GatewayEntry
from reconciler.model.inventory import InventoryGateway
from reconciler.model.repos import Repo
from reconciler.model.state import AppliedGateway, Status

SECRET_SHOWN = "(secret)"
"""How a secret value appears in members: never its value, never its reference name."""

NO_STATUS = "none"
"""The status key of a gateway the store does not know yet (counts, JSON, ``status:none``)."""


@dataclass(frozen=True, slots=True)
class Member:
    """One gateway in the members table: declaration, inventory facts and rollout status."""

    gateway_id: str
    type: str
    firmware: str | None
    """From the inventory; else the firmware last recorded in the store; else unknown."""
    profile: str | None
    """The declared profile; ``None`` for no profile, and for gateways no longer declared."""
    status: Status | None
    """``None``: not managed yet (the store has no record of it)."""
    reason: str = ""
    station_ids: tuple[str, ...] = ()
    port_ids: tuple[str, ...] = ()
    provider: str = ""
    address: str = ""
    owner: str = ""
    subsettings: Mapping[str, Any] = field(default_factory=dict)
    """Flat ``Key -> value``; secrets are :data:`SECRET_SHOWN`."""
    labels: Mapping[str, str] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    updated_at: float | None = None
    """When the store last changed its state (seconds since the epoch)."""
    declared: bool = True
    """``False``: only the store knows it (its entry was deleted; it is being reset)."""

    @property
    def status_key(self) -> str:
        """The status as counted: a :class:`Status` value, or :data:`NO_STATUS`."""
        return self.status.value if self.status is not None else NO_STATUS


def members(
    repo: Repo,
    inventory: Mapping[str, InventoryGateway] | None,
    applied: Mapping[str, AppliedGateway],
    *,
    include_inventory: bool = False,
) -> list[Member]:
    """Every gateway declared in ``repo`` plus those only the store knows, sorted by id.

    ``include_inventory`` adds the inventory's gateways that neither knows
    (``declared=False``, no status): the candidates of ``reconciler assign``.
    """
    inventory = inventory or {}
    rows = [
        _member(
            entry.id,
            entry.type,
            entry,
            inventory.get(entry.id),
            applied.get(entry.id),
            repo.catalog,
        )
        for entry in repo.gateways.values()
    ]
    rows += [
        _member(gateway_id, state.type, None, inventory.get(gateway_id), state, repo.catalog)
        for gateway_id, state in applied.items()
        if gateway_id not in repo.gateways
    ]
    if include_inventory:
        rows += [
            _member(gateway_id, known.type, None, known, None, repo.catalog)
            for gateway_id, known in inventory.items()
            if gateway_id not in repo.gateways and gateway_id not in applied
        ]
    rows.sort(key=lambda m: m.gateway_id)
    return rows


def _member(
    gateway_id: str,
    gateway_type: str,
    entry: GatewayEntry | None,
    known: InventoryGateway | None,
    state: AppliedGateway | None,
    catalog: Catalog,
) -> Member:
    stations = known.stations if known else []
    subsettings = entry.subsettings if entry else {}
    return Member(
        gateway_id=gateway_id,
        type=gateway_type,
        firmware=known.firmware if known else (state.firmware if state else None),
        profile=entry.profile if entry else None,
        status=state.status if state else None,
        reason=state.reason if state else "",
        station_ids=tuple(s.id for s in stations),
        port_ids=tuple(port for s in stations for port in s.ports),
        provider=known.provider if known else "",
        address=known.address if known else "",
        owner=known.owner if known else "",
        subsettings={
            key: _shown(catalog, gateway_type, key, value)
            for keys in subsettings.values()
            for key, value in keys.items()
        },
        labels=dict(entry.labels) if entry else {},
        skipped=tuple(state.skipped) if state else (),
        updated_at=(state.updated_at or None) if state else None,
        declared=entry is not None,
    )


def _shown(catalog: Catalog, gateway_type: str, key: str, value: Any) -> Any:
    """Mask secrets: by their ``{secret: NAME}`` form, and by catalog type as a second guard."""
    if isinstance(value, dict) and "secret" in value:
        return SECRET_SHOWN
    spec = catalog.spec(gateway_type, key)
    return SECRET_SHOWN if spec is not None and spec.type == "secret" else value


def value_text(value: Any) -> str:
    """A parameter value as members show it and ``subsetting:KEY=VALUE`` matches it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(value_text(item) for item in value)
    return str(value)


# --- counts ---------------------------------------------------------------------------------

STATUS_KEYS: tuple[str, ...] = (*(s.value for s in Status), NO_STATUS)
"""Every status key, in lifecycle order; counts always carry all of them."""


@dataclass(frozen=True, slots=True)
class ProfileCounts:
    """Members of one profile (``None``: no profile) and how many are in each status."""

    profile: str | None
    members: int
    statuses: Mapping[str, int]
    """Every key of :data:`STATUS_KEYS`, zero included."""


def count_statuses(rows: Iterable[Member]) -> dict[str, int]:
    found = Counter(m.status_key for m in rows)
    return {key: found[key] for key in STATUS_KEYS}


def count_by_profile(
    rows: Iterable[Member], *, profiles: Iterable[str] = ()
) -> list[ProfileCounts]:
    """Counts per profile, by name, "no profile" last; ``profiles`` are listed even with no members."""
    groups: dict[str | None, list[Member]] = {name: [] for name in profiles}
    for row in rows:
        groups.setdefault(row.profile, []).append(row)
    order = sorted((name for name in groups if name is not None), key=str) + (
        [None] if None in groups else []
    )
    return [ProfileCounts(name, len(groups[name]), count_statuses(groups[name])) for name in order]


# --- the query language ---------------------------------------------------------------------

FIELDS: tuple[str, ...] = (
    "id",
    "type",
    "firmware",
    "profile",
    "status",
    "provider",
    "address",
    "owner",
    "station",
    "port",
    "label",
    "subsetting",
)
"""Fields a ``field:value`` term may name."""

STATUS_WORDS: dict[str, frozenset[str]] = {
    **{s.value.lower(): frozenset({s.value}) for s in Status},
    "failed": frozenset({Status.DECLINED.value}),
    "active": frozenset({Status.REQUESTED.value, Status.SENT.value}),
    NO_STATUS: frozenset({NO_STATUS}),
}
"""``status:`` values and the status keys each stands for."""

OPERATORS = ("<=", ">=", "<", ">", "=")
_FIELD = re.compile(r"([A-Za-z]+):")


class QueryError(ValueError):
    """A malformed query: ``position`` is the 0-based offset of the trouble in ``query``."""

    def __init__(self, query: str, position: int, message: str) -> None:
        super().__init__(f"column {position + 1}: {message}")
        self.query = query
        self.position = position
        self.message = message


@dataclass(frozen=True, slots=True)
class Term:
    """One condition of a query.  ``field`` is ``None`` for a free word.

    ``value`` is lower-cased.  For ``label`` and ``subsetting``, ``key`` is the
    key and ``value`` ``None`` means "has the key".  For ``firmware``, ``op``
    is a comparison (or ``""``: version prefix) and ``version`` the parsed value.
    """

    field: str | None
    value: str | None
    negated: bool = False
    op: str = ""
    key: str = ""
    version: Version | None = None
    position: int = 0


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: every term must match."""

    text: str
    terms: tuple[Term, ...]

    def __call__(self, member: Member) -> bool:
        return matches(self, member)


def parse(text: str) -> Query:
    """Parse a query; raises :class:`QueryError` at the first problem."""
    terms: list[Term] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i == n:
            return Query(text, tuple(terms))
        start, negated = i, False
        if text[i] == "-":
            negated, i = True, i + 1
            if i == n or text[i].isspace():
                raise QueryError(text, start, "expected a term after '-'")
        named = _FIELD.match(text, i)
        if named is None:
            word, i = _text(text, i)
            terms.append(Term(None, word.lower(), negated, position=start))
            continue
        name = named.group(1).lower()
        if name not in FIELDS:
            raise QueryError(text, i, _unknown_field(name))
        i = named.end()
        op = next((o for o in OPERATORS if text.startswith(o, i)), "")
        if name != "firmware":
            if op.startswith(("<", ">")):
                raise QueryError(text, i, f"'{op}' compares versions: only firmware:{op}VERSION")
            op = ""
        value_at = i + len(op)
        value, i = _text(text, value_at)
        if not value:
            raise QueryError(text, value_at, f"expected a value after '{name}:{op}'")
        terms.append(_term(text, name, op, value, negated, start, value_at))


def _text(text: str, i: int) -> tuple[str, int]:
    """Bare and quoted pieces up to the next unquoted space -> (text, end)."""
    out: list[str] = []
    n = len(text)
    while i < n and not text[i].isspace():
        if text[i] != '"':
            out.append(text[i])
            i += 1
            continue
        opening, i = i, i + 1
        while True:
            if i == n:
                raise QueryError(text, opening, "unterminated quote: expected a closing '\"'")
            if text[i] == "\\" and i + 1 < n and text[i + 1] in '"\\':
                out.append(text[i + 1])
                i += 2
            elif text[i] == '"':
                i += 1
                break
            else:
                out.append(text[i])
                i += 1
    return "".join(out), i


def _term(text: str, name: str, op: str, value: str, negated: bool, start: int, at: int) -> Term:
    lowered = value.lower()
    if name == "type":
        if value.upper() not in GATEWAY_TYPES:
            raise QueryError(
                text, at, f"unknown type '{value}': expected {_alternatives(GATEWAY_TYPES)}"
            )
    elif name == "status":
        if lowered not in STATUS_WORDS:
            raise QueryError(
                text, at, f"unknown status '{value}': expected {_alternatives(STATUS_WORDS)}"
            )
    elif name == "firmware" and (op or lowered != "none"):
        try:
            version = Version(value)
        except InvalidVersion:
            raise QueryError(
                text,
                at,
                f"expected a firmware version like 2.0.0 after 'firmware:{op}', got '{value}'",
            ) from None
        return Term(name, lowered, negated, op=op, version=version, position=start)
    elif name in ("label", "subsetting"):
        key, sep, wanted = value.partition("=")
        if not key:
            raise QueryError(text, at, f"expected a {name} key before '=', as in {name}:KEY=VALUE")
        return Term(name, wanted.lower() if sep else None, negated, key=key.lower(), position=start)
    return Term(name, lowered, negated, position=start)


def _unknown_field(name: str) -> str:
    close = difflib.get_close_matches(name, FIELDS, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return (
        f"unknown field '{name}'{hint}: expected one of {', '.join(FIELDS)}; "
        f'to search for text with a colon, quote it: "{name}:..."'
    )


def _alternatives(words: Iterable[str]) -> str:
    listed = list(words)
    return ", ".join(listed[:-1]) + " or " + listed[-1]


# --- matching -------------------------------------------------------------------------------


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
