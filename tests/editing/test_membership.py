"""The editing layer used directly: membership rules, Quick Config, new profiles and the gate raise, never exit."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler import errors
from reconciler.editing import gate, membership, profiles, quickconfig
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.model.repos import Repo
from reconciler.model.state import Status

EXAMPLE = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Row:
    """A selected gateway, as the membership rules need it (no members layer involved)."""

    gateway_id: str
    type: str = "LSX"
    profile: str | None = None
    status: Status | None = None
    declared: bool = True

    @property
    def status_key(self) -> str:
        return self.status.value if self.status is not None else "none"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for folder in ("profiles.d", "gateways.d"):
        shutil.copytree(EXAMPLE / folder, root / folder)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def loaded(root: Path) -> Repo:
    return load_repo(DirectorySource(root))


# --- membership ----------------------------------------------------------------------------


def test_assigning_gateways_of_another_profile_raises_a_membership_error_naming_them(
    repo: Path,
) -> None:
    rows = [Row("LSX-000123", profile="public-ac"), Row("LSX-000099")]
    with pytest.raises(errors.MembershipError, match="add --reassign") as raised:
        membership.assign(repo, loaded(repo), rows, "canary", query="q")
    assert raised.value.gateway_ids == ("LSX-000123",)
    assert "LSX-000123 (in public-ac)" in str(raised.value)


def test_reassigning_moves_them_in_an_edit_that_is_not_written_yet(repo: Path) -> None:
    before = snapshot(repo)
    rows = [Row("LSX-000123", profile="public-ac")]
    edit = membership.assign(repo, loaded(repo), rows, "canary", query="q", reassign=True)
    assert [c.path for c in edit.effective] == ["gateways.d/dortmund.yaml"]
    assert edit.summary == ["gateways.d/dortmund.yaml: LSX-000123 -> canary (was public-ac)"]
    assert snapshot(repo) == before


def test_a_gateway_whose_rollout_is_active_cannot_change_membership(repo: Path) -> None:
    rows = [Row("LSX-000099", status=Status.SENT), Row("LSX-000123", profile="canary")]
    with pytest.raises(errors.MembershipError, match=r"rollout is active") as raised:
        membership.assign(repo, loaded(repo), rows, "canary", query="q")
    assert raised.value.gateway_ids == ("LSX-000099",)
    rows = [Row("LSX-000123", profile="public-ac", status=Status.REQUESTED)]
    with pytest.raises(errors.MembershipError, match=r"LSX-000123 \(Requested\)") as raised:
        membership.unassign(repo, loaded(repo), rows, query="q")
    assert raised.value.gateway_ids == ("LSX-000123",)


def test_a_query_that_matches_nothing_is_refused(repo: Path) -> None:
    with pytest.raises(errors.MembershipError, match="no gateway matches 'id:nothing'"):
        membership.assign(repo, loaded(repo), [], "canary", query="id:nothing")
    with pytest.raises(errors.MembershipError, match="no gateway matches"):
        membership.unassign(repo, loaded(repo), [], query="id:nothing")


def test_an_unknown_profile_is_a_usage_error_listing_the_profiles(repo: Path) -> None:
    with pytest.raises(errors.EditUsageError, match=r"no profile 'canry' \(profiles: canary, "):
        membership.assign(repo, loaded(repo), [Row("LSX-000099")], "canry", query="q")


@pytest.mark.parametrize("file", ["elsewhere/x.yaml", "gateways.d/x.txt", "gateways.d/.x.yaml"])
def test_a_target_file_outside_gateways_d_is_a_usage_error(repo: Path, file: str) -> None:
    with pytest.raises(errors.EditUsageError, match=r"expected a \.yaml file in gateways\.d/"):
        membership.entries_file(repo, Path(file))


def test_new_entries_go_where_most_members_are_or_to_a_file_named_after_the_profile(
    repo: Path,
) -> None:
    model = loaded(repo)
    assert membership.default_file(model, "canary") == "gateways.d/koeln.yaml"
    assert membership.default_file(model, "night") == "gateways.d/night.yaml"


def test_a_new_entry_is_appended_to_the_file_given(repo: Path) -> None:
    target = membership.entries_file(repo, Path("gateways.d/new.yaml"))
    edit = membership.assign(
        repo, loaded(repo), [Row("LSX-000777", declared=False)], "canary", query="q", file=target
    )
    assert [(c.path, c.old) for c in edit.changes] == [("gateways.d/new.yaml", None)]
    assert edit.summary == ["gateways.d/new.yaml: LSX-000777 -> canary (new entry)"]


def test_unassigning_counts_the_matching_gateways_without_a_profile(repo: Path) -> None:
    rows = [Row("LSX-000125", profile="public-ac"), Row("LSX-000099")]
    edit = membership.unassign(repo, loaded(repo), rows, query="q")
    assert edit.summary == [
        "gateways.d/dortmund.yaml: LSX-000125 leaves public-ac",
        "1 matching gateway has no profile",
    ]


# --- the gate ------------------------------------------------------------------------------


def test_the_gate_writes_an_edit_atomically_and_returns_what_changed(repo: Path) -> None:
    edit = membership.unassign(
        repo, loaded(repo), [Row("LSX-000125", profile="public-ac")], query="q"
    )
    changes = gate.apply(repo, edit)
    assert [c.path for c in changes] == ["gateways.d/dortmund.yaml"]
    assert loaded(repo).gateways["LSX-000125"].profile is None
    assert not [p for p in (repo / "gateways.d").iterdir() if p.name.startswith(".")]


def test_a_dry_run_checks_the_edit_but_writes_nothing(repo: Path) -> None:
    before = snapshot(repo)
    edit = membership.unassign(
        repo, loaded(repo), [Row("LSX-000125", profile="public-ac")], query="q"
    )
    assert len(gate.apply(repo, edit, dry_run=True)) == 1
    assert snapshot(repo) == before


def test_an_edit_that_changes_nothing_is_neither_checked_nor_written(repo: Path) -> None:
    text = (repo / "gateways.d" / "dortmund.yaml").read_text(encoding="utf-8")
    edit = gate.Edit(loaded(repo), [gate.Change("gateways.d/dortmund.yaml", text, text)])
    assert gate.apply(repo, edit) == []


def test_an_edit_that_would_make_the_repository_invalid_raises_and_writes_nothing(
    repo: Path,
) -> None:
    profile = repo / "profiles.d" / "workplace.yaml"
    profile.write_text(
        profile.read_text(encoding="utf-8").replace("name: workplace", "name: workplace\nbogus: 1"),
        encoding="utf-8",
    )
    before = snapshot(repo)
    edit = quickconfig.set_subsettings(repo, "LSX-000125", ["charging.MaxChargingCurrent=20"])
    with pytest.raises(errors.InvalidEditError, match="nothing was written") as raised:
        gate.apply(repo, edit)
    assert any(
        p.startswith("profiles.d/workplace.yaml:") and p.endswith(gate.ALREADY.strip())
        for p in raised.value.problems
    )
    assert snapshot(repo) == before


def test_an_unreadable_file_refuses_the_edit(repo: Path) -> None:
    (repo / "gateways.d" / "broken.yaml").write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(errors.EditError, match=r"gateways\.d/broken\.yaml: cannot read"):
        gate.read_text(repo, "gateways.d/broken.yaml")


# --- Quick Config and new profiles -----------------------------------------------------------


def test_quick_config_returns_the_edit_with_its_summary(repo: Path) -> None:
    edit = quickconfig.set_subsettings(
        repo, "LSX-000125", ["charging.MaxChargingCurrent=20"], ["display.LightIntensity"]
    )
    assert edit.summary == [
        "gateways.d/dortmund.yaml: LSX-000125 charging.MaxChargingCurrent = 20",
        "gateways.d/dortmund.yaml: LSX-000125 display.LightIntensity removed (the profile's value applies)",
    ]


@pytest.mark.parametrize(
    ("assignments", "unset", "error", "message"),
    [
        ([], [], errors.EditUsageError, "nothing to do"),
        (["MaxChargingCurrent=16"], [], errors.EditUsageError, "expected SECTION.Key"),
        (["charging.MaxChargingCurrent"], [], errors.EditUsageError, "expected SECTION.Key=VALUE"),
        (
            ["display.LightIntensity=4"],
            ["display.LightIntensity"],
            errors.EditUsageError,
            "both set and unset",
        ),
        (["charging.MaxChargingCurrent=40"], [], errors.EditError, "expected an integer from 6"),
        (["backend.MaxChargingCurrent=16"], [], errors.EditError, "belongs in section 'charging'"),
    ],
)
def test_quick_config_raises_for_bad_requests(
    repo: Path, assignments: list[str], unset: list[str], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        quickconfig.set_subsettings(repo, "LSX-000125", assignments, unset)


def test_quick_config_of_an_unknown_gateway_suggests_a_close_one(repo: Path) -> None:
    with pytest.raises(errors.EditError, match="did you mean LSX-000125"):
        quickconfig.set_subsettings(repo, "LSX-00125", ["charging.MaxChargingCurrent=20"])


def test_a_new_profile_is_an_edit_of_one_new_file(repo: Path) -> None:
    edit = profiles.new_profile(repo, "night-charging", description="Depots")
    [change] = edit.changes
    assert change.path == "profiles.d/night-charging.yaml" and change.old is None
    assert not (repo / change.path).exists()


@pytest.mark.parametrize(
    ("name", "source", "message"),
    [
        ("canary", None, "exists already"),
        ("Night_Charging", None, "is not a valid profile name"),
        ("x", "public-a", "did you mean 'public-ac'"),
    ],
)
def test_a_new_profile_is_refused_with_the_reason(
    repo: Path, name: str, source: str | None, message: str
) -> None:
    with pytest.raises(errors.EditError, match=message):
        profiles.new_profile(repo, name, source=source)


def test_every_editing_error_is_a_reconciler_error() -> None:
    for error in (errors.EditUsageError, errors.MembershipError, errors.InvalidEditError):
        assert issubclass(error, errors.EditError)
    assert issubclass(errors.EditError, errors.ReconcilerError)
    from reconciler.editing import edits, roundtrip

    assert edits.EditError is roundtrip.EditError is errors.EditError
