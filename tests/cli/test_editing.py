"""``reconciler profile new``, ``assign``, ``unassign`` and ``set`` on a copy of the example repo."""

from __future__ import annotations

import difflib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.model.state import AppliedGateway, Status
from reconciler.store.sqlite import SQLiteStore

EXAMPLE = Path(__file__).resolve().parents[2]
INVENTORY = EXAMPLE / "examples" / "inventory.json"
NEW_GATEWAY = "LSX-000777"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for folder in ("profiles.d", "gateways.d"):
        shutil.copytree(EXAMPLE / folder, root / folder)
    return root


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    """The example inventory plus one gateway that gateways.d does not declare."""
    items = json.loads(INVENTORY.read_text(encoding="utf-8"))
    items.append({**items[0], "id": NEW_GATEWAY, "type": "LSX", "firmware": "2.1.0"})
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    return path


def run(repo: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [*args, "--repo", str(repo)], env={})
    return result.exit_code, result.stdout, result.stderr


def snapshot(repo: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(repo)): p.read_bytes() for p in sorted(repo.rglob("*")) if p.is_file()
    }


def diff(before: Mapping[str, bytes], repo: Path, path: str) -> tuple[list[str], list[str]]:
    """(removed, added) lines of one file since ``before``."""
    old = before.get(path, b"").decode().splitlines()
    new = (repo / path).read_text(encoding="utf-8").splitlines()
    lines = list(difflib.unified_diff(old, new, lineterm="", n=0))
    return (
        [d[1:] for d in lines if d.startswith("-") and not d.startswith("---")],
        [d[1:] for d in lines if d.startswith("+") and not d.startswith("+++")],
    )


def changed_files(before: Mapping[str, bytes], repo: Path) -> list[str]:
    after = snapshot(repo)
    return sorted(p for p in {*before, *after} if before.get(p) != after.get(p))


# --- profile new ------------------------------------------------------------------------


def test_profile_new_writes_a_commented_skeleton_that_validates(repo: Path) -> None:
    code, out, _ = run(repo, "profile", "new", "night-charging", "--description", "Depots")
    assert code == 0
    assert "profiles.d/night-charging.yaml: new profile night-charging" in out
    text = (repo / "profiles.d" / "night-charging.yaml").read_text(encoding="utf-8")
    assert text.startswith("# Profile group night-charging.")
    assert "  LSX: {}\n" in text and "  ACCU: {}\n" in text
    assert load_repo(DirectorySource(repo)).profiles["night-charging"].description == "Depots"


def test_profile_new_from_another_copies_its_comments_and_changes_only_the_name(
    repo: Path,
) -> None:
    code, _, _ = run(repo, "profile", "new", "public-ac-v2", "--from", "public-ac")
    assert code == 0
    old = (repo / "profiles.d" / "public-ac.yaml").read_text(encoding="utf-8").splitlines()
    new = (repo / "profiles.d" / "public-ac-v2.yaml").read_text(encoding="utf-8").splitlines()
    assert [(a, b) for a, b in zip(old, new, strict=True) if a != b] == [
        ("name: public-ac", "name: public-ac-v2")
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["canary"], "profile 'canary' exists already", id="existing"),
        pytest.param(["Night_Charging"], "is not a valid profile name", id="invalid-name"),
        pytest.param(["x", "--from", "public-a"], "did you mean 'public-ac'", id="unknown-from"),
    ],
)
def test_profile_new_refuses(repo: Path, args: list[str], message: str) -> None:
    before = snapshot(repo)
    code, _, err = run(repo, "profile", "new", *args)
    assert code == 1 and message in err
    assert snapshot(repo) == before


# --- assign / unassign ------------------------------------------------------------------


def test_assign_sets_the_profile_in_place_and_changes_only_those_lines(
    repo: Path, inventory: Path
) -> None:
    before = snapshot(repo)
    code, out, _ = run(
        repo,
        "assign",
        "canary",
        "--query",
        "profile:none type:LSX",
        "--inventory",
        str(inventory),
        "--file",
        "gateways.d/new.yaml",
    )
    assert code == 0, out
    assert changed_files(before, repo) == [
        "gateways.d/dortmund.yaml",
        "gateways.d/duesseldorf.yaml",
        "gateways.d/new.yaml",
    ]
    assert diff(before, repo, "gateways.d/dortmund.yaml") == ([], ["    profile: canary"])
    assert diff(before, repo, "gateways.d/duesseldorf.yaml") == ([], ["    profile: canary"])
    assert (repo / "gateways.d" / "new.yaml").read_text(encoding="utf-8") == (
        f"gateways:\n  - id: {NEW_GATEWAY}\n    type: LSX\n    profile: canary\n"
    )
    assert f"gateways.d/new.yaml: {NEW_GATEWAY} -> canary (new entry)" in out
    assert "gateways.d/dortmund.yaml: LSX-000099 -> canary (had no profile)" in out
    assert load_repo(DirectorySource(repo)).valid


def test_new_entries_go_to_the_file_with_most_of_the_profiles_members(
    repo: Path, inventory: Path
) -> None:
    before = snapshot(repo)
    code, _, _ = run(
        repo, "assign", "canary", "--query", f"id:{NEW_GATEWAY}", "--inventory", str(inventory)
    )
    assert code == 0
    assert changed_files(before, repo) == ["gateways.d/koeln.yaml"]
    assert diff(before, repo, "gateways.d/koeln.yaml") == (
        [],
        [f"  - id: {NEW_GATEWAY}", "    type: LSX", "    profile: canary"],
    )


def test_assign_refuses_gateways_of_another_profile_without_reassign(
    repo: Path, inventory: Path
) -> None:
    before = snapshot(repo)
    code, _, err = run(
        repo,
        "assign",
        "canary",
        "--query",
        "label:site=dortmund-hbf",
        "--inventory",
        str(inventory),
    )
    assert code == 1
    assert "add --reassign" in err
    assert "LSX-000123 (in public-ac)" in err and "LSX-000125 (in public-ac)" in err
    assert snapshot(repo) == before


def test_assign_with_reassign_moves_them(repo: Path, inventory: Path) -> None:
    before = snapshot(repo)
    code, out, _ = run(
        repo,
        "assign",
        "canary",
        "--query",
        "label:site=dortmund-hbf",
        "--reassign",
        "--inventory",
        str(inventory),
    )
    assert code == 0
    removed, added = diff(before, repo, "gateways.d/dortmund.yaml")
    assert removed == ["    profile: public-ac"] * 3 and added == ["    profile: canary"] * 3
    assert "LSX-000125 -> canary (was public-ac)" in out


def test_assign_refuses_gateways_whose_rollout_is_active(
    repo: Path, inventory: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state.db"
    with SQLiteStore(state) as db:
        db.write([AppliedGateway("LSX-000099", "LSX", "1.1.0", None, Status.SENT)])
    before = snapshot(repo)
    code, _, err = run(
        repo,
        "assign",
        "canary",
        "--query",
        "profile:none",
        "--state",
        str(state),
        "--inventory",
        str(inventory),
    )
    assert code == 1
    assert "rollout is active" in err and "LSX-000099 (Sent)" in err
    assert snapshot(repo) == before


def test_assign_dry_run_prints_the_diff_and_writes_nothing(repo: Path, inventory: Path) -> None:
    before = snapshot(repo)
    code, out, _ = run(
        repo,
        "assign",
        "workplace",
        "--query",
        "id:LSX-000099",
        "--dry-run",
        "--inventory",
        str(inventory),
    )
    assert code == 0
    assert "+++ b/gateways.d/dortmund.yaml" in out and "+    profile: workplace" in out
    assert "dry run: nothing was written" in out
    assert snapshot(repo) == before


def test_assign_says_when_there_is_nothing_to_change(repo: Path, inventory: Path) -> None:
    code, out, _ = run(
        repo, "assign", "canary", "--query", "profile:canary", "--inventory", str(inventory)
    )
    assert code == 0 and "nothing to change" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(
            ["canary", "--query", "id:nothing-like-it"], 1, "no gateway matches", id="no-match"
        ),
        pytest.param(["canary", "--query", "colour:red"], 2, "bad query", id="bad-query"),
        pytest.param(
            ["canry", "--query", "type:LSX"], 2, "no profile 'canry'", id="unknown-profile"
        ),
        pytest.param(
            ["canary", "--query", "id:LSX-000099", "--file", "elsewhere/x.yaml"],
            2,
            "gateways.d",
            id="file-outside",
        ),
    ],
)
def test_assign_refusals_and_usage_errors(
    repo: Path, inventory: Path, args: list[str], code: int, message: str
) -> None:
    before = snapshot(repo)
    result, _, err = run(repo, "assign", *args, "--inventory", str(inventory))
    assert result == code and message in err
    assert snapshot(repo) == before


def test_unassign_removes_only_the_profile_line_keeping_subsettings_and_labels(
    repo: Path, inventory: Path
) -> None:
    before = snapshot(repo)
    code, out, _ = run(repo, "unassign", "--query", "id:LSX-000125", "--inventory", str(inventory))
    assert code == 0
    assert "LSX-000125 leaves public-ac" in out
    assert diff(before, repo, "gateways.d/dortmund.yaml") == (["    profile: public-ac"], [])
    entry = load_repo(DirectorySource(repo)).gateways["LSX-000125"]
    assert entry.profile is None and entry.subsettings and entry.labels


# --- set ----------------------------------------------------------------------------------


def test_set_edits_subsettings_in_place_and_adds_new_keys(repo: Path) -> None:
    before = snapshot(repo)
    code, out, _ = run(
        repo,
        "set",
        "LSX-000125",
        "charging.MaxChargingCurrent=20",
        "metering.MeterValuesSampledData=Voltage,SoC",
    )
    assert code == 0
    assert diff(before, repo, "gateways.d/dortmund.yaml") == (
        ["        MaxChargingCurrent: 16"],
        [
            "        MaxChargingCurrent: 20",
            "      metering:",
            "        MeterValuesSampledData: [Voltage, SoC]",
        ],
    )
    assert "LSX-000125 metering.MeterValuesSampledData = [Voltage, SoC]" in out


def test_set_unset_removes_a_subsetting(repo: Path) -> None:
    before = snapshot(repo)
    code, _, _ = run(repo, "set", "LSX-000125", "--unset", "display.LightIntensity")
    assert code == 0
    assert diff(before, repo, "gateways.d/dortmund.yaml") == (
        ["      display:", "        LightIntensity: 40"],
        [],
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["LSX-000000", "charging.MaxChargingCurrent=16"],
            "no gateway LSX-000000",
            id="unknown-gateway",
        ),
        pytest.param(
            ["LSX-000125", "charging.MaxChargingCurrent=sixteen"],
            "expected an integer from 6 to 32",
            id="bad-value",
        ),
        pytest.param(
            ["LSX-000125", "backend.MaxChargingCurrent=16"],
            "belongs in section 'charging', not 'backend'",
            id="wrong-section",
        ),
        pytest.param(
            ["LSX-000125", "backend.AuthorizationKey=0123456789abcdefghij"],
            "literal secret",
            id="literal-secret",
        ),
        pytest.param(
            ["LSX-000125", "charging.MaxCharingCurrent=16"],
            "did you mean 'MaxChargingCurrent'",
            id="unknown-key",
        ),
        pytest.param(
            ["LSX-000125", "--unset", "charging.ConnectionTimeOut"],
            "no subsetting charging.ConnectionTimeOut",
            id="unset-missing",
        ),
    ],
)
def test_set_refuses(repo: Path, args: list[str], message: str) -> None:
    before = snapshot(repo)
    code, _, err = run(repo, "set", *args)
    assert code == 1 and message in err
    assert snapshot(repo) == before


def test_an_edit_of_a_repository_that_would_be_invalid_writes_nothing(repo: Path) -> None:
    profile = repo / "profiles.d" / "workplace.yaml"
    profile.write_text(
        profile.read_text(encoding="utf-8").replace("name: workplace", "name: workplace\nbogus: 1"),
        encoding="utf-8",
    )
    before = snapshot(repo)
    code, _, err = run(repo, "set", "LSX-000125", "charging.MaxChargingCurrent=20")
    assert code == 1
    assert "profiles.d/workplace.yaml:" in err and "(already before this edit)" in err
    assert "would be invalid after this edit; nothing was written" in err
    assert snapshot(repo) == before


def test_writes_are_atomic_keep_the_file_mode_and_leave_no_temporary_files(repo: Path) -> None:
    path = repo / "gateways.d" / "dortmund.yaml"
    path.chmod(0o640)
    code, _, _ = run(repo, "set", "LSX-000125", "charging.MaxChargingCurrent=20")
    assert code == 0
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".")) == []


def test_new_members_of_a_profile_without_members_go_to_a_file_named_after_it(
    repo: Path, inventory: Path
) -> None:
    assert run(repo, "profile", "new", "night-charging")[0] == 0
    code, out, _ = run(
        repo,
        "assign",
        "night-charging",
        "--query",
        f"id:{NEW_GATEWAY}",
        "--inventory",
        str(inventory),
    )
    assert code == 0
    assert f"gateways.d/night-charging.yaml: {NEW_GATEWAY} -> night-charging (new entry)" in out
    assert load_repo(DirectorySource(repo)).members["night-charging"] == [NEW_GATEWAY]


def test_unassign_refuses_gateways_whose_rollout_is_active(
    repo: Path, inventory: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state.db"
    with SQLiteStore(state) as db:
        db.write([AppliedGateway("LSG-004501", "LSG", "4.1.3", "canary", Status.REQUESTED)])
    before = snapshot(repo)
    code, _, err = run(
        repo,
        "unassign",
        "--query",
        "profile:canary",
        "--state",
        str(state),
        "--inventory",
        str(inventory),
    )
    assert code == 1 and "LSG-004501 (Requested)" in err
    assert snapshot(repo) == before


def test_assign_to_a_broken_profile_writes_nothing(repo: Path, inventory: Path) -> None:
    profile = repo / "profiles.d" / "workplace.yaml"
    profile.write_text(
        profile.read_text(encoding="utf-8").replace("name: workplace", "name: workplace\nbogus: 1"),
        encoding="utf-8",
    )
    before = snapshot(repo)
    code, _, err = run(
        repo, "assign", "workplace", "--query", "id:LSX-000099", "--inventory", str(inventory)
    )
    assert code == 1 and "nothing was written" in err
    assert snapshot(repo) == before
