"""Listings: which members ``status``/``search`` and ``GET /api/v1/members`` list, and their counts."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from reconciler.errors import UnknownProfileError
from reconciler.members.listing import (
    MAX_PER_PAGE,
    PER_PAGE,
    grouped,
    listing,
    listing_json,
    page_json,
    page_numbers,
)
from reconciler.members.query import parse
from reconciler.members.rows import Member, member_json
from reconciler.model.state import Status
from tests.members.conftest import member

PROFILES = ["canary", "public-ac", "workplace"]
ROWS = [
    member(gateway_id="ACCU-000011", type="ACCU", profile="canary", status=Status.ACCEPTED),
    member(gateway_id="LSG-004510", type="LSG", status=Status.MISMATCH),
    member(gateway_id="LSX-000099", profile=None, status=None),
    member(gateway_id="LSX-000123", status=Status.ACCEPTED),
    member(gateway_id="LSX-000124", status=Status.DECLINED),
]


def ids(rows: Iterable[Member]) -> list[str]:
    return [m.gateway_id for m in rows]


def test_without_a_filter_every_profile_is_counted_even_without_members() -> None:
    v = listing(ROWS, profiles=PROFILES)
    assert (v.total, v.query, ids(v.rows)) == (5, None, ids(ROWS))
    assert [(g.profile, g.members) for g in v.groups] == [
        ("canary", 1),
        ("public-ac", 3),
        ("workplace", 0),
        (None, 1),
    ]
    assert v.statuses["Accepted"] == 2 and v.statuses["none"] == 1


def test_a_query_lists_and_counts_only_what_it_found() -> None:
    v = listing(ROWS, query=parse("status:accepted"), profiles=PROFILES)
    assert ids(v.rows) == ["ACCU-000011", "LSX-000123"]
    assert [(g.profile, g.members) for g in v.groups] == [("canary", 1), ("public-ac", 1)]
    assert (v.total, v.query) == (5, "status:accepted")


def test_a_profile_lists_its_members_and_reads_as_a_profile_term() -> None:
    v = listing(ROWS, query=parse("type:LSX"), profile="public-ac", profiles=PROFILES)
    assert ids(v.rows) == ["LSX-000123", "LSX-000124"]
    assert v.query == "profile:public-ac type:LSX"
    nothing = listing(ROWS, profile="workplace", profiles=PROFILES)
    assert [(g.profile, g.members) for g in nothing.groups] == [("workplace", 0)]
    assert ids(listing(ROWS, profile="none", profiles=PROFILES).rows) == ["LSX-000099"]


def test_an_unknown_profile_is_refused_with_the_profiles_there_are() -> None:
    with pytest.raises(
        UnknownProfileError, match="no profile 'public'; profiles: canary, public-ac"
    ):
        listing(ROWS, profile="public", profiles=PROFILES)


def test_profile_matches_a_whole_name_and_a_note_says_so_when_it_names_none() -> None:
    v = listing(ROWS, query=parse("profile:public"), profiles=PROFILES)
    assert v.rows == []
    [note] = v.notes
    assert "profile:public names no profile" in note and "public-ac" in note
    assert (
        listing(ROWS, query=parse("profile:public-ac profile:none"), profiles=PROFILES).notes == ()
    )


def test_members_of_a_listing_are_grouped_in_the_order_of_its_counts() -> None:
    v = listing(ROWS, profiles=PROFILES)
    assert [(g.profile, ids(rows)) for g, rows in grouped(v)] == [
        ("canary", ["ACCU-000011"]),
        ("public-ac", ["LSG-004510", "LSX-000123", "LSX-000124"]),
        ("workplace", []),
        (None, ["LSX-000099"]),
    ]


def test_the_json_of_a_listing_counts_everything_and_lists_member_json() -> None:
    document = listing_json(listing(ROWS, query=parse("-status:none"), profiles=PROFILES))
    assert list(document) == ["query", "total", "matched", "statuses", "profiles", "members"]
    assert (document["total"], document["matched"]) == (5, 4)
    assert "(no profile)" not in document["profiles"]
    assert document["members"][0] == member_json(ROWS[0])


def test_a_page_holds_per_page_members_while_matched_counts_them_all() -> None:
    v = listing(ROWS, profiles=PROFILES)
    second = page_json(v, page=2, per_page=2)
    assert [m["id"] for m in second["members"]] == ["LSX-000099", "LSX-000123"]
    assert (second["matched"], second["page"], second["per_page"]) == (5, 2, 2)
    assert page_json(v, page=4, per_page=2)["members"] == []


@pytest.mark.parametrize(
    ("page", "per_page", "expected"),
    [
        pytest.param(None, None, (1, PER_PAGE), id="defaults"),
        pytest.param("", "", (1, PER_PAGE), id="empty-is-default"),
        pytest.param("3", "50", (3, 50), id="given"),
        pytest.param("1", str(MAX_PER_PAGE), (1, MAX_PER_PAGE), id="largest-page"),
    ],
)
def test_page_numbers_default_to_the_first_page(
    page: str | None, per_page: str | None, expected: tuple[int, int]
) -> None:
    assert page_numbers(page, per_page) == expected


@pytest.mark.parametrize(
    ("page", "per_page", "message"),
    [
        pytest.param("0", None, "expected page to be a whole number from 1", id="page-zero"),
        pytest.param("x", None, "got 'x'", id="page-text"),
        pytest.param("1", "-5", "per_page to be a whole number from 1 up to 1000", id="negative"),
        pytest.param("1", str(MAX_PER_PAGE + 1), "up to 1000", id="too-large"),
        pytest.param("²", None, "got '²'", id="not-ascii"),
    ],
)
def test_a_bad_page_number_says_what_was_expected(
    page: str | None, per_page: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        page_numbers(page, per_page)
