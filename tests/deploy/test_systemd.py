"""deploy/systemd/reconciler.service: hardened, restarts on failure, stops on SIGTERM; systemd-analyze verifies it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, ProcessCollector

from reconciler.daemon.metrics import SandboxedProcessCollector
from tests.deploy.conftest import DEPLOY, is_daemon_variable

UNIT = DEPLOY / "systemd" / "reconciler.service"


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/reconciler"),
        ("StateDirectory", "reconciler"),
        ("NoNewPrivileges", "yes"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("CapabilityBoundingSet", ""),
        ("EnvironmentFile", "/etc/reconciler/env"),
        ("Restart", "on-failure"),
        ("KillSignal", "SIGTERM"),
        ("TimeoutStopSec", "15"),
    ],
)
def test_the_unit_sets(key: str, value: str) -> None:
    assert value in directives().get(key, []), f"{key}={value} missing"


def test_it_runs_as_a_dedicated_or_dynamic_user_never_root() -> None:
    found = directives()
    assert found.get("DynamicUser") == ["yes"] or found.get("User", ["root"]) != ["root"]


def test_it_runs_the_daemon_and_keeps_its_state_in_the_state_directory() -> None:
    found = directives()
    assert found["ExecStart"][0].split()[1:] == ["run"]
    assert found["ExecStart"][0].split()[0].endswith("/reconciler")
    environment = dict(item.split("=", 1) for item in found["Environment"])
    assert all(is_daemon_variable(n) for n in environment if n.startswith("RECONCILER_"))
    assert Path(environment["RECONCILER_STATE"]).is_relative_to("/var/lib/reconciler")


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)
@pytest.mark.parametrize("source", [UNIT, UNIT.with_name("reconciler-ocpp.service")], ids=str)
def test_systemd_analyze_verify_finds_nothing_to_say(tmp_path: Path, source: Path) -> None:
    # verify checks that ExecStart's program exists: point it at this installation's.
    installed = shutil.which("reconciler")
    if installed is None:
        pytest.skip("the reconciler command is not on PATH")
    unit = tmp_path / source.name
    unit.write_text(
        source.read_text(encoding="utf-8").replace("/opt/reconciler/bin/reconciler", installed),
        encoding="utf-8",
    )
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    about_the_unit = [
        line for line in (done.stdout + done.stderr).splitlines() if source.stem in line
    ]
    assert not about_the_unit, "\n".join(about_the_unit)


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)
def test_systemd_analyze_security_rates_the_exposure_at_most_2_of_10(tmp_path: Path) -> None:
    unit = tmp_path / "reconciler.service"
    unit.write_text(UNIT.read_text(encoding="utf-8"), encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "--offline" in done.stderr or "--threshold" in done.stderr:
        pytest.skip(f"this systemd-analyze is too old: {done.stderr.strip()}")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr


def test_git_trusts_the_repository_of_env_example_which_the_git_user_owns() -> None:
    # git refuses a repository another user owns ("dubious ownership") unless it is a
    # safe.directory; GIT_CONFIG_* is command-line configuration, where it counts.
    # tests/daemon/test_git_ownership.py runs the daemon with these variables (as root).
    environment = dict(item.split("=", 1) for item in directives()["Environment"])
    documented = next(
        line.partition("=")[2]
        for line in UNIT.with_name("env.example").read_text(encoding="utf-8").splitlines()
        if line.startswith("RECONCILER_REPO=")
    )
    assert documented.startswith("/srv/git/")
    assert environment["GIT_CONFIG_COUNT"] == "1"
    assert environment["GIT_CONFIG_KEY_0"] == "safe.directory"
    assert environment["GIT_CONFIG_VALUE_0"] == documented


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="no /proc (not Linux)")
def test_the_process_metrics_survive_the_units_proc_subset(tmp_path: Path) -> None:
    # ProcSubset=pid hides /proc/stat (the boot time) but not /proc/self: a /proc
    # of that shape, with the process's real files.
    assert directives()["ProcSubset"] == ["pid"]
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "self").symlink_to("/proc/self")
    hidden, full, stock = CollectorRegistry(), CollectorRegistry(), CollectorRegistry()
    SandboxedProcessCollector(proc=str(proc), registry=hidden)
    SandboxedProcessCollector(registry=full)
    ProcessCollector(proc=str(proc), registry=stock)
    started = hidden.get_sample_value("process_start_time_seconds")
    assert started == pytest.approx(full.get_sample_value("process_start_time_seconds"), abs=2)
    assert (hidden.get_sample_value("process_resident_memory_bytes") or 0) > 0
    assert (hidden.get_sample_value("process_open_fds") or 0) > 0
    assert stock.get_sample_value("process_start_time_seconds") is None, (
        "prometheus_client exports process metrics without /proc/stat now: drop the subclass"
    )
