"""Magic Search: the query language (:mod:`reconciler.members.query`) and what it matches."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.members.matching import matches, select
from reconciler.members.query import QueryError, parse
from reconciler.members.rows import Member
from reconciler.model.state import Status
from tests.members.conftest import member


def hits(query: str, m: Member | None = None) -> bool:
    return matches(parse(query), m or member())


# --- fields --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("id:000123", True, id="id-substring"),
        pytest.param("id:lsx-0001", True, id="id-case-insensitive"),
        pytest.param("id:LSG", False, id="id-other"),
        pytest.param("type:lsx", True, id="type-exact-any-case"),
        pytest.param("type:ACCU", False, id="type-other"),
        pytest.param("profile:public-ac", True, id="profile-exact"),
        pytest.param("profile:public", False, id="profile-is-not-a-substring"),
        pytest.param("profile:none", False, id="profile-none-with-a-profile"),
        pytest.param("status:accepted", True, id="status-exact"),
        pytest.param("status:Mismatch", False, id="status-other"),
        pytest.param("provider:voltpo", True, id="provider-substring"),
        pytest.param("address:44137", True, id="address-substring"),
        pytest.param('owner:"parkhaus gmbh"', True, id="owner-quoted"),
        pytest.param("owner:stadtwerke", False, id="owner-other"),
        pytest.param("station:000123-2", True, id="station-any-of-them"),
        pytest.param("port:-2-1", True, id="port-any-of-them"),
        pytest.param("port:-3-1", False, id="port-none-of-them"),
        pytest.param("label:site", True, id="label-key"),
        pytest.param("label:SITE=Dortmund-HBF", True, id="label-key-value-any-case"),
        pytest.param("label:site=dortmund", False, id="label-value-is-exact"),
        pytest.param('label:level="-1"', True, id="label-value-quoted"),
        pytest.param("label:city", False, id="label-missing"),
        pytest.param("subsetting:MaxChargingCurrent", True, id="subsetting-key"),
        pytest.param("subsetting:maxchargingcurrent=16", True, id="subsetting-value"),
        pytest.param("subsetting:MaxChargingCurrent=32", False, id="subsetting-other-value"),
        pytest.param("subsetting:FreeVendMode=false", True, id="subsetting-boolean-as-yaml"),
        pytest.param("Type:LSX", True, id="field-names-any-case"),
    ],
)
def test_each_field_matches_as_documented(query: str, expected: bool) -> None:
    assert hits(query) is expected


def test_profile_none_matches_gateways_without_a_profile() -> None:
    assert hits("profile:none", member(profile=None))
    assert not hits("profile:public-ac", member(profile=None))


def test_status_none_matches_gateways_the_store_does_not_know_yet() -> None:
    assert hits("status:none", member(status=None))
    assert not hits("status:none")


@pytest.mark.parametrize(
    ("status", "query"),
    [
        pytest.param(Status.DECLINED, "status:failed", id="failed-is-declined"),
        pytest.param(Status.REQUESTED, "status:active", id="requested-is-active"),
        pytest.param(Status.SENT, "status:active", id="sent-is-active"),
    ],
)
def test_failed_and_active_stand_for_the_statuses_they_name(status: Status, query: str) -> None:
    assert hits(query, member(status=status))
    assert not hits(query, member(status=Status.ACCEPTED))


# --- firmware ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("firmware", "query", "expected"),
    [
        pytest.param("1.2.0", "firmware:<2.0.0", True, id="lower"),
        pytest.param("2.0.0", "firmware:<2.0.0", False, id="equal-is-not-lower"),
        pytest.param("10.0.0", "firmware:<2.0.0", False, id="numeric-not-lexical"),
        pytest.param("2.0.0", "firmware:<=2.0", True, id="at-most"),
        pytest.param("3.0.0", "firmware:>=3.0", True, id="at-least"),
        pytest.param("1.2.0", "firmware:>1.2", False, id="equal-is-not-higher"),
        pytest.param("1.10.0", "firmware:>1.2", True, id="higher-minor"),
        pytest.param("2.0.0", "firmware:=2.0", True, id="equal-as-versions"),
        pytest.param("2.1.3", "firmware:2.1", True, id="prefix"),
        pytest.param("2.10.0", "firmware:2.1", False, id="prefix-by-component"),
        pytest.param("3", "firmware:3.0", True, id="missing-components-are-zero"),
        pytest.param("2.1.3", "firmware:2.1.3", True, id="full-version"),
    ],
)
def test_firmware_compares_as_versions(firmware: str, query: str, expected: bool) -> None:
    assert hits(query, member(firmware=firmware)) is expected


def test_an_unknown_firmware_satisfies_no_comparison_but_firmware_none() -> None:
    unknown = member(firmware=None)
    assert not hits("firmware:<9", unknown)
    assert not hits("firmware:>0", unknown)
    assert hits("firmware:none", unknown)
    assert not hits("firmware:none")


def test_a_firmware_that_is_not_a_version_satisfies_no_comparison() -> None:
    assert not hits("firmware:<9", member(firmware="beta"))


# --- free words, quoting, negation, AND ----------------------------------------------------


@pytest.mark.parametrize(
    "word",
    [
        "lsx-000123",
        "2.1.3",
        "public-ac",
        "accepted",
        "voltpoint",
        "bahnhofstr",
        "gmbh",
        "cs-000123-2",
        "cs-000123-2-1",
        "site",
        "dortmund-hbf",
    ],
)
def test_a_free_word_matches_any_field(word: str) -> None:
    assert hits(word)


def test_a_free_word_does_not_match_subsettings_or_across_fields() -> None:
    assert not hits("MaxChargingCurrent")
    assert not hits("gmbh\u0000")  # no word reaches across a field boundary
    assert not hits("LSX-000123LSX")


def test_quoted_words_keep_their_spaces_and_escapes() -> None:
    assert hits('"parkhaus gmbh"')
    assert not hits("parkhaus_gmbh")
    m = member(owner='Say "hi" \\ GmbH')
    assert hits(r'owner:"say \"hi\" \\ gmbh"', m)


def test_a_quoted_word_with_a_colon_or_a_leading_dash_is_a_free_word() -> None:
    assert hits('"-1"')  # the label value -1
    assert parse('"urn:x"').terms[0].field is None


def test_terms_of_different_fields_are_and_ed() -> None:
    assert hits("type:LSX status:accepted owner:parkhaus")
    assert not hits("type:LSX status:declined")


# --- OR within a field -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("status:declined status:accepted", True, id="status-or"),
        pytest.param("status:declined status:mismatch", False, id="status-neither"),
        pytest.param("type:LSG type:LSX", True, id="type-or"),
        pytest.param("type:LSG type:LSX status:declined", False, id="or-group-and-other-field"),
        pytest.param("profile:canary profile:public-ac", True, id="profile-or"),
        pytest.param("owner:retail owner:parkhaus", True, id="substring-fields-or"),
        pytest.param("id:LSG id:000123", True, id="id-or"),
        pytest.param("label:site=x label:site=dortmund-hbf", True, id="label-same-key-or"),
        pytest.param("label:site=dortmund-hbf label:level=2", False, id="label-other-key-and"),
        pytest.param("label:city label:site", False, id="label-keys-are-fields-of-their-own"),
        pytest.param(
            "subsetting:FreeVendMode=true subsetting:FreeVendMode=false", True, id="sub-or"
        ),
        pytest.param(
            "subsetting:MaxChargingCurrent=16 subsetting:FreeVendMode=true", False, id="sub-and"
        ),
        pytest.param("firmware:1 firmware:2", True, id="firmware-prefix-or"),
        pytest.param("firmware:1 firmware:=2.1.3", True, id="firmware-prefix-or-equal"),
        pytest.param("firmware:>=2 firmware:<3", True, id="firmware-range"),
        pytest.param("firmware:>=2 firmware:<2.1", False, id="firmware-range-excludes"),
        pytest.param("firmware:>=2 firmware:1", False, id="comparison-and-prefix-group"),
        pytest.param("firmware:>=2 firmware:1 firmware:2", True, id="comparison-and-prefixes"),
        pytest.param("-status:declined -status:accepted", False, id="negations-each-exclude"),
        pytest.param("-status:declined -status:mismatch", True, id="negations-neither"),
        pytest.param(
            "status:accepted -status:accepted", False, id="negation-is-not-an-alternative"
        ),
        pytest.param("dortmund voltpoint", True, id="free-words-and"),
        pytest.param("dortmund chargenet", False, id="free-words-each-must-match"),
    ],
)
def test_positive_terms_of_one_field_are_alternatives(query: str, expected: bool) -> None:
    assert hits(query) is expected


def test_status_declined_or_mismatch_finds_both() -> None:
    rows = [
        member(gateway_id=gid, status=status)
        for gid, status in (("a", Status.DECLINED), ("b", Status.MISMATCH), ("c", Status.ACCEPTED))
    ]
    found = select(parse("status:declined status:mismatch"), rows)
    assert [m.gateway_id for m in found] == ["a", "b"]


def test_firmware_none_is_an_alternative_of_the_prefixes() -> None:
    assert hits("firmware:none firmware:2", member(firmware=None))
    assert hits("firmware:none firmware:2")
    assert not hits("firmware:none firmware:1")
    assert not hits("firmware:<9 firmware:none", member(firmware=None)), "comparisons still AND"


def test_how_terms_group() -> None:
    from reconciler.members.matching import groups

    grouped = groups(
        parse(
            "status:failed type:LSX -status:sent status:accepted firmware:>1 firmware:<3 firmware:2 label:a label:b label:a=1 dortmund dortmund"
        )
    )
    shown = [(g.negated, [f"{t.field}:{t.op}{t.key}{t.value}" for t in g.terms]) for g in grouped]
    assert shown == [
        (False, ["status:failed", "status:accepted"]),
        (False, ["type:lsx"]),
        (True, ["status:sent"]),
        (False, ["firmware:>1"]),
        (False, ["firmware:<3"]),
        (False, ["firmware:2"]),
        (False, ["label:aNone", "label:a1"]),
        (False, ["label:bNone"]),
        (False, ["None:dortmund"]),
        (False, ["None:dortmund"]),
    ]


def test_a_leading_dash_negates_a_term() -> None:
    assert not hits("-status:accepted")
    assert hits("-status:mismatch")
    assert hits("-firmware:<2.0.0")
    assert hits("-voltpoint", member(provider="ChargeNet"))


def test_an_empty_query_matches_everything() -> None:
    assert parse("  ").terms == ()
    assert hits("")


def test_a_parsed_query_is_a_predicate_over_members() -> None:
    rows = [member(gateway_id="a", type="LSG"), member(gateway_id="b")]
    assert [m.gateway_id for m in filter(parse("-type:LSG"), rows)] == ["b"]


def test_select_keeps_order() -> None:
    rows = [member(gateway_id=i, type=t) for i, t in (("b", "LSX"), ("a", "LSG"), ("c", "LSX"))]
    assert [m.gateway_id for m in select(parse("type:LSX"), rows)] == ["b", "c"]


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "position", "expected"),
    [
        pytest.param("type:LSX onwer:x", 9, "did you mean 'owner'", id="unknown-field"),
        pytest.param("foo:x", 0, "expected one of id, type, firmware", id="fields-listed"),
        pytest.param("type:LSY", 5, "unknown type 'LSY' (did you mean 'LS", id="type-typo"),
        pytest.param(
            "type:FOO", 5, "expected ACCU, LSG, LSX, OCPP16 or OCPP201", id="unknown-type"
        ),
        pytest.param("status:done", 7, "expected initial, requested", id="unknown-status"),
        pytest.param("firmware:<abc", 10, "expected a firmware version", id="bad-version"),
        pytest.param("firmware:beta", 9, "expected a firmware version", id="bad-prefix"),
        pytest.param('owner:"Parkhaus', 6, "unterminated quote", id="open-quote"),
        pytest.param("owner:", 6, "expected a value after 'owner:'", id="empty-value"),
        pytest.param("firmware:<", 10, "expected a value", id="operator-alone"),
        pytest.param("owner:<3", 6, "only firmware", id="operator-elsewhere"),
        pytest.param("type:LSX - x", 9, "expected a term after '-'", id="lone-dash"),
        pytest.param("label:=x", 6, "expected a label key", id="label-without-key"),
    ],
)
def test_a_malformed_query_names_the_position_and_what_was_expected(
    query: str, position: int, expected: str
) -> None:
    with pytest.raises(QueryError) as caught:
        parse(query)
    assert caught.value.position == position
    assert expected in caught.value.message
    assert str(caught.value).startswith(f"column {position + 1}: ")


# --- types come from the catalog ------------------------------------------------------------


def test_type_takes_every_type_of_the_shipped_catalog_by_default() -> None:
    from reconciler.loading.catalogs import shipped_catalog

    for gateway_type in shipped_catalog().types:
        assert hits(f"type:{gateway_type.lower()}", member(type=gateway_type))
        assert not hits(f"type:{gateway_type}", member(type="ELSEWHERE"))


def test_type_takes_the_types_it_is_given() -> None:
    types = ["LSX", "ACME-X1"]
    query = parse("type:acme-x1", types=types)
    assert matches(query, member(type="ACME-X1"))
    assert not matches(query, member(type="LSX"))
    with pytest.raises(QueryError) as caught:
        parse("type:ACCU", types=types)
    assert "expected ACME-X1 or LSX" in caught.value.message
    with pytest.raises(QueryError) as caught:
        parse("type:ACME-X2", types=types)
    assert "did you mean 'ACME-X1'" in caught.value.message


def test_a_catalog_without_types_says_so() -> None:
    with pytest.raises(QueryError, match="no types"):
        parse("type:LSX", types=())


# --- properties ----------------------------------------------------------------------------

TEXTS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
TERMS = st.sampled_from(
    [
        "type:LSX",
        "status:accepted",
        "firmware:<2.0.0",
        "firmware:2",
        "profile:none",
        "owner:gmbh",
        "label:site",
        "subsetting:MaxChargingCurrent=16",
        "dortmund",
    ]
)
MEMBERS = st.builds(
    member,
    type=st.sampled_from(["LSX", "LSG", "ACCU"]),
    firmware=st.one_of(st.none(), st.sampled_from(["1.0.0", "1.2.0", "2.0.0", "3.1.0"])),
    profile=st.one_of(st.none(), st.sampled_from(["public-ac", "canary"])),
    status=st.one_of(st.none(), st.sampled_from(list(Status))),
    owner=st.sampled_from(["Parkhaus GmbH", "Retail AG"]),
    labels=st.sampled_from([{}, {"site": "dortmund-hbf"}]),
)


@given(TEXTS)
def test_any_text_either_parses_or_raises_a_query_error(text: str) -> None:
    position = 0
    try:
        parse(text)
    except QueryError as exc:
        position = exc.position
    assert 0 <= position <= len(text)


@given(TERMS, MEMBERS)
def test_a_negated_term_matches_exactly_what_the_term_does_not(term: str, m: Member) -> None:
    assert hits(f"-{term}", m) is not hits(term, m)


@given(st.lists(TERMS, max_size=4), MEMBERS)
def test_a_query_of_different_fields_matches_when_every_term_does(
    terms: list[str], m: Member
) -> None:
    # TERMS name different fields (the two firmware terms: a comparison and a prefix).
    assert hits(" ".join(terms), m) is all(hits(t, m) for t in terms)


SAME_FIELD = st.sampled_from(
    [
        ["status:accepted", "status:declined", "status:none", "status:active"],
        ["type:LSX", "type:LSG", "type:ACCU"],
        ["firmware:1", "firmware:2", "firmware:=3.1.0", "firmware:none"],
        ["profile:none", "profile:canary", "profile:public-ac"],
        ["label:site", "label:site=dortmund-hbf", "label:site=x"],
        ["owner:gmbh", "owner:retail", "owner:nobody"],
    ]
)


@given(SAME_FIELD.flatmap(lambda choices: st.lists(st.sampled_from(choices), min_size=1)), MEMBERS)
def test_positive_terms_of_one_field_match_when_any_does(terms: list[str], m: Member) -> None:
    assert hits(" ".join(terms), m) is any(hits(t, m) for t in terms)
    negated = " ".join(f"-{t}" for t in terms)
    assert hits(negated, m) is not any(hits(t, m) for t in terms)


@given(TEXTS.filter(lambda t: t.strip()))
def test_any_owner_is_found_by_its_quoted_self(owner: str) -> None:
    quoted = '"' + owner.replace("\\", "\\\\").replace('"', '\\"') + '"'
    assert hits(f"owner:{quoted}", member(owner=owner))
