"""``reconciler plan``: formats, exit codes, --base/--head over real git repositories, --state, --inventory."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import git
import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.loading.catalogs import shipped_catalog
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.model.state import AppliedGateway, Status
from reconciler.store.sqlite import SQLiteStore

EXAMPLE = Path(__file__).resolve().parents[2]
INVENTORY = EXAMPLE / "examples" / "inventory.json"
DECLARED = len(load_repo(DirectorySource(EXAMPLE)).gateways)
"""The example's gateways (counted, so a new site in the example changes no test)."""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def sh(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def config_repo(tmp_path: Path) -> Path:
    """A git repository seeded with the example profiles.d and gateways.d, one commit."""
    root = tmp_path / "config"
    root.mkdir()
    shutil.copytree(EXAMPLE / "profiles.d", root / "profiles.d")
    shutil.copytree(EXAMPLE / "gateways.d", root / "gateways.d")
    sh(root, "init", "-q", "-b", "main")
    sh(root, "add", "-A")
    sh(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "seed")
    return root


def commit(root: Path, message: str) -> str:
    repo = git.Repo(root)
    repo.git.add(A=True)
    return str(repo.index.commit(message).hexsha)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_first_plan_pushes_everything_and_exits_2_with_detailed_exitcode(
    config_repo: Path,
) -> None:
    code, out, _ = run(
        "plan", str(config_repo), "--inventory", str(INVENTORY), "--detailed-exitcode"
    )
    assert code == 2
    assert out.startswith(f"Plan: {DECLARED - 2} to push; 2 unchanged.")
    assert "push: first rollout" in out


def test_without_detailed_exitcode_changes_exit_0(config_repo: Path) -> None:
    assert run("plan", str(config_repo), "--inventory", str(INVENTORY))[0] == 0


def test_a_pull_request_plan_shows_only_what_the_branch_changes(config_repo: Path) -> None:
    edit(
        config_repo / "profiles.d" / "public-ac.yaml",
        "HeartbeatInterval: 600",
        "HeartbeatInterval: 300",
    )
    code, out, _ = run(
        "plan",
        str(config_repo),
        "--base",
        "HEAD",
        "--inventory",
        str(INVENTORY),
        "--detailed-exitcode",
    )
    assert code == 2
    assert out.splitlines()[0].startswith(f"Plan: 11 to push; {DECLARED - 11} unchanged.")
    assert "HeartbeatInterval: 600 -> 300" in out


def test_an_unchanged_branch_has_no_changes_and_exits_0(config_repo: Path) -> None:
    code, out, _ = run(
        "plan",
        str(config_repo),
        "--base",
        "HEAD",
        "--inventory",
        str(INVENTORY),
        "--detailed-exitcode",
    )
    assert code == 0
    assert out.startswith("No changes.")


def test_head_is_read_from_git_objects_not_the_working_tree(config_repo: Path) -> None:
    first = git.Repo(config_repo).head.commit.hexsha
    edit(
        config_repo / "profiles.d" / "canary.yaml", "HeartbeatInterval:", "HeartbeatInterval: 301 #"
    )
    second = commit(config_repo, "canary heartbeat")
    (config_repo / "profiles.d" / "canary.yaml").write_text(
        "garbage: [", encoding="utf-8"
    )  # dirty tree
    code, out, _ = run(
        "plan",
        str(config_repo),
        "--base",
        first,
        "--head",
        second,
        "--inventory",
        str(INVENTORY),
        "--format",
        "json",
        "--detailed-exitcode",
    )
    assert code == 2
    document = json.loads(out)
    assert {g["profile"] for g in document["gateways"] if g["action"] != "none"} == {"canary"}


def test_markdown_has_totals_on_top_and_a_collapsible_section_per_profile(
    config_repo: Path,
) -> None:
    edit(config_repo / "gateways.d" / "essen.yaml", "profile: public-ac", "profile: canary")
    code, out, _ = run(
        "plan",
        str(config_repo),
        "--base",
        "HEAD",
        "--inventory",
        str(INVENTORY),
        "--format",
        "markdown",
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "### reconciler plan"
    assert lines[2].startswith("**Plan: 1 to move;")
    assert "<summary><b>canary</b>: 1 move</summary>" in out
    assert "move public-ac -> canary" in out


def test_json_follows_the_documented_schema(config_repo: Path) -> None:
    code, out, _ = run("plan", str(config_repo), "--inventory", str(INVENTORY), "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert document["format_version"] == 1
    assert set(document["summary"]) == {
        "push",
        "reset",
        "move",
        "defer",
        "error",
        "none",
        "skip",
        "gateways",
    }
    gateway = document["gateways"][0]
    assert set(gateway) == {
        "id",
        "type",
        "firmware",
        "profile",
        "previous_profile",
        "action",
        "first_rollout",
        "declared",
        "changes",
        "skipped",
        "message",
        "deferred_action",
    }
    secret_changes = [c for g in document["gateways"] for c in g["changes"] if c["secret"]]
    assert secret_changes and all(c["new"] == "(secret)" for c in secret_changes)


def test_the_state_store_supplies_the_applied_state(config_repo: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    with SQLiteStore(state) as store:
        store.write(
            [
                AppliedGateway(
                    "LSX-000123",
                    "LSX",
                    "2.0.0",
                    "fleet-depot",
                    Status.ACCEPTED,
                    accepted={"HeartbeatInterval": 1800},
                )
            ]
        )
    code, out, _ = run(
        "plan",
        str(config_repo),
        "--state",
        str(state),
        "--inventory",
        str(INVENTORY),
        "--format",
        "json",
    )
    assert code == 0
    moved = next(g for g in json.loads(out)["gateways"] if g["id"] == "LSX-000123")
    assert (moved["action"], moved["previous_profile"], moved["profile"]) == (
        "move",
        "fleet-depot",
        "public-ac",
    )


def test_a_missing_state_file_means_nothing_applied_and_is_not_created(
    config_repo: Path, tmp_path: Path
) -> None:
    state = tmp_path / "absent.db"
    assert run("plan", str(config_repo), "--state", str(state))[0] == 0
    assert not state.exists()


def test_planning_against_a_store_never_writes_it_not_even_a_secret_key(
    config_repo: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state.db"
    SQLiteStore(state).close()
    before = state.read_bytes()
    assert run("plan", str(config_repo), "--state", str(state))[0] == 0
    assert state.read_bytes() == before
    with SQLiteStore(state, read_only=True) as store:
        assert store.stored_secret_key() is None


def test_a_file_that_is_no_store_is_a_one_line_error(config_repo: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    state.write_bytes(b"this is not sqlite" * 100)
    code, _, err = run("plan", str(config_repo), "--state", str(state))
    assert code == 1
    assert err.startswith(f"reconciler: {state}: ") and err.count("\n") == 1


def test_an_invalid_repository_is_not_planned(config_repo: Path) -> None:
    (config_repo / "gateways.d" / "bad.yaml").write_text("gateways: 3\n", encoding="utf-8")
    code, out, err = run("plan", str(config_repo))
    assert code == 1
    assert out == ""
    assert "gateways.d/bad.yaml:1:11: error: gateways: expected a list, got integer 3" in err
    assert "nothing planned" in err


def test_a_gateway_error_fails_the_plan_but_plans_the_others(
    config_repo: Path, tmp_path: Path
) -> None:
    inventory = json.loads(INVENTORY.read_text(encoding="utf-8"))
    for item in inventory:
        if item["id"] == "LSX-000123":
            item["type"] = "LSG"
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inventory), encoding="utf-8")
    code, out, _ = run("plan", str(config_repo), "--inventory", str(path))
    assert code == 1
    assert "LSX-000123: error: declared type LSX, but the inventory says LSG" in out
    assert f"{DECLARED - 3} to push" in out


def test_a_malformed_inventory_names_file_line_and_column(
    config_repo: Path, tmp_path: Path
) -> None:
    path = tmp_path / "inventory.json"
    path.write_text('[\n  {"id": "x",}\n]', encoding="utf-8")
    code, _, err = run("plan", str(config_repo), "--inventory", str(path))
    assert code == 1
    assert f"{path}:2:14: invalid JSON" in err


def test_an_unknown_revision_is_a_clear_error(config_repo: Path) -> None:
    code, _, err = run("plan", str(config_repo), "--base", "no-such-branch")
    assert code == 1
    assert "unknown revision 'no-such-branch'" in err


def test_base_and_state_together_are_a_usage_error(config_repo: Path, tmp_path: Path) -> None:
    assert (
        run("plan", str(config_repo), "--base", "HEAD", "--state", str(tmp_path / "s.db"))[0] == 2
    )


def test_without_inventory_the_plan_says_firmware_results_are_unknown(config_repo: Path) -> None:
    code, out, _ = run("plan", str(config_repo))
    assert code == 0
    assert f"Note: firmware unknown for {DECLARED} gateways" in out


def test_the_inventory_can_come_from_a_headend(
    config_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.testing import running_simulator

    with running_simulator(gateways_repo=config_repo, token="plan-token", seed=5) as handle:
        monkeypatch.setenv("RECONCILER_HEADEND_TOKEN", "plan-token")
        code, out, _ = run("plan", str(config_repo), "--headend", handle.url, "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert document["firmware_unknown"] == 0
    assert document["summary"]["push"] >= 80


def test_inventory_and_headend_together_are_a_usage_error(config_repo: Path) -> None:
    assert (
        run("plan", str(config_repo), "--inventory", str(INVENTORY), "--headend", "http://x")[0]
        == 2
    )


def test_a_secret_value_outside_its_catalog_rule_is_a_plan_error_that_never_shows_the_value(
    config_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = shipped_catalog().spec("LSX", "AuthorizationKey")
    assert spec is not None and spec.min_length is not None
    name, value = "public_ac_auth_key", "Vq3-short-secret-value"[: spec.min_length - 1]
    before = json.loads(
        run("plan", str(config_repo), "--inventory", str(INVENTORY), "--format", "json")[1]
    )
    users = {  # the profiles that refer to the secret (profiles.d)
        profile.stem
        for profile in (config_repo / "profiles.d").glob("*.yaml")
        if f"{{secret: {name}}}" in profile.read_text(encoding="utf-8")
    }
    holders = {
        g["id"]
        for g in before["gateways"]
        if g["profile"] in users and any(c["key"] == "AuthorizationKey" for c in g["changes"])
    }
    assert holders
    monkeypatch.setenv(f"RECONCILER_SECRET_{name}", value)
    code, text, _ = run("plan", str(config_repo), "--inventory", str(INVENTORY))
    _, out, _ = run("plan", str(config_repo), "--inventory", str(INVENTORY), "--format", "json")
    assert code == 1
    errors = {g["id"]: g["message"] for g in json.loads(out)["gateways"] if g["action"] == "error"}
    assert set(errors) == holders
    reason = (
        f"secret '{name}' for AuthorizationKey does not fit the catalog: "
        f"shorter than {spec.min_length} characters "
        f"(the catalog wants {spec.min_length}..{spec.max_length})"
    )
    assert set(errors.values()) == {reason}
    assert reason in text
    assert value not in text and value not in out
