"""Round-trip edits of config text: only the intended lines change, everything else byte for byte."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from reconciler.editing import edits as editing
from reconciler.editing import roundtrip
from reconciler.loading import catalogs
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import MemorySource

EXAMPLE = Path(__file__).resolve().parents[2]
DORTMUND = (EXAMPLE / "gateways.d" / "dortmund.yaml").read_text(encoding="utf-8")
GATEWAY_FILES = sorted((EXAMPLE / "gateways.d").rglob("*.yaml"))
PROFILE_FILES = sorted((EXAMPLE / "profiles.d").glob("*.yaml"))


def changed(old: str, new: str) -> tuple[list[str], list[str]]:
    """(removed, added) lines of a unified diff, without the +/- marks."""
    diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0))
    removed = [d[1:] for d in diff if d.startswith("-") and not d.startswith("---")]
    added = [d[1:] for d in diff if d.startswith("+") and not d.startswith("+++")]
    return removed, added


def first_entry(text: str) -> str:
    return next(line.split("id:")[1].strip() for line in text.splitlines() if "- id:" in line)


@pytest.mark.parametrize("path", GATEWAY_FILES, ids=lambda p: p.name)
def test_changing_a_profile_changes_only_that_line_in_every_example_file(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    new = editing.set_profiles(text, {first_entry(text): "workplace"})
    removed, added = changed(text, new)
    assert len(added) == 1 and added[0].strip() == "profile: workplace"
    assert len(removed) <= 1 and all(line.strip().startswith("profile:") for line in removed)


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.name)
def test_a_copied_profile_differs_only_in_its_name_line(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    removed, added = changed(text, editing.rename_profile(text, "copy-of-it"))
    assert [line.split(":")[0] for line in removed] == ["name"]
    assert added == ["name: copy-of-it"]


def test_removing_a_profile_keeps_the_comment_that_followed_it() -> None:
    new = editing.set_profiles(DORTMUND, {"LSX-000125": None})
    removed, added = changed(DORTMUND, new)
    assert removed == ["    profile: public-ac"] and added == []
    assert "    type: LSX\n    # Level -1 shares its feeder" in new


def test_assigning_an_entry_without_profile_adds_one_line_after_its_type() -> None:
    new = editing.set_profiles(DORTMUND, {"LSX-000099": "canary"})
    assert changed(DORTMUND, new) == ([], ["    profile: canary"])
    assert "  - id: LSX-000099\n    type: LSX\n    profile: canary\n    subsettings:" in new


def test_setting_the_same_profile_changes_nothing() -> None:
    assert editing.set_profiles(DORTMUND, {"LSX-000123": "public-ac"}) == DORTMUND


def test_new_subsettings_are_added_between_profile_and_labels_keeping_flow_labels() -> None:
    new = editing.set_subsettings(DORTMUND, "LSX-000123", {("charging", "ConnectionTimeOut"): 60})
    removed, added = changed(DORTMUND, new)
    assert removed == []
    assert added == ["    subsettings:", "      charging:", "        ConnectionTimeOut: 60"]
    assert '    labels: {city: dortmund, site: dortmund-hbf, level: "2"}' in new


def test_subsettings_edit_existing_values_in_place_and_append_new_sections() -> None:
    values = {
        ("charging", "MaxChargingCurrent"): 20,
        ("metering", "MeterValuesSampledData"): ["Voltage", "SoC"],
        ("backend", "AuthorizationKey"): {"secret": "site_key"},
    }
    new = editing.set_subsettings(DORTMUND, "LSX-000125", values)
    removed, added = changed(DORTMUND, new)
    assert removed == ["        MaxChargingCurrent: 16"]
    assert added == [
        "        MaxChargingCurrent: 20",
        "      metering:",
        "        MeterValuesSampledData: [Voltage, SoC]",
        "      backend:",
        "        AuthorizationKey: {secret: site_key}",
    ]


def test_unsetting_every_subsetting_removes_the_block_and_keeps_the_comments_around() -> None:
    unset = [("charging", "MaxChargingCurrent"), ("display", "LightIntensity")]
    new = editing.set_subsettings(DORTMUND, "LSX-000125", {}, unset)
    removed, added = changed(DORTMUND, new)
    assert added == []
    assert [line.strip() for line in removed] == [
        "subsettings:",
        "charging:",
        "MaxChargingCurrent: 16",
        "display:",
        "LightIntensity: 40",
    ]
    assert "# Level -1 shares its feeder" in new
    assert "\n\n  # --- Westfalenhallen" in new


def test_a_comment_below_a_deleted_first_key_moves_above_the_next_one() -> None:
    text = (
        "gateways:\n  - id: A\n    type: LSX\n    subsettings:\n      charging:\n"
        "        MaxChargingCurrent: 16  # feeder\n      # display is dim here\n"
        "      display:\n        LightIntensity: 40\n"
    )
    new = editing.set_subsettings(text, "A", {}, [("charging", "MaxChargingCurrent")])
    assert new == (
        "gateways:\n  - id: A\n    type: LSX\n    subsettings:\n      # display is dim here\n"
        "      display:\n        LightIntensity: 40\n"
    )


def test_a_key_appended_after_one_with_trailing_comments_goes_above_those_comments() -> None:
    text = (
        "gateways:\n  - id: A\n    type: LSX\n    subsettings:\n      charging:\n"
        "        MaxChargingCurrent: 16  # feeder\n\n  # --- next site ---\n  - id: B\n    type: LSX\n"
    )
    new = editing.set_subsettings(text, "A", {("charging", "ConnectionTimeOut"): 60})
    assert changed(text, new) == ([], ["        ConnectionTimeOut: 60"])
    assert "MaxChargingCurrent: 16  # feeder\n        ConnectionTimeOut: 60\n\n  # --- next" in new


def test_entries_are_appended_at_the_end_of_a_file_or_make_a_new_one() -> None:
    rows = [editing.NewEntry("LSX-000777", "LSX", "canary")]
    new = editing.append_entries(DORTMUND, rows)
    assert new.startswith(DORTMUND)
    assert new[len(DORTMUND) :] == "  - id: LSX-000777\n    type: LSX\n    profile: canary\n"
    assert editing.append_entries(None, rows) == (
        "gateways:\n  - id: LSX-000777\n    type: LSX\n    profile: canary\n"
    )


def test_the_indentation_of_the_file_is_kept() -> None:
    text = "gateways:\n- id: A\n  type: LSX\n  labels:    {a: b}\n- id: B\n  type: LSX\n"
    assert roundtrip.detect_indent(text) == (2, 2, 0)
    new = editing.set_profiles(text, {"B": "canary"})
    assert changed(text, new) == ([], ["  profile: canary"])


def test_membership_edits_fall_back_to_a_textual_edit_when_ruamel_would_reformat() -> None:
    # ruamel writes `{ a: b }` back as `{a: b}`: the fidelity check notices, the fallback edits text.
    text = "gateways:\n  - id: A\n    type: LSX\n    labels: { a: b }\n  - id: B\n    type: LSX\n    profile: x  # why\n"
    new = editing.set_profiles(text, {"A": "canary", "B": "workplace"})
    assert changed(text, new) == (
        ["    profile: x  # why"],
        ["    profile: canary", "    profile: workplace  # why"],
    )
    with pytest.raises(editing.EditError, match="reformatting other lines"):
        editing.set_subsettings(text, "A", {("charging", "ConnectionTimeOut"): 60})


def test_unexpected_changes_names_lost_and_added_comment_lines() -> None:
    old = "a: 1\n# keep\nb: 2\n"
    assert roundtrip.unexpected_changes(old, "a: 1\nb: 3\n", {2}) == ["line 2 would change: # keep"]
    assert roundtrip.unexpected_changes(old, "a: 1\n# keep\n# new\nb: 2\n", set()) == [
        "a blank or comment line would be added: '# new'"
    ]


CATALOG, _ = catalogs.merge([])


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        pytest.param("HeartbeatInterval", "600", 600, id="integer"),
        pytest.param("StopTransactionOnEVSideDisconnect", "false", False, id="boolean"),
        pytest.param("MeterValuesSampledData", "Voltage,SoC", ["Voltage", "SoC"], id="list-comma"),
        pytest.param(
            "MeterValuesSampledData", "[Voltage, SoC]", ["Voltage", "SoC"], id="list-flow"
        ),
        pytest.param(
            "AuthorizationKey", "{secret: depot_key}", {"secret": "depot_key"}, id="secret"
        ),
        pytest.param("CpoName", "900", "900", id="string-stays-a-string"),
    ],
)
def test_values_are_parsed_by_their_catalog_type(key: str, text: str, expected: object) -> None:
    spec = CATALOG.spec("LSX", key)
    assert spec is not None
    assert editing.parse_value(spec, text) == expected


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        pytest.param("HeartbeatInterval", "10", "from 30 to 86400", id="out-of-range"),
        pytest.param("HeartbeatInterval", "1.5", "expected an integer", id="not-an-integer"),
        pytest.param("StopTransactionOnEVSideDisconnect", "yes", "true or false", id="yes"),
        pytest.param("MeterValuesSampledData", "Voltage,Bogus", "Bogus", id="list-item"),
        pytest.param("AuthorizationKey", "0123456789abcdefghij", "literal secret", id="literal"),
    ],
)
def test_bad_values_are_refused_with_the_reason(key: str, text: str, message: str) -> None:
    spec = CATALOG.spec("LSX", key)
    assert spec is not None
    with pytest.raises(ValueError, match=message):
        editing.parse_value(spec, text)


def test_a_profile_skeleton_is_a_valid_profile_with_comments() -> None:
    text = editing.profile_skeleton("night-charging", "Depots: cheap tariff", CATALOG)
    repo = load_repo(MemorySource({"profiles.d/night-charging.yaml": text.encode()}))
    assert repo.valid, repo.diagnostics
    assert repo.profiles["night-charging"].description == "Depots: cheap tariff"
    assert "#     HeartbeatInterval: 900" in text


def test_windows_line_ends_and_a_missing_final_newline_are_kept() -> None:
    text = "gateways:\r\n  - id: A\r\n    type: LSX\r\n    profile: x"
    assert editing.set_profiles(text, {"A": "y"}) == text.replace("x", "y")
    new = editing.set_subsettings(text, "A", {("charging", "ConnectionTimeOut"): 60})
    assert new == text + "\r\n    subsettings:\r\n      charging:\r\n        ConnectionTimeOut: 60"


def test_flow_style_entries_are_edited_on_their_own_line() -> None:
    text = "gateways:\n  # depot\n  - {id: A, type: LSX}\n  - {id: B, type: LSX, profile: x}\n"
    assert editing.set_profiles(text, {"A": "y"}) == (
        "gateways:\n  # depot\n  - {id: A, type: LSX, profile: y}\n  - {id: B, type: LSX, profile: x}\n"
    )


def test_an_entry_the_file_lacks_is_an_edit_error() -> None:
    with pytest.raises(editing.EditError, match="no entry for LSX-000000"):
        editing.set_profiles(DORTMUND, {"LSX-000000": "canary"})


@pytest.mark.parametrize("path", GATEWAY_FILES, ids=lambda p: p.name)
def test_large_files_take_the_textual_path_with_the_same_result(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = path.read_text(encoding="utf-8")
    ids = [line.split("id:")[1].strip() for line in text.splitlines() if "- id:" in line]
    changes: dict[str, str | None] = {ids[0]: "workplace", ids[1]: None, ids[-1]: "canary"}
    round_trip = editing.set_profiles(text, changes)
    monkeypatch.setattr(editing, "ROUND_TRIP_MAX_LINES", 0)
    assert editing.set_profiles(text, changes) == round_trip


def test_a_list_written_in_block_style_stays_in_block_style() -> None:
    text = (
        "gateways:\n  - id: A\n    type: LSX\n    subsettings:\n      metering:\n"
        "        MeterValuesSampledData:\n          - Voltage\n          - SoC\n"
    )
    new = editing.set_subsettings(text, "A", {("metering", "MeterValuesSampledData"): ["Voltage"]})
    assert new == text.removesuffix("          - SoC\n")
