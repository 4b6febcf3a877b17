"""Every validation rule of docs/reference/files.md, each with the expected file:line:col."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.model.repos import Repo

Load = Callable[[Mapping[str, str]], Repo]

PROFILE = """\
name: public-ac
parameters:
  LSX:
    backend:
      HeartbeatInterval: 900
"""
GATEWAYS = """\
gateways:
  - id: LSX-000001
    type: LSX
    profile: public-ac
"""


def located(repo: Repo) -> list[str]:
    return [f"{d.file}:{d.line}:{d.column}: {d.message}" for d in repo.diagnostics]


def only(repo: Repo) -> str:
    lines = located(repo)
    assert len(lines) == 1, lines
    return lines[0]


def test_a_good_repository_is_valid(load: Load) -> None:
    repo = load({"profiles.d/public-ac.yaml": PROFILE, "gateways.d/a.yaml": GATEWAYS})
    assert repo.valid, located(repo)
    assert set(repo.gateways) == {"LSX-000001"}
    assert repo.profiles["public-ac"].parameters["LSX"]["backend"]["HeartbeatInterval"] == 900


def test_yml_files_are_read_as_well(load: Load) -> None:
    repo = load({"profiles.d/public-ac.yml": PROFILE, "gateways.d/nested/deeper/a.yml": GATEWAYS})
    assert repo.valid, located(repo)
    assert repo.gateway_files["LSX-000001"] == "gateways.d/nested/deeper/a.yml"


def test_a_string_is_not_an_integer(load: Load) -> None:
    repo = load({"profiles.d/public-ac.yaml": PROFILE.replace("900", '"900"')})
    assert only(repo) == (
        "profiles.d/public-ac.yaml:5:26: HeartbeatInterval: expected an integer from 30 to 86400 s, got string '900'"
    )


def test_yes_is_not_a_boolean(load: Load) -> None:
    text = "name: p\nparameters:\n  LSG:\n    charging:\n      StopTransactionOnEVSideDisconnect: yes\n"
    assert only(load({"profiles.d/p.yaml": text})).startswith("profiles.d/p.yaml:5:42: ")


def test_a_decimal_is_not_an_integer(load: Load) -> None:
    repo = load({"profiles.d/public-ac.yaml": PROFILE.replace("900", "900.5")})
    assert "got decimal 900.5" in only(repo)


def test_a_value_out_of_bounds_names_the_bounds(load: Load) -> None:
    repo = load({"profiles.d/public-ac.yaml": PROFILE.replace("900", "5")})
    assert only(repo).endswith("expected an integer from 30 to 86400 s, got 5")


def test_a_key_in_the_wrong_section_names_the_right_one(load: Load) -> None:
    text = PROFILE.replace("backend:", "charging:")
    assert only(load({"profiles.d/public-ac.yaml": text})) == (
        "profiles.d/public-ac.yaml:5:7: HeartbeatInterval belongs in section 'backend', not 'charging'"
    )


def test_an_unknown_key_suggests_the_closest(load: Load) -> None:
    text = PROFILE.replace("HeartbeatInterval", "HeartbeatIntervall")
    assert "did you mean 'HeartbeatInterval'" in only(load({"profiles.d/public-ac.yaml": text}))


def test_a_key_of_another_type_says_which_types_have_it(load: Load) -> None:
    text = "name: p\nparameters:\n  LSG:\n    display:\n      LightIntensity: 50\n"
    assert only(load({"profiles.d/p.yaml": text})) == (
        "profiles.d/p.yaml:5:7: LightIntensity is not a parameter of LSG gateways (it exists for LSX, OCPP16)"
    )


def test_an_unknown_section_lists_the_sections(load: Load) -> None:
    text = PROFILE.replace("backend:", "backnd:")
    message = only(load({"profiles.d/public-ac.yaml": text}))
    assert message.startswith("profiles.d/public-ac.yaml:4:5: unknown section 'backnd'")
    assert "did you mean 'backend'" in message


def test_an_unknown_gateway_type_is_an_error(load: Load) -> None:
    repo = load(
        {
            "gateways.d/a.yaml": GATEWAYS.replace("type: LSX", "type: LSY").replace(
                "    profile: public-ac\n", ""
            )
        }
    )
    assert (
        only(repo) == "gateways.d/a.yaml:3:11: gateway LSX-000001: unknown gateway type 'LSY' "
        "(did you mean 'LSX'?); types are: ACCU, LSG, LSX, OCPP16, OCPP201 "
        "(a new type is defined in catalog.d)"
    )


def test_an_unknown_type_block_in_a_profile_is_an_error(load: Load) -> None:
    repo = load({"profiles.d/public-ac.yaml": PROFILE.replace("LSX:", "LSY:")})
    assert only(repo).startswith("profiles.d/public-ac.yaml:3:3: ")


def test_unknown_top_level_keys_are_errors(load: Load) -> None:
    repo = load({"profiles.d/public-ac.yaml": PROFILE + "owner: me\n"})
    assert only(repo) == (
        "profiles.d/public-ac.yaml:6:1: unknown key 'owner'; expected one of: name, description, parameters, rollout"
    )


@pytest.mark.parametrize(
    ("rollout", "expected"),
    [
        pytest.param(
            "max_in_flight: 0", "7:18: max_in_flight: expected at least 1, got 0", id="in-flight"
        ),
        pytest.param(
            "max_per_minute: fast", "7:19: max_per_minute: expected an integer", id="pace"
        ),
        pytest.param(
            "on_mismatch: ignore",
            "7:16: on_mismatch: expected 'report' or 'reapply'",
            id="mismatch",
        ),
        pytest.param(
            "abort: {min_attempted: 5, max_declined_ratio: 1.5}",
            "7:49: max_declined_ratio: expected at most 1.0, got 1.5",
            id="abort-ratio",
        ),
        pytest.param(
            "abort: {min_attempted: 0}",
            "7:26: min_attempted: expected at least 1, got 0",
            id="abort-min",
        ),
    ],
)
def test_rollout_policy_values_are_checked(load: Load, rollout: str, expected: str) -> None:
    repo = load({"profiles.d/public-ac.yaml": PROFILE + "rollout:\n  " + rollout + "\n"})
    assert expected in only(repo)


@pytest.mark.parametrize(
    "written",
    [
        "AuthorizationKey: 4711",
        "AuthorizationKey: [4711, 815]",
        'AuthorizationKey: {secret: "4711 4711"}',
    ],
    ids=["integer", "list", "name"],
)
def test_a_refused_secret_never_quotes_what_was_written(load: Load, written: str) -> None:
    message = only(load({"profiles.d/public-ac.yaml": PROFILE + "      " + written + "\n"}))
    assert "AuthorizationKey" in message and "4711" not in message and "815" not in message


def test_a_literal_secret_is_refused(load: Load) -> None:
    text = PROFILE + "      AuthorizationKey: s3cr3t-s3cr3t-s3cr3t\n"
    message = only(load({"profiles.d/public-ac.yaml": text}))
    assert message.startswith(
        "profiles.d/public-ac.yaml:6:25: AuthorizationKey: a literal secret value"
    )
    assert "s3cr3t" not in message


def test_a_secret_reference_is_accepted(load: Load) -> None:
    text = PROFILE + "      AuthorizationKey: {secret: public_ac_key}\n"
    assert load({"profiles.d/public-ac.yaml": text}).valid


def test_profile_name_must_equal_the_file_stem(load: Load) -> None:
    repo = load({"profiles.d/other.yaml": PROFILE})
    assert (
        only(repo)
        == "profiles.d/other.yaml:1:7: profile name 'public-ac' must equal the file name 'other'"
    )


@pytest.mark.parametrize("name", ["Public", "-x", "a_b", "x" * 64])
def test_profile_names_follow_the_pattern(load: Load, name: str) -> None:
    repo = load({f"profiles.d/{name}.yaml": f"name: {name}\n"})
    assert "does not match" in only(repo)


def test_duplicate_gateway_ids_name_both_places(load: Load) -> None:
    other = GATEWAYS.replace(
        "profile: public-ac", "profile: public-ac\n  - id: LSG-000001\n    type: LSG"
    )
    repo = load(
        {
            "profiles.d/public-ac.yaml": PROFILE,
            "gateways.d/a.yaml": GATEWAYS,
            "gateways.d/b.yaml": other,
        }
    )
    assert only(repo) == (
        "gateways.d/b.yaml:2:9: gateway LSX-000001 is declared twice; a gateway belongs to exactly one entry "
        "(first declared at gateways.d/a.yaml:2:9)"
    )


def test_a_profile_reference_must_exist(load: Load) -> None:
    repo = load(
        {
            "profiles.d/public-ac.yaml": PROFILE,
            "gateways.d/a.yaml": GATEWAYS.replace("public-ac", "public-dc"),
        }
    )
    assert only(repo).startswith(
        "gateways.d/a.yaml:4:14: gateway LSX-000001: profile 'public-dc' does not exist"
    )


def test_members_of_a_broken_profile_get_no_second_error(load: Load) -> None:
    repo = load(
        {"profiles.d/public-ac.yaml": PROFILE + "bogus: 1\n", "gateways.d/a.yaml": GATEWAYS}
    )
    assert only(repo).startswith("profiles.d/public-ac.yaml:6:1: unknown key 'bogus'")


def test_a_subsetting_key_must_exist_for_the_gateway_type(load: Load) -> None:
    text = (
        GATEWAYS.replace("LSX", "LSG")
        + "    subsettings:\n      battery:\n        MinStateOfCharge: 20\n"
    )
    repo = load({"profiles.d/public-ac.yaml": PROFILE, "gateways.d/a.yaml": text})
    assert "gateways.d/a.yaml:6:7: gateway LSG-000001: unknown section 'battery' for LSG" in only(
        repo
    )


def test_a_subsetting_value_is_checked_like_a_profile_value(load: Load) -> None:
    text = GATEWAYS + "    subsettings:\n      charging:\n        MaxChargingCurrent: 64\n"
    repo = load({"profiles.d/public-ac.yaml": PROFILE, "gateways.d/a.yaml": text})
    assert only(repo) == (
        "gateways.d/a.yaml:7:29: gateway LSX-000001: MaxChargingCurrent: expected an integer from 6 to 32 A, got 64"
    )


def test_label_values_are_strings(load: Load) -> None:
    text = GATEWAYS + "    labels: {level: 2}\n"
    repo = load({"profiles.d/public-ac.yaml": PROFILE, "gateways.d/a.yaml": text})
    assert only(repo) == "gateways.d/a.yaml:5:21: level: expected a string, got integer 2"


def test_one_broken_entry_does_not_hide_the_others(load: Load) -> None:
    text = (
        GATEWAYS
        + "  - id: LSX-000002\n    type: LSX\n    profil: x\n  - id: LSX-000001\n    type: LSX\n"
    )
    repo = load({"profiles.d/public-ac.yaml": PROFILE, "gateways.d/a.yaml": text})
    assert [line.split(": ", 1)[0] for line in located(repo)] == [
        "gateways.d/a.yaml:7:5",
        "gateways.d/a.yaml:8:9",
    ]


def test_a_missing_id_is_an_error_at_the_entry(load: Load) -> None:
    repo = load({"gateways.d/a.yaml": "gateways:\n  - type: LSX\n"})
    assert only(repo) == "gateways.d/a.yaml:2:5: missing required key 'id'"


def test_null_values_are_errors(load: Load) -> None:
    repo = load(
        {"profiles.d/public-ac.yaml": "name: public-ac\nparameters:\n  LSX:\n    backend:\n"}
    )
    assert only(repo) == (
        "profiles.d/public-ac.yaml:4:13: section 'backend' must be a mapping of keys to values, got null"
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("", "1:1: empty file", id="empty"),
        pytest.param("# only a comment\n", "1:1: empty file", id="comment-only"),
        pytest.param(
            "- id: x\n", "1:1: expected a mapping with a 'gateways:' list", id="top-level-list"
        ),
        pytest.param("gateways:\n", "1:10: gateways: expected a list, got null", id="null-list"),
        pytest.param(
            "gateways: []\ngateways: []\n", "2:1: duplicate key 'gateways'", id="duplicate-key"
        ),
        pytest.param("gateways:\n\t- id: x\n", "2:1: tab character in indentation", id="tab"),
        pytest.param("gateways: [\n", "2:1: while parsing a flow node", id="malformed"),
    ],
)
def test_bad_gateway_files_get_one_clear_error(load: Load, content: str, expected: str) -> None:
    assert f"gateways.d/bad.yaml:{expected}" in only(load({"gateways.d/bad.yaml": content}))


def test_non_utf8_bytes_are_located(make_repo: Callable[[Mapping[str, str]], Path]) -> None:
    root = make_repo({})
    (root / "gateways.d").mkdir()
    (root / "gateways.d" / "bin.yaml").write_bytes(b"gateways:\n  - id: \xff\n")
    repo = load_repo(DirectorySource(root))
    assert (
        only(repo) == "gateways.d/bin.yaml:2:9: invalid UTF-8 byte 0xff; config files must be UTF-8"
    )


def test_a_symlink_out_of_the_repository_is_refused(
    make_repo: Callable[[Mapping[str, str]], Path], tmp_path: Path
) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(GATEWAYS)
    root = make_repo({"profiles.d/public-ac.yaml": PROFILE})
    (root / "gateways.d").mkdir()
    os.symlink(outside, root / "gateways.d" / "link.yaml")
    repo = load_repo(DirectorySource(root))
    assert only(repo).startswith("gateways.d/link.yaml:1:1: symlink points outside the repository")


def test_a_symlink_inside_the_repository_is_followed(
    make_repo: Callable[[Mapping[str, str]], Path],
) -> None:
    root = make_repo({"profiles.d/public-ac.yaml": PROFILE, "shared/a.yaml": GATEWAYS})
    (root / "gateways.d").mkdir()
    os.symlink(root / "shared" / "a.yaml", root / "gateways.d" / "link.yaml")
    assert load_repo(DirectorySource(root)).valid


def test_an_oversized_file_is_refused_without_reading_it_all(
    make_repo: Callable[[Mapping[str, str]], Path],
) -> None:
    root = make_repo({})
    (root / "gateways.d").mkdir()
    with open(root / "gateways.d" / "huge.yaml", "wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    assert "larger than the limit" in only(load_repo(DirectorySource(root)))


def test_all_problems_are_reported_in_one_run(load: Load) -> None:
    repo = load(
        {
            "profiles.d/public-ac.yaml": PROFILE.replace("900", "1"),
            "gateways.d/a.yaml": GATEWAYS.replace("public-ac", "nope"),
            "gateways.d/b.yaml": "",
        }
    )
    assert len(repo.diagnostics) == 3


def test_catalog_d_adds_keys_for_new_firmware(load: Load) -> None:
    catalog = """\
    type: LSX
    parameters:
      - key: PlugAndChargeEnabled
        section: charging
        type: boolean
        default: false
        firmware: ">=4.0.0"
        description: ISO 15118 Plug & Charge.
    """
    text = PROFILE.replace("backend:", "charging:\n      PlugAndChargeEnabled: true\n    backend:")
    repo = load({"catalog.d/lsx-4.yaml": catalog, "profiles.d/public-ac.yaml": text})
    assert repo.valid, located(repo)


def test_catalog_d_may_not_redefine_a_shipped_key(load: Load) -> None:
    catalog = """\
    type: LSX
    parameters:
      - key: HeartbeatInterval
        section: backend
        type: integer
        min: 1
        max: 10
        default: 5
        description: redefined
    """
    message = only(load({"catalog.d/x.yaml": catalog}))
    assert message.startswith(
        "catalog.d/x.yaml:3:10: HeartbeatInterval of LSX is already defined differently"
    )


def test_catalog_d_entries_are_checked(load: Load) -> None:
    catalog = "type: LSX\nparameters:\n  - key: X\n    section: backend\n    type: integer\n    default: 5\n    max: 3\n"
    message = only(load({"catalog.d/x.yaml": catalog}))
    assert message.startswith("catalog.d/x.yaml:3:5: ")
    assert "default 5" in message


def test_the_example_repository_is_valid() -> None:
    repo = load_repo(DirectorySource(Path(__file__).resolve().parents[2]))
    assert repo.valid, located(repo)
    assert len(repo.profiles) >= 4
    assert len(repo.gateways) >= 60
    types = {g.type for g in repo.gateways.values()}
    assert {"LSX", "LSG", "ACCU"} <= types <= set(repo.catalog.types)
