"""``reconciler status`` shows what a Mismatch is: each differing key, live and expected.

A real SQLite store holds a gateway in Mismatch with the live values its
read-back found (``mismatch``) and the accepted ones; ``status`` (piped text,
a terminal table, JSON) and ``search`` show ``KEY: live X, expected Y``, and a
secret never as its value.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from reconciler.cli import members
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.members.listing import listing
from reconciler.members.rows import member_json
from reconciler.members.rows import members as member_rows
from reconciler.model.state import AppliedGateway, Status
from reconciler.store.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "examples" / "inventory.json"
LIVE_SECRET = "live-secret-value-0123456789"
SEALED = {"secret": "public_ac_auth_key", "digest": "d1g3st" * 10}
DRIFTED = AppliedGateway(
    "LSG-004510",
    "LSG",
    "4.1.3",
    "public-ac",
    Status.MISMATCH,
    accepted={"HeartbeatInterval": 600, "AuthorizationKey": SEALED, "MeterValuesSampledData": []},
    mismatch={
        "HeartbeatInterval": 1234,
        "AuthorizationKey": LIVE_SECRET,
        "MeterValuesSampledData": ["Voltage", "Current.Import"],
    },
    reason="live configuration differs: AuthorizationKey, HeartbeatInterval, MeterValuesSampledData",
    updated_at=1714564800.0,
)
FINE = AppliedGateway(
    "LSG-004511", "LSG", "4.1.3", "public-ac", Status.ACCEPTED, accepted={"HeartbeatInterval": 600}
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("state") / "state.db"
    with SQLiteStore(path) as db:
        db.write([DRIFTED, FINE])
    return path


def reconciler(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "RECONCILER_FORMAT"}
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert LIVE_SECRET not in done.stdout + done.stderr
    return done.stdout


def status(store: Path, *args: str) -> str:
    return reconciler(
        "status", str(ROOT), "--state", str(store), "--inventory", str(INVENTORY), *args
    )


EXPECTED = [
    "Mismatch (live: read back from the gateway; expected: last accepted):",
    "  LSG-004510  AuthorizationKey: live (secret), expected (secret)",
    "  LSG-004510  HeartbeatInterval: live 1234, expected 600",
    "  LSG-004510  MeterValuesSampledData: live Voltage,Current.Import, expected (empty)",
]


def test_text_lists_each_differing_key_live_and_expected_after_the_profiles_table(
    store: Path,
) -> None:
    lines = status(store).splitlines()
    start = lines.index(EXPECTED[0])
    assert lines[start : start + 4] == EXPECTED
    assert lines[start - 1] == "", "a blank line after the table: the table stays one block"
    heading = max(i for i, line in enumerate(lines[:start]) if line.startswith("public-ac: "))
    assert any(line.startswith("LSG-004510 ") for line in lines[heading:start])


def test_search_shows_the_same_lines(store: Path) -> None:
    out = reconciler(
        "search", "status:mismatch", str(ROOT), "--state", str(store), "--inventory", str(INVENTORY)
    )
    assert "  LSG-004510  HeartbeatInterval: live 1234, expected 600" in out.splitlines()


def test_json_carries_mismatch_live_and_expected_beside_the_members(store: Path) -> None:
    document: dict[str, Any] = json.loads(status(store, "--format", "json"))
    by_id = {m["id"]: m for m in document["members"]}
    assert document["mismatch"]["LSG-004510"] == [
        {"key": "AuthorizationKey", "live": "(secret)", "expected": "(secret)"},
        {"key": "HeartbeatInterval", "live": 1234, "expected": 600},
        {
            "key": "MeterValuesSampledData",
            "live": ["Voltage", "Current.Import"],
            "expected": [],
        },
    ]
    assert set(document["mismatch"]) == {"LSG-004510"}, "only Mismatch members are listed"
    # The member objects are member_json's, unchanged: the report's and the API's shape.
    row = next(
        m
        for m in member_rows(load_repo(DirectorySource(ROOT)), None, {DRIFTED.gateway_id: DRIFTED})
        if m.gateway_id == DRIFTED.gateway_id
    )
    assert set(by_id["LSG-004510"]) == set(member_json(row))


def test_on_a_terminal_the_lines_follow_the_rich_table(store: Path) -> None:
    repo = load_repo(DirectorySource(ROOT))
    rows = member_rows(repo, None, {DRIFTED.gateway_id: DRIFTED, FINE.gateway_id: FINE})
    console = Console(force_terminal=True, width=200, record=True)
    members.rich_print(listing(rows, profiles=repo.profiles), console)
    out = console.export_text()
    assert "LSG-004510  HeartbeatInterval: live 1234, expected 600" in out
    assert LIVE_SECRET not in out
