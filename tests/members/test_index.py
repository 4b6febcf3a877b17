"""The member index (:mod:`reconciler.members.index`) finds what :func:`matching.select` finds."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.members import matching
from reconciler.members.index import ALL, MemberIndex, Profile
from reconciler.members.query import parse
from reconciler.members.rows import NO_STATUS, Member
from reconciler.model.state import Status
from tests.members.conftest import member

PROFILES = [None, "public-ac", "canary", "none"]

ROWS = st.builds(
    member,
    gateway_id=st.sampled_from([f"{t}-{n:06d}" for t in ("LSX", "LSG", "acc") for n in range(12)]),
    type=st.sampled_from(["LSX", "LSG", "ACCU", "lsx"]),
    firmware=st.sampled_from([None, "1.0.0", "1.2", "2.0.0", "2.1.3", "3", "10.0.0", "beta"]),
    profile=st.sampled_from(PROFILES),
    status=st.one_of(st.none(), st.sampled_from(list(Status))),
    provider=st.sampled_from(["", "ChargeNet", "VoltPoint", "ChargeNet Nord"]),
    owner=st.sampled_from(["Parkhaus GmbH", "Retail AG", ""]),
    address=st.sampled_from(["Hauptstr. 7, 50667 Köln", "Ring 2, 44137 Dortmund", ""]),
    station_ids=st.sampled_from([(), ("CS-1",), ("CS-1", "CS-22")]),
    port_ids=st.sampled_from([(), ("CS-1-1",), ("CS-1-1", "CS-22-2")]),
    labels=st.sampled_from(
        [{}, {"site": "dortmund-hbf"}, {"Site": "Dortmund-HBF", "level": "-1"}, {"level": "2"}]
    ),
    subsettings=st.sampled_from(
        [{}, {"MaxChargingCurrent": 16}, {"FreeVendMode": False, "MaxChargingCurrent": 32}]
    ),
    reboot_pending=st.sampled_from([(), ("HeartbeatInterval",)]),
)

TERMS = [
    "type:LSX",
    "type:lsg",
    "type:ACCU",
    "status:declined",
    "status:mismatch",
    "status:none",
    "status:active",
    "firmware:1",
    "firmware:2.1",
    "firmware:=3.0",
    "firmware:none",
    "firmware:>=2",
    "firmware:<3",
    "firmware:>1.2",
    "profile:canary",
    "profile:none",
    "profile:public-ac",
    "provider:chargenet",
    "provider:volt",
    "owner:gmbh",
    "address:köln",
    "address:44137",
    "id:lsx",
    "id:0001",
    "station:cs-2",
    "port:-1-1",
    "label:site",
    "label:site=dortmund-hbf",
    "label:level=-1",
    "label:level",
    "subsetting:MaxChargingCurrent",
    "subsetting:maxchargingcurrent=16",
    "subsetting:FreeVendMode=false",
    "dortmund",
    "hbf",
    "cs-22",
    "2.1",
    '"retail ag"',
    '"gmbh\x00"',
    '""',
]
QUERIES = st.lists(
    st.tuples(st.booleans(), st.sampled_from(TERMS)).map(lambda t: ("-" if t[0] else "") + t[1]),
    max_size=5,
).map(" ".join)
SCOPES: list[Profile] = [ALL, *PROFILES, "unknown"]


def unique(rows: list[Member]) -> list[Member]:
    return list({m.gateway_id: m for m in rows}.values())


def in_scope(rows: list[Member], profile: Profile) -> list[Member]:
    ordered = sorted(rows, key=lambda m: m.gateway_id)
    return ordered if profile is ALL else [m for m in ordered if m.profile == profile]


@settings(max_examples=300, deadline=None)
@given(st.lists(ROWS, max_size=30).map(unique), st.lists(QUERIES, min_size=1, max_size=4))
def test_the_index_finds_what_matching_select_finds(rows: list[Member], texts: list[str]) -> None:
    index = MemberIndex.build(rows)
    for text in texts:
        query = parse(text)
        for profile in SCOPES:
            expected = matching.select(query, in_scope(rows, profile))
            assert index.select(query, profile=profile) == expected, (text, profile)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(ROWS, max_size=25).map(unique),
    st.lists(st.tuples(st.booleans(), ROWS), max_size=12),
    QUERIES,
)
def test_an_updated_index_is_the_index_of_the_updated_rows(
    rows: list[Member], changes: list[tuple[bool, Member]], text: str
) -> None:
    index = MemberIndex.build(rows)
    for scope in SCOPES:  # counts made before the update are carried over
        index.facets(scope)
        index.reboot_pending(scope)
    changed: dict[str, Member | None] = {
        m.gateway_id: (None if remove else m) for remove, m in changes
    }
    after = {m.gateway_id: m for m in rows}
    for gateway_id, new in changed.items():
        if new is None:
            after.pop(gateway_id, None)
        else:
            after[gateway_id] = new
    updated = index.updated(changed)
    rebuilt = MemberIndex.build(after.values())
    query = parse(text)
    assert len(updated) == len(after)
    for scope in SCOPES:
        assert updated.select(None, profile=scope) == in_scope(list(after.values()), scope)
        assert updated.select(query, profile=scope) == rebuilt.select(query, profile=scope)
        assert updated.facets(scope) == rebuilt.facets(scope)
        assert updated.status_counts(scope) == rebuilt.status_counts(scope)
        assert updated.reboot_pending(scope) == rebuilt.reboot_pending(scope)
        assert updated.profile_size(scope) == rebuilt.profile_size(scope)
    assert index.select(None) == in_scope(rows, ALL), "the old snapshot is unchanged"
    for gateway_id in changed:
        assert updated.get(gateway_id) == after.get(gateway_id)


@given(st.lists(ROWS, max_size=30).map(unique))
def test_facets_count_each_value_of_a_profile(rows: list[Member]) -> None:
    index = MemberIndex.build(rows)
    for scope in SCOPES:
        chosen = in_scope(rows, scope)
        facets = index.facets(scope)
        assert facets["type"] == Counter(m.type for m in chosen)
        assert facets["firmware"] == Counter(m.firmware or "none" for m in chosen)
        assert facets["status"] == Counter(m.status_key for m in chosen)
        assert facets["provider"] == Counter(m.provider for m in chosen if m.provider)
        assert index.profile_size(scope) == len(chosen)


def test_each_facet_value_as_a_quoted_term_finds_its_rows() -> None:
    rows = [
        member(gateway_id="a", type="LSX", firmware="2.1.3", provider="ChargeNet"),
        member(gateway_id="b", type="LSG", firmware=None, status=None, provider="VoltPoint"),
        member(gateway_id="c", type="LSX", firmware="1.0.0", status=Status.DECLINED),
    ]
    index = MemberIndex.build(rows)
    for field, values in index.facets().items():
        for value, count in values.items():
            found = index.select(parse(f'{field}:"{value}"'))
            assert len(found) == count, (field, value)


def test_get_len_and_profiles() -> None:
    rows = [member(gateway_id=i, profile=p) for i, p in (("b", "x"), ("a", None), ("c", "x"))]
    index = MemberIndex.build(rows)
    assert len(index) == 3
    assert index.get("a") == rows[1] and index.get("zz") is None and index.get("") is None
    assert sorted(index.profiles(), key=str) == [None, "x"]
    assert [m.gateway_id for m in index.select(None)] == ["a", "b", "c"]
    assert [m.gateway_id for m in index.select(None, profile="x")] == ["b", "c"]
    assert [m.gateway_id for m in index.select(None, profile=None)] == ["a"]
    assert index.select(None, profile="y") == [] and index.profile_size("y") == 0
    emptied = index.updated({"a": None})
    assert emptied.profiles() == ["x"] and emptied.select(None, profile=None) == []
    assert index.status_counts()[NO_STATUS] == 0 and index.status_counts()["Accepted"] == 3
    assert index.updated({}) is index


def test_a_free_word_never_reaches_across_two_fields() -> None:
    index = MemberIndex.build([member()])
    for word in ("lsx-000123lsx", '"gmbh\x00bahnhof"', "MaxChargingCurrent"):
        assert index.select(parse(word)) == [] == matching.select(parse(word), [member()])
    assert matching.haystack(member()).count(matching.SEPARATOR) > 10


@given(st.lists(ROWS, min_size=1, max_size=10))
def test_the_fast_row_tests_agree_with_the_definition(rows: list[Member]) -> None:
    for text in TERMS:
        term = parse(text).terms[0]
        if term.field is None:
            continue
        test = matching.row_test(term)
        for m in rows:
            assert test(m) is matching.value_matches(term, matching.field_value(term, m)), text


def test_rows_moving_between_profiles_keep_every_count_right() -> None:
    rows = [member(gateway_id=f"g{i:02d}", profile=["a", "b", None][i % 3]) for i in range(12)]
    index = MemberIndex.build(rows)
    for scope in ("a", "b", None, "c", ALL):
        index.facets(scope)
    moves: dict[str, Member | None] = {
        "g00": member(gateway_id="g00", profile="c", status=Status.DECLINED),  # a -> c (new)
        "g01": member(gateway_id="g01", profile="a"),  # b -> a
        "g03": member(gateway_id="g03", profile="b", firmware=None),  # a -> b, no firmware
        "g02": member(gateway_id="g02", profile=None, status=None),  # stays, status gone
    }
    moved = index.updated(moves)
    after = {m.gateway_id: m for m in rows} | {k: v for k, v in moves.items() if v}
    rebuilt = MemberIndex.build(after.values())
    for scope in ("a", "b", None, "c", ALL):
        assert moved.select(None, profile=scope) == rebuilt.select(None, profile=scope)
        assert moved.facets(scope) == rebuilt.facets(scope)
        assert moved.status_counts(scope) == rebuilt.status_counts(scope)
    assert sorted(moved.profiles(), key=str) == [None, "a", "b", "c"]
    emptied = moved.updated({"g00": member(gateway_id="g00", profile="a")})
    assert "c" not in emptied.profiles() and emptied.select(None, profile="c") == []
    assert index.select(None, profile="a") == [m for m in rows if m.profile == "a"]
