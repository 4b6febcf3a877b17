"""A key a gateway's firmware lacks is skipped once, however many sources set or held it.

The profile and the gateway's subsettings may both set a key its firmware
lacks, and a key still desired may also have been accepted under an earlier
firmware (so it is "no longer managed" too): each used to be listed twice, in
the plan, its JSON, and the store's ``skipped`` (and so in ``status``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from reconciler.model.inventory import InventoryGateway
from reconciler.model.repos import Repo
from reconciler.model.state import AppliedGateway, Status
from reconciler.plan.desired import Skip, merge_skips
from reconciler.plan.planning import Planner

PROFILE = (
    "name: public-ac\nparameters:\n  LSX:\n    backend:\n"
    "      HeartbeatInterval: 600\n      WebSocketPingInterval: 60\n"
)
OWN = "    subsettings:\n      backend:\n        WebSocketPingInterval: 30\n"
FILES = {
    "profiles.d/public-ac.yaml": PROFILE,
    "gateways.d/a.yaml": (
        "gateways:\n"
        "  - id: LSX-000001\n    type: LSX\n    profile: public-ac\n"
        + OWN
        + "  - id: LSX-000002\n    type: LSX\n    profile: public-ac\n"
    ),
}
OLD_FIRMWARE = "1.1.0"  # WebSocketPingInterval needs >=2.0.0
INVENTORY = {
    i: InventoryGateway(id=i, type="LSX", firmware=OLD_FIRMWARE)
    for i in ("LSX-000001", "LSX-000002")
}


def keys(skips: tuple[Skip, ...]) -> list[str]:
    return [s.key for s in skips]


def test_merge_keeps_the_first_skip_of_each_key_in_order() -> None:
    a, b, c = Skip("A", "not in LSX 1.1.0"), Skip("B", "r"), Skip("A", "r; no longer managed")
    assert merge_skips((a, b), (c, Skip("C", "r"))) == (a, b, Skip("C", "r"))
    assert merge_skips((), (c,)) == (c,) and merge_skips((a,), ()) == (a,)


def test_a_key_the_profile_and_the_subsettings_both_set_is_skipped_once(
    load: Callable[[Mapping[str, str]], Repo],
) -> None:
    repo = load(FILES)
    assert repo.valid, [str(d) for d in repo.diagnostics]
    plan = Planner(repo.catalog).plan(repo, INVENTORY, {})
    assert keys(plan.gateways["LSX-000001"].skipped) == ["WebSocketPingInterval"]
    assert keys(plan.gateways["LSX-000002"].skipped) == ["WebSocketPingInterval"]


def test_a_desired_key_accepted_under_a_newer_firmware_is_skipped_once(
    load: Callable[[Mapping[str, str]], Repo],
) -> None:
    """Downgraded firmware: the key is still desired (skipped) and was accepted (not reset)."""
    repo = load(FILES)
    applied = {
        "LSX-000002": AppliedGateway(
            "LSX-000002",
            "LSX",
            "2.0.0",
            "public-ac",
            Status.ACCEPTED,
            accepted={"HeartbeatInterval": 600, "WebSocketPingInterval": 60},
        )
    }
    plan = Planner(repo.catalog).plan(repo, INVENTORY, applied)
    skipped = plan.gateways["LSX-000002"].skipped
    assert keys(skipped) == ["WebSocketPingInterval"]
    assert skipped[0].reason == f"not in LSX {OLD_FIRMWARE}"


def test_plan_json_lists_each_skipped_key_once(
    make_repo: Callable[[Mapping[str, str]], Path], tmp_path: Path
) -> None:
    root = make_repo(FILES)
    inventory = tmp_path / "inventory.json"
    inventory.write_text(
        json.dumps([{"id": i, "type": "LSX", "firmware": OLD_FIRMWARE} for i in INVENTORY])
    )
    command = ["plan", str(root), "--inventory", str(inventory), "--format", "json"]
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for gateway in json.loads(done.stdout)["gateways"]:
        assert [s["key"] for s in gateway["skipped"]] == ["WebSocketPingInterval"], gateway
