"""Shared parts of the end-to-end tests: the head-end, simulated chargers, a config repository, apply.

The head-end (:func:`reconciler.testing.running_headend`) and the simulated charge
points (:func:`reconciler.testing.running_chargers`) run in threads over loopback
WebSockets; ``reconciler apply`` runs as the command a user types.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tests.daemon.conftest import wait_for

__all__ = ["wait_for"]  # one polling helper for the tests that drive processes

TOKEN = "daemon-test-token"
"""The bearer token of the head-end (the daemon tests' driver uses the same)."""
GIT = ["-c", "user.name=Test", "-c", "user.email=test@example.invalid"]

PROFILE_16 = {
    "backend": {"HeartbeatInterval": 600, "WebSocketPingInterval": 60},
    "charging": {"ConnectionTimeOut": 300, "StopTransactionOnEVSideDisconnect": True},
    "metering": {
        "MeterValueSampleInterval": 60,
        "MeterValuesSampledData": ["Energy.Active.Import.Register", "Power.Active.Import"],
    },
}
PROFILE_201 = {
    "backend": {"OCPPCommCtrlr.HeartbeatInterval": 600, "OCPPCommCtrlr.OfflineThreshold": 600},
    "charging": {"TxCtrlr.EVConnectionTimeOut": 300},
    "metering": {
        "SampledDataCtrlr.TxUpdatedInterval": 60,
        "SampledDataCtrlr.TxUpdatedMeasurands": ["Energy.Active.Import.Register"],
    },
}


def flat(blocks: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {key: value for keys in blocks.values() for key, value in keys.items()}


def yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def profile_text(
    name: str, blocks: Mapping[str, Mapping[str, Mapping[str, Any]]], rollout: Mapping[str, Any]
) -> str:
    lines = [f"name: {name}", "parameters:"]
    for gateway_type, sections in blocks.items():
        lines.append(f"  {gateway_type}:")
        for section, keys in sections.items():
            lines.append(f"    {section}:")
            lines += [f"      {key}: {yaml_value(value)}" for key, value in keys.items()]
    if rollout:
        lines.append("rollout:")
        lines += [f"  {key}: {yaml_value(value)}" for key, value in rollout.items()]
    return "\n".join(lines) + "\n"


def write_repo(
    root: Path,
    chargers: Iterable[tuple[str, str]],
    blocks: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
    rollout: Mapping[str, Any] | None = None,
) -> str:
    """A git repository with one profile ``depot`` and every charger (id, type) a member; HEAD."""
    (root / "profiles.d").mkdir(parents=True, exist_ok=True)
    (root / "gateways.d").mkdir(exist_ok=True)
    chosen = blocks if blocks is not None else {"OCPP16": PROFILE_16, "OCPP201": PROFILE_201}
    (root / "profiles.d" / "depot.yaml").write_text(
        profile_text("depot", chosen, rollout or {}), encoding="utf-8"
    )
    entries = ["gateways:"]
    for charger_id, gateway_type in sorted(chargers):
        entries += [f"  - id: {charger_id}", f"    type: {gateway_type}", "    profile: depot"]
    (root / "gateways.d" / "site.yaml").write_text("\n".join(entries) + "\n", encoding="utf-8")
    if not (root / ".git").exists():
        git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, *GIT, "commit", "-qm", "depot")
    return git(root, "rev-parse", "HEAD")


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def reconciler(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``reconciler ARGS`` as a user runs it, with the head-end token in the environment."""
    env = {**os.environ, "RECONCILER_HEADEND_TOKEN": TOKEN, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def apply_command(repo: Path, api_url: str, state: Path) -> list[str]:
    return [
        sys.executable, "-m", "reconciler", "apply", str(repo),
        "--headend", api_url, "--state", str(state),
    ]  # fmt: skip


def charger_types(ids: Iterable[str]) -> list[tuple[str, str]]:
    """The simulator's mixed fleet: even numbers speak OCPP 1.6, odd ones 2.0.1."""
    return [(cid, "OCPP16" if int(cid[-6:]) % 2 == 0 else "OCPP201") for cid in ids]
