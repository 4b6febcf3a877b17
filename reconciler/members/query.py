"""Magic Search, the query language: :func:`parse` turns a query into a :class:`Query`.

Called by ``reconciler search``/``status --query``/``assign --query`` (through
:mod:`reconciler.members.listing` or directly) and by the daemon's
``GET /api/v1/members``; :mod:`reconciler.members.matching` says what each
term matches.  ``docs/search.md`` has examples.  Pure.

Grammar::

    query    := term (SPACE term)*          terms combine as below
    term     := ["-"] (field ":" value | word)   a leading "-" negates the term
    field    := id | type | firmware | profile | status | provider | address
              | owner | station | port | label | subsetting   (case-insensitive)
    value    := [op] text                   op (firmware only): < <= > >= =
    word     := text                        free text, searched in every field
    text     := one or more of: bare characters (no space, no '"'),
                or "quoted text" (spaces allowed; \\" and \\\\ escape)

How terms combine (:func:`reconciler.members.matching.groups`): positive
terms naming the same field (``label``/``subsetting``: the same key) are
alternatives (OR): ``status:declined status:mismatch``; firmware comparisons
(``< <= > >=``) are not: each must match (``firmware:>=2 firmware:<3`` is a
range), while firmware prefixes, ``=`` and ``none`` are alternatives among
themselves.  Groups of different fields, each negated term and each free
word must all match (AND).

A word that starts with ``-`` or holds a ``:`` is searched for by quoting it:
``"-1"``, ``"urn:x"``.  An empty query has no terms.  A malformed query
raises :class:`QueryError` with the position and what was expected: an
unknown field (with the closest name), a type the catalog does not know
(with the closest type, or the types), a status (with the allowed values), a firmware value that is not a version, an operator on a field other
than firmware, a missing value, a lone ``-``, an unterminated quote, a
``label:`` or ``subsetting:`` without a key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from reconciler.errors import QueryError as QueryError
from reconciler.members.rows import NO_STATUS, Member
from reconciler.model.state import Status

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
    """A parsed query: terms of one field are alternatives, the rest must all match (see the grammar)."""

    text: str
    terms: tuple[Term, ...]

    def __call__(self, member: Member) -> bool:
        """Whether ``member`` satisfies the query (:func:`reconciler.members.matching.matches`)."""
        from reconciler.members.matching import matches  # matching imports this module

        return matches(self, member)


def parse(text: str, types: Collection[str] | None = None) -> Query:
    """Parse a query; raises :class:`QueryError` at the first problem.

    ``types`` are the gateway types ``type:`` accepts: the repository's catalog
    (shipped plus ``catalog.d``, ``repo.catalog.types``); by default the shipped
    catalog's.  Case-insensitive; a term keeps the value as written (lower-cased),
    so it matches a type of any spelling.
    """
    known = tuple(types) if types is not None else shipped_types()
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
        terms.append(_term(text, name, op, value, negated, start, value_at, known))


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


def shipped_types() -> tuple[str, ...]:
    """The gateway types of the shipped catalog (the default of :func:`parse`); read once per process."""
    from reconciler.loading.catalogs import shipped_catalog

    return tuple(shipped_catalog().types)


def _term(
    text: str,
    name: str,
    op: str,
    value: str,
    negated: bool,
    start: int,
    at: int,
    types: tuple[str, ...],
) -> Term:
    lowered = value.lower()
    if name == "type":
        if lowered not in {t.lower() for t in types}:
            raise QueryError(text, at, _unknown_type(value, types))
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


def _unknown_type(value: str, types: tuple[str, ...]) -> str:
    by_lower = {t.lower(): t for t in types}
    close = difflib.get_close_matches(value.lower(), list(by_lower), n=1, cutoff=0.6)
    if close:
        return f"unknown type '{value}' (did you mean '{by_lower[close[0]]}'?): expected one of the catalog's types: {', '.join(sorted(types))}"
    if not types:
        return f"unknown type '{value}': the catalog has no types"
    return f"unknown type '{value}': expected {_alternatives(sorted(types))}"


def _alternatives(words: Iterable[str]) -> str:
    listed = list(words)
    return ", ".join(listed[:-1]) + " or " + listed[-1]
