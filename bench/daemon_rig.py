"""The rig of ``bench/bench_daemon.py``: a repository with timed commits, the processes, HTTP.

Imported by bench_daemon.py only: :class:`Repo` (commits one second apart in
committer time, so ``reconciler_applied_commit_timestamp_seconds`` tells which
one the daemon applied), :class:`Processes` (the probe simulator of
``bench/daemon_probe.py`` and ``reconciler run`` daemons), and small helpers
(metrics, counters, waiting, percentiles).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token"
GIT_USER = ["-c", "user.name=Bench", "-c", "user.email=bench@example.invalid"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, data: bytes | None = None) -> bytes:
    with urllib.request.urlopen(url, data=data, timeout=30) as response:
        return bytes(response.read())


class Repo:
    """A git repository whose commits get committer times one second apart (to tell them apart
    in ``reconciler_applied_commit_timestamp_seconds``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.stamp = int(time.time()) - 1_000_000
        self.git("init", "-q", "-b", "main")
        self.commit("seed")

    def git(self, *args: str, env: dict[str, str] | None = None) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.root, check=True, capture_output=True, text=True, env=env
        ).stdout.strip()

    def commit(self, message: str) -> tuple[float, float, int]:
        """Commit everything: (wall time just before ``git commit``, its seconds, committer time)."""
        self.git("add", "-A")
        self.stamp += 1
        env = {**os.environ, "GIT_COMMITTER_DATE": f"{self.stamp} +0000"}
        at, t0 = time.time(), time.perf_counter()
        self.git(*GIT_USER, "commit", "-qm", message, env=env)
        return at, time.perf_counter() - t0, self.stamp

    def set_heartbeat(self, profile: str, value: int) -> None:
        """Set the first HeartbeatInterval of ``profile``."""
        path = self.root / "profiles.d" / f"{profile}.yaml"
        lines = path.read_text().splitlines(keepends=True)
        at = next(i for i, line in enumerate(lines) if "HeartbeatInterval" in line)
        lines[at] = re.sub(r"\d+", str(value), lines[at])
        path.write_text("".join(lines))

    def bump_every_heartbeat(self) -> None:
        """Add 1 to every HeartbeatInterval of every profile: every gateway's configuration changes."""
        for path in (self.root / "profiles.d").glob("*.yaml"):
            text = re.sub(
                r"(HeartbeatInterval: )(\d+)",
                lambda m: f"{m.group(1)}{int(m.group(2)) + 1}",
                path.read_text(),
            )
            path.write_text(text)


class Processes:
    """The probe simulator and daemons, as processes; all terminated by :meth:`close`."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.env = {**os.environ, "RECONCILER_HEADEND_TOKEN": TOKEN}
        self.running: list[subprocess.Popen[bytes]] = []

    def simulator(self, root: Path, latency_ms: float) -> str:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, str(HERE / "daemon_probe.py"), "--listen", f"127.0.0.1:{port}",
             "--gateways", str(root), "--latency-ms", str(latency_ms)],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.running.append(process)
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        if "http" not in line:
            raise SystemExit(f"simulator did not start: {line}")
        return f"http://127.0.0.1:{port}"

    def daemon(self, root: Path, simulator: str, name: str) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        log = (self.base / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "run", "--repo", str(root),
             "--headend", simulator, "--state", str(self.base / f"{name}.db"),
             "--report-dir", str(self.base / f"{name}-report"),
             "--listen", f"127.0.0.1:{port}", "--log-format", "json"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        log.close()
        self.running.append(process)
        return process, f"http://127.0.0.1:{port}"

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process in self.running:
            self.running.remove(process)

    def close(self) -> None:
        for process in reversed(list(self.running)):
            self.stop(process)


def jobs_created(simulator: str) -> int:
    return int(json.loads(get(simulator + "/_admin/counters"))["jobs_created"])


def metric(daemon: str, name: str) -> float:
    for family in text_string_to_metric_families(get(daemon + "/metrics").decode()):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    return 0.0


def rollouts(daemon: str) -> float:
    return metric(daemon, "reconciler_reconcile_duration_seconds_count")


def wait(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while not _quiet(condition):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(every)


def _quiet(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except OSError:
        return False


def one_job(simulator: str, number: int) -> float:
    """Seconds for the simulator to acknowledge one job (the floor of 'first job')."""
    body = json.dumps(
        {
            "gateway_id": "LSX-000000",
            "parameters": {"HeartbeatInterval": 300 + number},
            "idempotency_key": f"baseline-{number}-{time.time()}",
        }
    ).encode()
    request = urllib.request.Request(
        simulator + "/api/v1/jobs",
        data=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
    return time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def settled(report: Path, quiet_s: float = 3.0, timeout: float = 120.0) -> None:
    """Wait until ``report`` exists and has not changed for ``quiet_s`` seconds."""
    deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
    while time.monotonic() < deadline:
        stat = report.stat() if report.exists() else None
        now = (stat.st_mtime_ns, stat.st_size) if stat else None
        if now != last:
            last, since = now, time.monotonic()
        elif now is not None and time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.1)
