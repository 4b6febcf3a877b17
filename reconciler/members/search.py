"""Members and Magic Search in one namespace, so call sites read ``search.parse(...)``.

A thin facade: the code lives in :mod:`~reconciler.members.rows` (member rows
and their JSON shape), :mod:`~reconciler.members.counts` (counts per status
and profile), :mod:`~reconciler.members.query` (the query language's parser),
:mod:`~reconciler.members.matching` (what a query matches: the one query
engine) and :mod:`~reconciler.members.listing` (what a view lists).  Imported
by the commands (``status``, ``search``, ``assign``, their inputs) and the
daemon (reports, metrics).
"""

from __future__ import annotations

from reconciler.errors import UnknownProfileError
from reconciler.members.counts import STATUS_KEYS, ProfileCounts, count_by_profile, count_statuses
from reconciler.members.listing import Listing, listing
from reconciler.members.matching import matches, select
from reconciler.members.query import FIELDS, OPERATORS, STATUS_WORDS, Query, QueryError, Term, parse
from reconciler.members.rows import (
    NO_STATUS,
    SECRET_SHOWN,
    Member,
    member_from_json,
    member_json,
    members,
    value_text,
)

__all__ = [
    "FIELDS",
    "NO_STATUS",
    "OPERATORS",
    "SECRET_SHOWN",
    "STATUS_KEYS",
    "STATUS_WORDS",
    "Listing",
    "Member",
    "ProfileCounts",
    "Query",
    "QueryError",
    "Term",
    "UnknownProfileError",
    "count_by_profile",
    "count_statuses",
    "listing",
    "matches",
    "member_from_json",
    "member_json",
    "members",
    "parse",
    "select",
    "value_text",
]
