"""Benchmark: roll out 100,000 simulated gateways end to end (Accepted and read back).

Run: ``python bench/bench_rollout.py [--gateways N --latency-ms L]``.

The simulator runs as its own process (``reconciler simulate``, 20 ms latency
per request).  ``reconciler apply`` runs as a process against it, with a fresh
state store; its wall time gives gateways/s, and ``os.wait4`` its peak RSS.
Baselines in the same run: the same ``apply`` on an empty repository (the
process as it runs against this head-end, inventory of every head-end gateway
included), and the bare process (``import reconciler.cli.apply`` and exit);
RSS per managed gateway = (peak - baseline) / gateways, printed for both.
Targets: >= 1,000 gateways/s; <= 2 KB RSS per managed gateway.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import git

from reconciler.testing import synthetic_repo, write

TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def commit_all(root: Path) -> None:
    repo = git.Repo.init(root)
    repo.git.add(A=True)
    repo.index.commit("seed")


def start_simulator(repo: Path, latency_ms: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "RECONCILER_HEADEND_TOKEN": TOKEN}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "simulate",
            "--listen",
            f"127.0.0.1:{port}",
            "--gateways",
            str(repo),
            "--latency-ms",
            str(latency_ms),
            "--job-step-ms",
            str(latency_ms),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode()  # "head-end simulator serving N gateways at URL"
    if "http" not in line:
        raise SystemExit(f"simulator did not start: {line}")
    return process, f"http://127.0.0.1:{port}"


def apply(repo: Path, url: str, state: Path) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in KiB, exit code of ``reconciler apply``."""
    env = {**os.environ, "RECONCILER_HEADEND_TOKEN": TOKEN}
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "apply",
            str(repo),
            "--headend",
            url,
            "--state",
            str(state),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if process.stderr is not None:
        errors = process.stderr.read().decode()
        if os.waitstatus_to_exitcode(status) != 0:
            print(errors[-2000:], file=sys.stderr)
    return elapsed, int(usage.ru_maxrss), os.waitstatus_to_exitcode(status)


def bare_rss() -> int:
    """Peak RSS in KiB of a process that imports the apply command and exits."""
    process = subprocess.Popen([sys.executable, "-c", "import reconciler.cli.apply"])
    _, _, usage = os.wait4(process.pid, 0)
    return int(usage.ru_maxrss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gateways", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=1_000)
    parser.add_argument("--profiles", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = synthetic_repo(
            Path(tmp) / "repo", gateways=args.gateways, files=args.files, profiles=args.profiles
        )
        commit_all(root)
        empty = write(
            Path(tmp) / "empty",
            {"profiles.d/.keep.yaml": "", "gateways.d/none.yaml": "gateways: []\n"},
        )
        commit_all(empty)
        simulator, url = start_simulator(root, args.latency_ms)
        try:
            _, empty_rss, _ = apply(empty, url, Path(tmp) / "empty.db")
            elapsed, peak_rss, code = apply(root, url, Path(tmp) / "state.db")
        finally:
            simulator.terminate()
            simulator.wait(timeout=30)
        bare = bare_rss()
        per_gateway = (peak_rss - empty_rss) * 1024 / args.gateways
        per_gateway_bare = (peak_rss - bare) * 1024 / args.gateways
        print(
            f"rollout of {args.gateways:,} gateways, head-end latency {args.latency_ms:.0f} ms "
            f"(simulator in its own process); exit code {code}"
        )
        print(f"wall time (load, inventory, plan, roll out, read back): {elapsed:7.1f} s")
        print(
            f"throughput:                       {args.gateways / elapsed:9,.0f} gateways/s  (target >= 1,000)"
        )
        print(f"peak RSS, bare process:           {bare / 1024:9,.0f} MiB  (imports only)")
        print(
            f"peak RSS, empty repository:       {empty_rss / 1024:9,.0f} MiB  (baseline: the head-end's inventory read)"
        )
        print(f"peak RSS, {args.gateways:,} gateways:      {peak_rss / 1024:9,.0f} MiB")
        print(
            f"RSS per managed gateway:          {per_gateway:9,.0f} bytes above the empty repository (target <= 2,048)"
        )
        print(
            f"RSS per managed gateway:          {per_gateway_bare:9,.0f} bytes above the bare process"
        )


if __name__ == "__main__":
    main()
