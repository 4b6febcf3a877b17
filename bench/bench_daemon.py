"""Benchmark: commit-to-first-job latency of ``reconciler run`` on a local repository.

Run: ``python bench/bench_daemon.py [--gateways 10000 --commits 20]``.

A synthetic config repository (``reconciler.testing.synthetic_repo``: 10,000
managed gateways in 100 files, 100 profiles) is committed; the simulator
(``reconciler simulate``) and the daemon (``reconciler run``) each run as their
own process.  After the first rollout has ended, 20 commits each change one
line (one profile's LSX HeartbeatInterval).  For each, the clock starts just
before ``git commit`` runs and stops when the simulator's ``jobs_created``
counter rises (polled every ~2 ms); the next commit waits until the daemon has
finished that rollout (``reconciler_reconcile_duration_seconds_count``).
Baselines in the same run: the ``git commit`` itself, and one job acknowledged
by the same simulator (``POST /api/v1/jobs`` over a fresh connection).
Target: p95 < 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from reconciler.testing import synthetic_repo

TOKEN = "bench-token"
GIT_USER = ["-c", "user.name=Bench", "-c", "user.email=bench@example.invalid"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read())


def jobs_created(simulator: str) -> int:
    return int(json.loads(get(simulator + "/_admin/counters"))["jobs_created"])


def metric(daemon: str, name: str) -> float:
    for family in text_string_to_metric_families(get(daemon + "/metrics").decode()):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    return 0.0


def wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gateways", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--profiles", type=int, default=100)
    parser.add_argument("--commits", type=int, default=20)
    parser.add_argument("--log", type=Path, help="Keep the daemon's JSON log here.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        root = synthetic_repo(
            base / "repo", gateways=args.gateways, files=args.files, profiles=args.profiles
        )
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, *GIT_USER, "commit", "-qm", "seed")
        env = {**os.environ, "RECONCILER_HEADEND_TOKEN": TOKEN}
        sim_port, daemon_port = free_port(), free_port()
        simulator_url = f"http://127.0.0.1:{sim_port}"
        daemon_url = f"http://127.0.0.1:{daemon_port}"
        simulator = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "simulate", "--listen", f"127.0.0.1:{sim_port}",
             "--gateways", str(root)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert simulator.stdout is not None
        simulator.stdout.readline()
        log = (base / "daemon.log").open("wb")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "run", "--repo", str(root),
             "--headend", simulator_url, "--state", str(base / "state.db"),
             "--report-dir", str(base / "report"), "--listen", f"127.0.0.1:{daemon_port}",
             "--log-format", "json"],
            env=env, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        try:
            started = time.perf_counter()
            wait(
                lambda: _quiet(
                    lambda: metric(daemon_url, "reconciler_reconcile_duration_seconds_count") >= 1
                ),
                600,
                "the first rollout",
            )
            print(
                f"first rollout of {args.gateways:,} gateways: {time.perf_counter() - started:.1f} s "
                "(daemon start, clone-free load, inventory, plan, jobs, all Accepted)"
            )
            latencies: list[float] = []
            commits: list[float] = []
            baselines: list[float] = []
            for number in range(args.commits):
                name = f"profile-{number % args.profiles:04d}"
                path = root / "profiles.d" / f"{name}.yaml"
                lines = path.read_text().splitlines(keepends=True)
                at = next(i for i, line in enumerate(lines) if "HeartbeatInterval" in line)
                lines[at] = f"      HeartbeatInterval: {1000 + number}\n"
                path.write_text("".join(lines))
                git(root, "add", "-A")
                done = metric(daemon_url, "reconciler_reconcile_duration_seconds_count")
                before = jobs_created(simulator_url)
                t0 = time.perf_counter()
                git(root, *GIT_USER, "commit", "-qm", f"{name}: heartbeat {1000 + number}")
                commits.append(time.perf_counter() - t0)
                while jobs_created(simulator_url) == before:
                    time.sleep(0.002)
                latencies.append(time.perf_counter() - t0)
                wait(
                    lambda done=done: (
                        metric(daemon_url, "reconciler_reconcile_duration_seconds_count") > done
                    ),
                    120,
                    "the rollout to end",
                )
                baselines.append(one_job(simulator_url, number))
            own_sum = metric(daemon_url, "reconciler_commit_to_first_job_seconds_sum")
            own_count = metric(daemon_url, "reconciler_commit_to_first_job_seconds_count")
        finally:
            daemon.terminate()
            daemon.wait(30)
            log.close()
            if args.log:
                args.log.write_bytes((base / "daemon.log").read_bytes())
            simulator.terminate()
            simulator.wait(30)
        ms = [x * 1000 for x in latencies]
        print(f"commit-to-first-job over {len(ms)} commits, {args.gateways:,} managed gateways:")
        print(
            f"  median {statistics.median(ms):7.1f} ms   p95 {percentile(ms, 0.95):7.1f} ms   max {max(ms):7.1f} ms"
        )
        print(
            f"  baseline `git commit`: median {statistics.median(commits) * 1000:.1f} ms; "
            f"one job acknowledged by the simulator: median {statistics.median(baselines) * 1000:.1f} ms"
        )
        if own_count > 1:
            print(
                f"  daemon's own reconciler_commit_to_first_job_seconds (noticed -> first job): "
                f"mean {own_sum / own_count * 1000:.1f} ms over {own_count:.0f} rollouts "
                "(the first rollout included)"
            )
        verdict = "met" if percentile(ms, 0.95) < 1000 else "MISSED"
        print(f"  target p95 < 1000 ms: {verdict}")


def _quiet(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except OSError:
        return False


if __name__ == "__main__":
    main()
