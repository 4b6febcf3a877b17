"""``reconciler status`` and ``reconciler search`` over the example repo, its inventory and a real store."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from packaging.version import Version
from rich.console import Console

from reconciler.cli import cli, members
from reconciler.loading.inventories import read_inventory
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.members.listing import listing
from reconciler.members.rows import members as member_rows
from reconciler.model.catalogs import parse_version
from reconciler.model.state import AppliedGateway, Status
from reconciler.store.sqlite import SQLiteStore
from reconciler.testing import running_simulator

EXAMPLE = Path(__file__).resolve().parents[2]
INVENTORY = EXAMPLE / "examples" / "inventory.json"
NOON = 1714564800.0  # 2024-05-01T12:00:00Z
PROFILE_SECRET = "profile-secret-value-0123456789"
GATEWAY_SECRET = "gateway-secret-value-0123456789"
SEALED = {"secret": "public_ac_auth_key", "digest": "d1g3st" * 10}

STATES = {
    "LSX-000123": (Status.ACCEPTED, ""),
    "LSX-000124": (Status.DECLINED, "rejected_parameters: MaxChargingCurrent out of range"),
    "LSX-000125": (Status.SENT, ""),
    "LSG-004510": (Status.MISMATCH, "live HeartbeatInterval differs"),
    "ACCU-000011": (Status.ACCEPTED, ""),
    "LSX-000999": (Status.SENT, "reset to firmware defaults"),  # deleted from gateways.d
}


EXAMPLE_REPO = load_repo(DirectorySource(EXAMPLE))
PROFILES = sorted(EXAMPLE_REPO.profiles)
TOTAL = len(EXAMPLE_REPO.gateways) + sum(1 for g in STATES if g not in EXAMPLE_REPO.gateways)
"""The members of the example: its declared gateways and the ones only the store knows."""
UNSEEN = TOTAL - len(STATES)
"""Members without a status."""


def run(*args: str, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=dict(env or {}))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real SQLite store with a few statuses (and a sealed secret in an accepted config)."""
    path = tmp_path_factory.mktemp("state") / "state.db"
    with SQLiteStore(path) as db:
        db.write(
            [
                AppliedGateway(
                    gateway_id,
                    gateway_id.split("-")[0],
                    "2.0.0",
                    "public-ac",
                    status,
                    accepted={"AuthorizationKey": SEALED, "HeartbeatInterval": 600},
                    reason=reason,
                    updated_at=NOON,
                )
                for gateway_id, (status, reason) in STATES.items()
            ]
        )
    return path


def status(store: Path, *args: str) -> tuple[int, str, str]:
    return run("status", str(EXAMPLE), "--state", str(store), "--inventory", str(INVENTORY), *args)


def search_for(store: Path, query: str, *args: str) -> tuple[int, str, str]:
    return run(
        "search", query, str(EXAMPLE), "--state", str(store), "--inventory", str(INVENTORY), *args
    )


def as_json(output: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(output)
    return document


def ids(document: Mapping[str, Any]) -> list[str]:
    return [m["id"] for m in document["members"]]


def group(output: str, heading: str) -> list[str]:
    """The lines of one profile's members table in the plain text output."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading + ":"))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i]), len(lines))
    return lines[start + 1 : end]


# --- status --------------------------------------------------------------------------------


def test_status_counts_members_and_statuses_per_profile_on_top(store: Path) -> None:
    code, out, _ = status(store)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (
        f"{TOTAL} gateways in {len(PROFILES)} profiles: "
        f"2 Sent, 2 Accepted, 1 Declined, 1 Mismatch, {UNSEEN} no status"
    )
    assert lines[2] == ("PROFILE       MEMBERS  SENT  ACCEPTED  DECLINED  MISMATCH  NO STATUS")
    rows = {line.split()[0]: line.split()[1:] for line in lines[3 : 4 + len(PROFILES)]}
    assert rows["public-ac"] == ["36", "1", "1", "1", "1", "32"]
    assert rows["canary"] == ["5", "0", "1", "0", "0", "4"]
    assert rows["workplace"] == ["6", "0", "0", "0", "0", "6"]
    assert rows["(no"] == ["profile)", "5", "1", "0", "0", "0", "4"]


def test_status_lists_each_profiles_members_with_their_columns(store: Path) -> None:
    _, out, _ = status(store)
    assert (
        "public-ac: 36 members (1 Sent, 1 Accepted, 1 Declined, 1 Mismatch, 32 no status)"
        in out.splitlines()
    )
    table = group(out, "public-ac")
    assert table[0].split() == [
        "GATEWAY",
        "STATIONS",
        "PORTS",
        "TYPE",
        "FIRMWARE",
        "PROVIDER",
        "SUBSETTINGS",
        "STATUS",
    ]
    [row] = [line for line in table if line.startswith("LSX-000125 ")]
    assert "MaxChargingCurrent=16, LightIntensity=40" in row
    assert row.endswith("Sent")
    assert "CS-000125-1" in row
    assert "ADDRESS" not in out


def test_a_gateway_only_the_store_knows_is_shown_as_removed(store: Path) -> None:
    _, out, _ = status(store)
    [row] = [line for line in group(out, "(no profile)") if line.startswith("LSX-000999")]
    assert row.endswith("Sent (entry removed)")


def test_status_profile_shows_one_profile(store: Path) -> None:
    code, out, _ = status(store, "--profile", "canary")
    assert code == 0
    assert out.startswith(f"5 of {TOTAL} gateways match profile:canary: 1 Accepted, 4 no status\n")
    assert "public-ac" not in out
    assert "ACCU-000011" in out


def test_status_profile_none_shows_gateways_without_a_profile(store: Path) -> None:
    _, out, _ = status(store, "--profile", "none", "--format", "json")
    assert ids(as_json(out)) == [
        "ACCU-000012",
        "LSG-004599",
        "LSX-000099",
        "LSX-000599",
        "LSX-000999",
    ]


def test_status_with_an_unknown_profile_is_a_usage_error_that_lists_the_profiles(
    store: Path,
) -> None:
    code, _, err = status(store, "--profile", "pubic-ac")
    assert code == 2
    assert "no profile 'pubic-ac'" in err
    assert ", ".join(PROFILES) in err


def test_status_query_narrows_the_table(store: Path) -> None:
    code, out, _ = status(store, "--query", "status:mismatch")
    assert code == 0
    assert out.startswith(f"1 of {TOTAL} gateways match status:mismatch: 1 Mismatch\n")
    assert "LSG-004510" in out
    assert "LSX-000123" not in out


def test_status_profile_and_query_must_both_match(store: Path) -> None:
    _, out, _ = status(store, "--profile", "public-ac", "--query", "type:LSG", "--format", "json")
    document = as_json(out)
    assert document["query"] == "profile:public-ac type:LSG"
    assert {(m["profile"], m["type"]) for m in document["members"]} == {("public-ac", "LSG")}


def test_status_with_nothing_matching_still_exits_0(store: Path) -> None:
    code, out, _ = status(store, "--query", "owner:nobody")
    assert (code, out) == (0, f"0 of {TOTAL} gateways match owner:nobody\n")


def test_wide_adds_address_owner_reason_and_last_update(store: Path) -> None:
    _, out, _ = status(store, "--wide", "--query", "id:LSX-000124")
    header, row = group(out, "public-ac")
    assert header.split() == [
        "GATEWAY",
        "STATIONS",
        "PORTS",
        "TYPE",
        "FIRMWARE",
        "PROVIDER",
        "ADDRESS",
        "OWNER",
        "SUBSETTINGS",
        "STATUS",
        "REASON",
        "UPDATED",
    ]
    known = read_inventory(INVENTORY)["LSX-000124"]
    assert known.address in row
    assert known.owner in row
    assert "rejected_parameters: MaxChargingCurrent out of range" in row
    assert row.endswith("2024-05-01T12:00:00Z")


def test_every_flag_reads_its_environment_variable(store: Path) -> None:
    code, out, _ = run(
        "status",
        str(EXAMPLE),
        env={
            "RECONCILER_STATE": str(store),
            "RECONCILER_INVENTORY": str(INVENTORY),
            "RECONCILER_QUERY": "status:declined",
            "RECONCILER_FORMAT": "json",
            "RECONCILER_WIDE": "1",
        },
    )
    assert code == 0
    assert ids(as_json(out)) == ["LSX-000124"]


def test_inventory_and_headend_together_are_a_usage_error(store: Path) -> None:
    assert status(store, "--headend", "http://127.0.0.1:1")[0] == 2


# --- JSON ----------------------------------------------------------------------------------


def test_json_follows_the_documented_schema(store: Path) -> None:
    code, out, err = status(store, "--format", "json")
    assert code == 0
    assert err == ""
    document = as_json(out)
    assert set(document) == {
        "format_version",
        "query",
        "total",
        "matched",
        "statuses",
        "profiles",
        "members",
        "mismatch",
        "notes",
    }
    assert (document["format_version"], document["query"]) == (1, None)
    assert document["total"] == document["matched"] == len(document["members"]) == TOTAL
    assert document["statuses"] == {
        "Initial": 0,
        "Requested": 0,
        "Sent": 2,
        "Accepted": 2,
        "Declined": 1,
        "Mismatch": 1,
        "none": UNSEEN,
    }
    assert list(document["profiles"]) == [*PROFILES, "(no profile)"]
    assert document["profiles"]["public-ac"]["members"] == 36
    assert document["profiles"]["public-ac"]["statuses"]["Mismatch"] == 1
    lsx = next(m for m in document["members"] if m["id"] == "LSX-000125")
    assert lsx == {
        "id": "LSX-000125",
        "profile": "public-ac",
        "type": "LSX",
        "firmware": read_inventory(INVENTORY)["LSX-000125"].firmware,
        "status": "Sent",
        "reason": "",
        "station_ids": lsx["station_ids"],
        "port_ids": lsx["port_ids"],
        "provider": read_inventory(INVENTORY)["LSX-000125"].provider,
        "address": read_inventory(INVENTORY)["LSX-000125"].address,
        "owner": read_inventory(INVENTORY)["LSX-000125"].owner,
        "subsettings": {"MaxChargingCurrent": 16, "LightIntensity": 40},
        "labels": {"city": "dortmund", "site": "dortmund-hbf", "level": "-1"},
        "skipped": [],
        "reboot_pending": [],
        "updated_at": "2024-05-01T12:00:00Z",
        "declared": True,
    }
    assert lsx["station_ids"] and lsx["port_ids"]
    fresh = next(m for m in document["members"] if m["id"] == "LSX-000140")
    assert (fresh["status"], fresh["updated_at"]) == (None, None)


def test_without_inputs_the_notes_say_what_is_unknown() -> None:
    code, out, _ = run("status", str(EXAMPLE), "--format", "json")
    assert code == 0
    notes = as_json(out)["notes"]
    assert any("no --inventory or --headend" in n for n in notes)
    assert any("no --state" in n for n in notes)


def test_in_text_the_notes_go_to_stderr() -> None:
    _, out, err = run("status", str(EXAMPLE))
    assert "note: no --state given" in err
    assert "note:" not in out


# --- search --------------------------------------------------------------------------------


def test_search_status_mismatch(store: Path) -> None:
    code, out, _ = search_for(store, "status:mismatch", "--format", "json")
    assert code == 0
    assert ids(as_json(out)) == ["LSG-004510"]


def test_search_profile_none(store: Path) -> None:
    code, out, _ = search_for(store, "profile:none -status:sent")
    assert code == 0
    listed = [line.split()[0] for line in group(out, "(no profile)")[1:]]
    assert listed == ["ACCU-000012", "LSG-004599", "LSX-000099", "LSX-000599"]


def test_search_firmware_below_a_version(store: Path) -> None:
    _, out, _ = search_for(store, "firmware:<2.0.0", "--format", "json")
    found = as_json(out)["members"]
    inventory = read_inventory(INVENTORY)
    versions = {i: parse_version(g.firmware) for i, g in inventory.items()}
    expected = sorted(i for i, v in versions.items() if v is not None and v < Version("2.0.0"))
    assert [m["id"] for m in found] == expected
    assert len(expected) >= 26
    unversioned = [i for i, v in versions.items() if v is None]  # "V2.12-rc3b": no comparison
    assert unversioned
    assert not set(unversioned) & set(expected)


def test_search_negation_and_free_words(store: Path) -> None:
    _, out, _ = search_for(
        store, 'type:LSX -profile:public-ac owner:"Parkhaus GmbH"', "--format", "json"
    )
    found = as_json(out)["members"]
    assert found
    assert all(m["type"] == "LSX" and m["profile"] != "public-ac" for m in found)
    assert all(m["owner"] == "Parkhaus GmbH" for m in found)
    _, out, _ = search_for(store, "dortmund-hbf", "--format", "json")
    assert ids(as_json(out)) == ["LSX-000123", "LSX-000124", "LSX-000125"]


def test_search_labels(store: Path) -> None:
    _, out, _ = search_for(store, "label:site=dortmund-hbf label:level=-1", "--format", "json")
    assert ids(as_json(out)) == ["LSX-000125"]


def test_search_exits_1_when_nothing_matches(store: Path) -> None:
    code, out, _ = search_for(store, "owner:nobody")
    assert code == 1
    assert out == f"0 of {TOTAL} gateways match owner:nobody\n"


def test_a_bad_query_exits_2_and_points_at_the_column(store: Path) -> None:
    code, out, err = search_for(store, "type:LSX onwer:stadtwerke")
    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        err.splitlines()[0],
        "  type:LSX onwer:stadtwerke",
        "           ^",
    ]
    assert err.startswith("reconciler: bad query at column 10: unknown field 'onwer'")
    assert "did you mean 'owner'" in err
    assert "Traceback" not in err


def test_a_query_that_starts_with_a_negation_follows_a_double_dash(store: Path) -> None:
    code, _, err = search_for(store, "-status:accepted")
    assert code == 2
    assert "reconciler search -- '-status:accepted'" in err
    code, out, _ = run(
        "search",
        "--state",
        str(store),
        "--format",
        "json",
        "--",
        "-type:LSX -type:LSG",
        str(EXAMPLE),
    )
    assert code == 0
    assert {m["type"] for m in as_json(out)["members"]} == {
        g.type for g in EXAMPLE_REPO.gateways.values()
    } - {"LSX", "LSG"}


def test_a_bad_query_in_status_is_a_usage_error_too(store: Path) -> None:
    code, _, err = status(store, "--query", "firmware:<two")
    assert code == 2
    assert "column 11: expected a firmware version" in err


def test_an_unreadable_store_exits_2_for_search_and_1_for_status(tmp_path: Path) -> None:
    broken = tmp_path / "state.db"
    broken.write_text("not a database")
    assert run("search", "x", str(EXAMPLE), "--state", str(broken))[0] == 2
    code, _, err = run("status", str(EXAMPLE), "--state", str(broken))
    assert code == 1
    assert err.startswith(f"reconciler: {broken}: cannot open the state store")


# --- secrets and terminals -----------------------------------------------------------------


@pytest.fixture
def repo_with_secret_subsetting(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    shutil.copytree(EXAMPLE / "profiles.d", root / "profiles.d")
    shutil.copytree(EXAMPLE / "gateways.d", root / "gateways.d")
    path = root / "gateways.d" / "dortmund.yaml"
    text = path.read_text(encoding="utf-8")
    old = "      charging:\n        MaxChargingCurrent: 16\n      display:"
    assert old in text
    path.write_text(
        text.replace(
            old,
            "      backend:\n        AuthorizationKey: {secret: gw_key}\n" + old,
            1,
        ),
        encoding="utf-8",
    )
    assert load_repo(DirectorySource(root)).valid
    return root


@pytest.mark.parametrize("output_format", ["text", "json"])
def test_secrets_are_never_shown(
    repo_with_secret_subsetting: Path, store: Path, output_format: str
) -> None:
    env = {
        "RECONCILER_SECRET_GW_KEY": GATEWAY_SECRET,
        "RECONCILER_SECRET_PUBLIC_AC_AUTH_KEY": PROFILE_SECRET,
    }
    for args in (
        ["status", str(repo_with_secret_subsetting), "--wide"],
        ["search", "LSX-000125", str(repo_with_secret_subsetting), "--wide"],
    ):
        code, out, err = run(
            *args,
            "--state",
            str(store),
            "--inventory",
            str(INVENTORY),
            "--format",
            output_format,
            env=env,
        )
        assert code == 0
        assert "AuthorizationKey" in out
        assert "(secret)" in out
        for hidden in (GATEWAY_SECRET, PROFILE_SECRET, "gw_key", SEALED["digest"]):
            assert hidden not in out + err


def test_piped_output_has_no_ansi_escapes(store: Path) -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "reconciler", "status", str(EXAMPLE)),
            *("--state", str(store), "--inventory", str(INVENTORY), "--wide"),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")},
    )
    assert result.returncode == 0
    assert "LSG-004510" in result.stdout
    assert "\x1b" not in result.stdout + result.stderr


def test_on_a_terminal_the_tables_are_rich_with_every_value_whole(store: Path) -> None:
    fleet_repo = load_repo(DirectorySource(EXAMPLE))
    with SQLiteStore(store, read_only=True) as db:
        rows = member_rows(fleet_repo, read_inventory(INVENTORY), db.applied())
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=250, color_system="standard")
    members.rich_print(listing(rows, profiles=fleet_repo.profiles), console, wide=True)
    out = buffer.getvalue()
    assert "\x1b[" in out
    for gateway_id in ("LSG-004510", "LSX-000999", "ACCU-000011"):
        assert gateway_id in out
    assert "Mismatch" in out


# --- the head-end's inventory --------------------------------------------------------------


def test_headend_reads_the_inventory_through_the_http_driver(store: Path) -> None:
    with running_simulator(gateways_repo=EXAMPLE, token="t0ken", fleet=0) as sim:
        code, out, _ = run(
            "search",
            "type:ACCU",
            str(EXAMPLE),
            "--state",
            str(store),
            "--format",
            "json",
            env={"RECONCILER_HEADEND_URL": sim.url, "RECONCILER_HEADEND_TOKEN": "t0ken"},
        )
    assert code == 0
    found = as_json(out)["members"]
    assert len(found) == 15
    assert all(m["firmware"] and m["station_ids"] for m in found)
    assert not any("no --inventory" in note for note in as_json(out)["notes"])


def test_an_unreachable_headend_is_an_input_error_without_traceback(store: Path) -> None:
    code, _, err = run(
        "status",
        str(EXAMPLE),
        "--headend",
        "http://127.0.0.1:1",
        env={"RECONCILER_HEADEND_TOKEN": "t", "RECONCILER_HEADEND_MAX_ATTEMPTS": "1"},
    )
    assert code == 1
    assert err.startswith("reconciler: head-end http://127.0.0.1:1:")
    assert "Traceback" not in err


def test_headend_without_a_token_says_which_variable_to_set() -> None:
    code, _, err = run(
        "status",
        str(EXAMPLE),
        "--headend",
        "http://127.0.0.1:1",
        env={"RECONCILER_HEADEND_TOKEN": "", "RECONCILER_HEADEND_TOKEN_FILE": ""},
    )
    assert code == 1
    assert "RECONCILER_HEADEND_TOKEN" in err


def test_status_says_when_a_profiles_rollout_was_aborted(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from reconciler.cli import cli
    from reconciler.model.state import AppliedGateway, Status
    from reconciler.store.sqlite import SQLiteStore

    state = tmp_path / "aborted.db"
    with SQLiteStore(state) as store:
        rollout = store.start_rollout("c1", "public-ac", at=1.0)
        store.write(
            [
                AppliedGateway(
                    "LSX-000123", "LSX", "2.0.0", "public-ac", Status.INITIAL, rollout_id=rollout
                ),
                AppliedGateway(
                    "LSX-000124", "LSX", "2.0.0", "public-ac", Status.DECLINED, rollout_id=rollout
                ),
            ]
        )
        store.finish_rollout(
            rollout, "aborted", at=2.0, reason="aborted: 1 of 1 declined (100% > 20%)"
        )
    result = CliRunner().invoke(
        cli, ["status", str(Path(__file__).resolve().parents[2]), "--state", str(state)]
    )
    assert result.exit_code == 0
    assert (
        "profile public-ac: rollout 1 aborted: 1 of 1 declined (100% > 20%); "
        "1 member stays Initial until `reconciler retry public-ac` or a new commit"
    ) in result.stderr
