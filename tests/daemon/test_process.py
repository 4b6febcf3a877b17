"""``reconciler run`` and ``reconciler demo`` as processes: SIGTERM, kill -9 and restart, JSON logs."""

from __future__ import annotations

import filecmp
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.daemon import demo
from reconciler.store.sqlite import SQLiteStore
from reconciler.testing import SimulatorHandle, running_simulator
from reconciler.testing.reports import read_report
from tests.daemon.conftest import EXAMPLE, SIMULATOR_SEED, TOKEN, get_json, git, managed, wait_for


class Run:
    """A ``reconciler run`` process on a free port; its URL is read from its first line."""

    def __init__(self, tmp_path: Path, repo: Path, headend: str, secrets: Path, *args: str) -> None:
        self.report_dir = tmp_path / "report"
        env = {
            **os.environ,
            "RECONCILER_HEADEND_TOKEN": TOKEN,
            "RECONCILER_SECRETS_DIR": str(secrets),
            "RECONCILER_REPORT_DIR": str(tmp_path / "report"),  # a flag read from the environment
        }
        self.log = (tmp_path / "run.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "reconciler", "run",
                "--repo", str(repo), "--headend", headend,
                "--state", str(tmp_path / "state" / "state.db"),
                "--listen", "127.0.0.1:0", *args,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        assert "serving on" in line, line
        self.url = line.rsplit(" ", 1)[-1].strip()

    def status(self) -> Any:
        """The report summary, with its member pages' rows as ``gateways``."""
        return read_report(lambda: get_json(self.url + "/api/v1/status"), self.report_dir)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.log.close()


def test_sigterm_stops_the_daemon_with_exit_0_within_10_s_and_json_logs(
    tmp_path: Path, config_repo: Path, simulator: SimulatorHandle, secrets_dir: Path
) -> None:
    run = Run(tmp_path, config_repo, simulator.url, secrets_dir, "--log-format", "json")
    try:
        wait_for(lambda: run.status()["applied_commit"], what="the first rollout")
        started = time.monotonic()
        run.process.send_signal(signal.SIGTERM)
        assert run.process.wait(10) == 0
        assert time.monotonic() - started < 10
    finally:
        run.close()
    lines = (tmp_path / "run.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any("stopped" in r["message"] for r in records)
    text = "\n".join(lines)
    assert TOKEN not in text and "0123456789abcdef" not in text
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["applied_commit"]["sha"] == git(config_repo, "rev-parse", "HEAD")


def test_kill_9_mid_rollout_and_restart_keep_every_status_and_finish_the_rollout(
    tmp_path: Path, config_repo: Path, secrets_dir: Path
) -> None:
    total = len(managed(config_repo))
    with running_simulator(
        gateways_repo=config_repo, token=TOKEN, seed=SIMULATOR_SEED, job_step_ms=500
    ) as sim:
        run = Run(tmp_path, config_repo, sim.url, secrets_dir)
        try:
            wait_for(
                lambda: (
                    0
                    < sum(1 for g in run.status()["gateways"] if g["status"] == "Accepted")
                    < total - 5
                ),
                what="a rollout half done",
            )
            run.process.kill()
            run.process.wait(10)
        finally:
            run.close()
        with SQLiteStore(tmp_path / "state" / "state.db") as store:
            before = {gid: s.status for gid, s in store.applied().items()}
        assert len(before) == total, "a gateway lost its durable status"
        jobs_before = sim.counters()["jobs_created"]

        restarted = Run(tmp_path, config_repo, sim.url, secrets_dir)
        try:
            report = wait_for(
                lambda: (
                    (r := restarted.status())["applied_commit"] and not r["rollout_running"] and r
                ),
                timeout=60,
                what="the resumed rollout to end",
            )
        finally:
            restarted.close()
        after = {g["id"]: g["status"] for g in report["gateways"] if g["status"] is not None}
        assert set(after) == set(before)
        assert all(status == "Accepted" for status in after.values())
        accepted_before = {gid for gid, s in before.items() if s.value == "Accepted"}
        assert sim.counters()["jobs_created"] - jobs_before <= total - len(accepted_before), (
            "gateways Accepted before the kill got a job again"
        )


@pytest.mark.parametrize("ocpp", [False, True], ids=["lg2wan", "ocpp"])
def test_the_demo_rolls_out_a_change_and_exits_0_with_once(tmp_path: Path, ocpp: bool) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo", "--once", "--port", "0"]
        + (["--ocpp"] if ocpp else []),
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "committed" in done.stdout and "/metrics" in done.stdout
    assert "the change is rolled out" in done.stdout
    if ocpp:
        assert "simulated charge points: 6 connected over WebSocket (ocpp1.6, ocpp2.0.1)" in (
            done.stdout
        )
        assert "ocpp-depot HeartbeatInterval 600 -> 540" in done.stdout


@pytest.mark.parametrize("folder", ["profiles.d", "gateways.d"])
def test_the_shipped_example_is_identical_to_the_top_level_folders(folder: str) -> None:
    shipped = demo.examples() / folder
    top = EXAMPLE / folder

    def differences(compared: filecmp.dircmp[str]) -> list[str]:
        found = (
            compared.left_only + compared.right_only + compared.diff_files + compared.funny_files
        )
        for sub in compared.subdirs.values():
            found += differences(sub)
        return found

    assert differences(filecmp.dircmp(top, shipped)) == [], (
        f"refresh with: cp -r {folder} reconciler/examples/"
    )


def test_sigterm_during_a_rollout_exits_0_within_10_s_leaving_active_jobs_durable(
    tmp_path: Path, config_repo: Path, secrets_dir: Path
) -> None:
    total = len(managed(config_repo))
    with running_simulator(
        gateways_repo=config_repo, token=TOKEN, seed=SIMULATOR_SEED, job_step_ms=3000
    ) as sim:
        run = Run(tmp_path, config_repo, sim.url, secrets_dir)
        try:
            wait_for(
                lambda: run.status()["totals"]["Requested"] > 0, what="jobs acknowledged and active"
            )
            started = time.monotonic()
            run.process.send_signal(signal.SIGTERM)
            assert run.process.wait(10) == 0
            assert time.monotonic() - started < 10
        finally:
            run.close()
    with SQLiteStore(tmp_path / "state" / "state.db") as store:
        states = store.applied()
    assert len(states) == total, "a gateway of the rollout has no durable status"
    assert any(s.status.value in ("Requested", "Sent") for s in states.values())
