"""``reconciler apply`` and ``retry`` as processes against the simulator; kill -9 and resume."""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.model.state import Status
from reconciler.store.sqlite import SQLiteStore
from reconciler.testing import SimulatorHandle, running_simulator
from tests.daemon.conftest import managed

EXAMPLE = Path(__file__).resolve().parents[2]
TOKEN = "apply-test-token"
SIMULATOR_SEED = 7
SECRETS = {
    "public_ac_auth_key": "pa-0123456789abcdef",
    "fleet_depot_auth_key": "fd-0123456789abcdef",
    "highway_hpc_auth_key": "hh-0123456789abcdef",
    "lsg_sim_pin": "4711",
}


@pytest.fixture
def config_repo(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    root.mkdir()
    shutil.copytree(EXAMPLE / "profiles.d", root / "profiles.d")
    shutil.copytree(EXAMPLE / "gateways.d", root / "gateways.d")
    for profile in (root / "profiles.d").glob(
        "*.yaml"
    ):  # no pacing: tests need seconds, not minutes
        lines = profile.read_text(encoding="utf-8").splitlines(keepends=True)
        profile.write_text("".join(x for x in lines if "max_per_minute" not in x), encoding="utf-8")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "seed"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, value in SECRETS.items():
        (secrets / name).write_text(value + "\n", encoding="utf-8")
    return {**os.environ, "RECONCILER_HEADEND_TOKEN": TOKEN, "RECONCILER_SECRETS_DIR": str(secrets)}


@pytest.fixture
def simulator(config_repo: Path) -> Iterator[SimulatorHandle]:
    with running_simulator(
        gateways_repo=config_repo, token=TOKEN, latency_ms=5, job_step_ms=150, seed=SIMULATOR_SEED
    ) as handle:
        yield handle


def apply(
    config_repo: Path,
    handle: SimulatorHandle,
    state: Path,
    env: dict[str, str],
    *extra: str,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "apply",
            str(config_repo),
            "--headend",
            handle.url,
            "--state",
            str(state),
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_apply_rolls_everything_out_and_exits_0(
    config_repo: Path, simulator: SimulatorHandle, tmp_path: Path, environment: dict[str, str]
) -> None:
    state = tmp_path / "state.db"
    result = apply(config_repo, simulator, state, environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    with SQLiteStore(state) as store:
        applied = store.applied()
    assert {s.status for s in applied.values()} == {Status.ACCEPTED}
    assert simulator.counters()["jobs_created"] == len(applied)
    for value in SECRETS.values():
        assert value not in result.stdout + result.stderr


def test_apply_exits_1_when_gateways_are_declined(
    config_repo: Path, simulator: SimulatorHandle, tmp_path: Path, environment: dict[str, str]
) -> None:
    simulator.set_faults(decline_rate=1.0)
    result = apply(config_repo, simulator, tmp_path / "state.db", environment)
    assert result.returncode == 1
    assert "Declined" in result.stdout


def test_retry_is_refused_when_no_member_is_declined_or_mismatched(
    config_repo: Path, simulator: SimulatorHandle, tmp_path: Path, environment: dict[str, str]
) -> None:
    state = tmp_path / "state.db"
    assert apply(config_repo, simulator, state, environment).returncode == 0
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "retry",
            "public-ac",
            "--repo",
            str(config_repo),
            "--headend",
            simulator.url,
            "--state",
            str(state),
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert (
        "no Declined or Mismatch member (nor one an aborted rollout left waiting); nothing to retry"
        in result.stderr
    )


def test_apply_holds_a_commit_resetting_the_fleet_until_allow_reset_names_it(
    config_repo: Path, simulator: SimulatorHandle, tmp_path: Path, environment: dict[str, str]
) -> None:
    state = tmp_path / "state.db"
    assert apply(config_repo, simulator, state, environment).returncode == 0
    with SQLiteStore(state) as store:
        before = store.applied()
    resets = sum(1 for s in before.values() if s.profile is not None)
    for path in sorted((config_repo / "gateways.d").rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"^\s*profile:.*\n", "", text, flags=re.M), encoding="utf-8")
    for args in (
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", *args], cwd=config_repo, check=True, capture_output=True)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=config_repo, check=True, capture_output=True, text=True
    ).stdout.strip()
    jobs = simulator.counters()["jobs_created"]

    held = apply(config_repo, simulator, state, environment)
    assert held.returncode == 1
    assert f"would reset {resets} of {len(before)} managed gateways" in held.stderr
    assert f"--allow-reset {sha}" in held.stderr and "Traceback" not in held.stderr
    assert simulator.counters()["jobs_created"] == jobs, "a held commit reached the head-end"

    other = apply(config_repo, simulator, state, environment, "--allow-reset", "0123456789abc")
    assert other.returncode == 1, "--allow-reset lets only the commit it names through"
    allowed = apply(
        config_repo, simulator, state, {**environment, "RECONCILER_ALLOW_RESET": sha[:10]}
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert simulator.counters()["jobs_created"] - jobs == resets
    with SQLiteStore(state) as store:
        assert all(s.profile is None for s in store.applied().values())


def test_apply_lets_a_small_reset_through_and_max_reset_share_tightens_the_limit(
    config_repo: Path, simulator: SimulatorHandle, tmp_path: Path, environment: dict[str, str]
) -> None:
    state = tmp_path / "state.db"
    assert apply(config_repo, simulator, state, environment).returncode == 0
    with SQLiteStore(state) as store:
        one = next(s.gateway_id for s in store.applied().values() if s.profile is not None)
    path = next(p for p in (config_repo / "gateways.d").rglob("*.yaml") if one in p.read_text())
    text = path.read_text(encoding="utf-8")
    entry = re.compile(rf"(- id: {one}\n(?:\s+[a-z_]+:.*\n)*?)\s*profile:.*\n")
    path.write_text(entry.sub(r"\1", text, count=1), encoding="utf-8")
    for args in (
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", *args], cwd=config_repo, check=True, capture_output=True)
    strict = apply(config_repo, simulator, state, environment, "--max-reset-share", "0")
    assert strict.returncode == 1 and "would reset 1 of" in strict.stderr
    assert apply(config_repo, simulator, state, environment).returncode == 0
    with SQLiteStore(state) as store:
        after = store.get(one)
    assert after is None or after.profile is None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_at_a_random_moment_then_rerun_completes_without_duplicate_jobs(
    config_repo: Path,
    simulator: SimulatorHandle,
    tmp_path: Path,
    environment: dict[str, str],
    seed: int,
) -> None:
    state = tmp_path / "state.db"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "apply",
            str(config_repo),
            "--headend",
            simulator.url,
            "--state",
            str(state),
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(random.Random(seed).uniform(0.5, 1.2))
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    if state.exists():
        with SQLiteStore(state) as store:
            interrupted = store.applied()
        # The kill landed mid-rollout: not everything was Accepted yet.
        assert [s for s in interrupted.values() if s.status is not Status.ACCEPTED] or len(
            interrupted
        ) < len(managed(config_repo, seed=SIMULATOR_SEED))
    result = apply(config_repo, simulator, state, environment)
    assert result.returncode == 0, result.stdout + result.stderr
    with SQLiteStore(state) as store:
        applied = store.applied()
    assert {s.status for s in applied.values()} == {Status.ACCEPTED}
    counters = simulator.counters()
    assert counters["jobs_created"] == len(applied)  # resubmissions were idempotent replays
