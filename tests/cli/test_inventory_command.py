"""``reconciler inventory``: the head-end simulator's inventory written as an ``--inventory`` file.

Run as a user runs it (``python -m reconciler`` in a subprocess, the token in
the environment) against the real simulator over loopback HTTP; the file is
read back by ``read_inventory`` and by ``reconciler plan --inventory``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from reconciler.cli.inventory import document, render
from reconciler.loading.inventories import read_inventory
from reconciler.model.inventory import InventoryGateway, Station
from reconciler.testing import SimulatorHandle, running_simulator

EXAMPLE = Path(__file__).resolve().parents[2]
TOKEN = "inv-token-5f3a9c0e7d1b"


def reconciler(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m reconciler ARGS`` with a clean head-end environment plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        env=base | dict(env or {}),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def config_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("config")
    shutil.copytree(EXAMPLE / "profiles.d", root / "profiles.d")
    shutil.copytree(EXAMPLE / "gateways.d", root / "gateways.d")
    return root


@pytest.fixture(scope="module")
def sim(config_repo: Path) -> Iterator[SimulatorHandle]:
    with running_simulator(gateways_repo=config_repo, token=TOKEN, seed=3) as handle:
        yield handle


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_the_written_file_round_trips_and_plan_uses_it(
    sim: SimulatorHandle, config_repo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "inventory.json"
    env = {"RECONCILER_HEADEND_TOKEN": TOKEN, "RECONCILER_HEADEND_PAGE_SIZE": "7"}  # many pages
    done = reconciler("inventory", "--headend", sim.url, "--output", str(out), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr.strip().startswith("reconciler: wrote ")

    inventory = read_inventory(out)
    assert len(inventory) >= 50
    text = out.read_text(encoding="utf-8")
    ids = [g["id"] for g in json.loads(text)]
    assert ids == sorted(ids) == sorted(inventory)
    assert text.endswith("}\n]\n") and '\n  {\n    "id": ' in text  # two-space indent, one per line
    assert TOKEN not in done.stdout + done.stderr + text

    again = reconciler(
        "inventory", "--headend", sim.url, "-o", str(tmp_path / "again.json"), env=env
    )
    assert again.returncode == 0
    assert (tmp_path / "again.json").read_bytes() == out.read_bytes()  # same bytes every run

    from_file = reconciler("plan", str(config_repo), "--inventory", str(out), "--format", "json")
    from_headend = reconciler(
        "plan",
        str(config_repo),
        "--headend",
        sim.url,
        "--format",
        "json",
        env={"RECONCILER_HEADEND_TOKEN": TOKEN},
    )
    assert from_file.returncode == from_headend.returncode == 0, from_file.stderr
    planned = json.loads(from_file.stdout)
    assert planned["firmware_unknown"] == 0
    assert planned["summary"] == json.loads(from_headend.stdout)["summary"]
    assert planned["summary"]["push"] >= 50


def test_standard_output_carries_the_same_bytes(sim: SimulatorHandle, tmp_path: Path) -> None:
    env = {"RECONCILER_HEADEND_URL": sim.url, "RECONCILER_HEADEND_TOKEN_FILE": str(tmp_path / "t")}
    (tmp_path / "t").write_text(TOKEN + "\n", encoding="utf-8")  # as an editor saves it
    to_file = reconciler("inventory", "-o", str(tmp_path / "inventory.json"), env=env)
    dash = reconciler("inventory", "--output", "-", env=env)
    plain = reconciler("inventory", env=env)
    assert to_file.returncode == dash.returncode == plain.returncode == 0, plain.stderr
    assert dash.stdout == plain.stdout == (tmp_path / "inventory.json").read_text(encoding="utf-8")
    assert dash.stderr == plain.stderr == ""
    assert TOKEN not in dash.stdout


def test_an_unreachable_headend_exits_1_with_one_line_and_keeps_the_old_file(
    tmp_path: Path,
) -> None:
    out = tmp_path / "inventory.json"
    out.write_text("[]\n", encoding="utf-8")
    url = f"http://127.0.0.1:{closed_port()}"
    done = reconciler(
        "inventory",
        "--headend",
        url,
        "-o",
        str(out),
        env={
            "RECONCILER_HEADEND_TOKEN": TOKEN,
            "RECONCILER_HEADEND_MAX_ATTEMPTS": "1",  # no retries: the test needs no patience
            "RECONCILER_HEADEND_INVENTORY_ROUNDS": "1",
        },
    )
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"reconciler: head-end {url}: gateways: ")
    assert "Cannot connect" in lines[0]
    assert "Traceback" not in done.stderr and TOKEN not in done.stderr
    assert out.read_text(encoding="utf-8") == "[]\n"
    assert [p.name for p in tmp_path.iterdir()] == ["inventory.json"]  # no partial file left


def test_a_refused_token_exits_1_without_printing_it(sim: SimulatorHandle, tmp_path: Path) -> None:
    wrong = "wrong-token-9b8e7d6c5a4f"
    done = reconciler(
        "inventory",
        "--headend",
        sim.url,
        "-o",
        str(tmp_path / "inventory.json"),
        env={"RECONCILER_HEADEND_TOKEN": wrong},
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"reconciler: head-end {sim.url}: gateways: HTTP 401: missing or wrong bearer token"
    ]
    assert wrong not in done.stdout + done.stderr and TOKEN not in done.stderr
    assert not (tmp_path / "inventory.json").exists()


def test_no_token_names_the_variables_and_no_headend_is_a_usage_error() -> None:
    done = reconciler("inventory", "--headend", f"http://127.0.0.1:{closed_port()}")
    assert done.returncode == 1
    assert (
        "RECONCILER_HEADEND_TOKEN" in done.stderr and "RECONCILER_HEADEND_TOKEN_FILE" in done.stderr
    )
    usage = reconciler("inventory", env={"RECONCILER_HEADEND_TOKEN": TOKEN})
    assert usage.returncode == 2
    assert "--headend" in usage.stderr


def test_an_unwritable_output_exits_1(sim: SimulatorHandle, tmp_path: Path) -> None:
    done = reconciler(
        "inventory",
        "--headend",
        sim.url,
        "-o",
        str(tmp_path / "missing" / "inventory.json"),
        env={"RECONCILER_HEADEND_TOKEN": TOKEN},
    )
    assert done.returncode == 1
    assert done.stderr.startswith("reconciler: cannot write ") and "Traceback" not in done.stderr


def test_the_document_is_sorted_and_leaves_out_facts_of_the_moment(tmp_path: Path) -> None:
    gateways = [
        InventoryGateway("LSX-2", "LSX", "2.0.0", stations=(Station("CS-2", ("CS-2-1",)),)),
        InventoryGateway(
            "CP-1",
            "OCPP16",
            "1.0.0",
            protocol="ocpp1.6",
            vendor="ACME",
            model="Wallbox",
            connected=True,
            last_seen="2024-05-01T12:00:00Z",
            busy=False,
        ),
    ]
    rows = document(gateways)
    assert [r["id"] for r in rows] == ["CP-1", "LSX-2"]
    assert rows[0]["protocol"] == "ocpp1.6" and rows[0]["vendor"] == "ACME"
    assert not {"connected", "last_seen", "busy"} & set(rows[0])
    assert "protocol" not in rows[1]  # not reported: left out, read back as None
    path = tmp_path / "inventory.json"
    path.write_bytes(render(reversed(gateways)))
    back = read_inventory(path)
    assert back["LSX-2"] == gateways[0]
    assert back["CP-1"].model == "Wallbox" and back["CP-1"].connected is None
