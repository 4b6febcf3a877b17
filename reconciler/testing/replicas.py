"""Several ``reconciler run`` replicas on one PostgreSQL store against one simulator, as processes.

Used by the replica tests (tests/replicas) and ``bench/bench_replicas.py``:
:class:`ReplicaRig` commits a synthetic config repository, starts ``reconciler
simulate`` over its gateways and any number of daemons sharing one database,
and answers what the tests ask: who leads (each replica's ``/readyz``), the
simulator's job counters, the statuses in the store.  Processes are killed with
``kill -9`` (:meth:`ReplicaRig.kill`), paused and resumed (SIGSTOP/SIGCONT), and
restarted under the same replica name.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from reconciler.store import open_store
from reconciler.testing.repos import synthetic_repo

T = TypeVar("T")
TOKEN = "replica-rig-token"
GIT = ["git", "-c", "user.name=Rig", "-c", "user.email=rig@example.invalid"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get_json(url: str, timeout: float = 5.0) -> Any:
    """The JSON answer of ``url`` (also of a 503), or ``None`` when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"null")
    except (OSError, ValueError):
        return None


def metric(url: str, name: str, **labels: str) -> float:
    """The sum of the samples of metric ``name`` (with these labels) that ``url``/metrics exports."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def wait(condition: Callable[[], T], timeout: float, what: str, every: float = 0.1) -> T:
    """Poll ``condition`` until it is truthy; ``TimeoutError`` naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def config_repo(root: Path, *, gateways: int, profiles: int, max_in_flight: int) -> Path:
    """A committed synthetic repository whose profiles roll out ``max_in_flight`` at a time."""
    synthetic_repo(root, gateways=gateways, files=max(1, gateways // 200), profiles=profiles)
    for path in (root / "profiles.d").glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"(?m)^  max_in_flight: \d+$", f"  max_in_flight: {max_in_flight}", text)
        path.write_text(text, encoding="utf-8")
    run = {"cwd": root, "check": True, "capture_output": True}
    subprocess.run([*GIT, "init", "-q", "-b", "main"], **run)  # type: ignore[call-overload]
    subprocess.run([*GIT, "add", "-A"], **run)  # type: ignore[call-overload]
    subprocess.run([*GIT, "commit", "-qm", "fleet"], **run)  # type: ignore[call-overload]
    return root


@dataclass
class Replica:
    """One daemon process of the rig."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def ready(self) -> dict[str, Any] | None:
        answer = get_json(f"{self.url}/readyz", timeout=2.0)
        return answer if isinstance(answer, dict) else None


@dataclass
class ReplicaRig:
    """A simulator and daemons on one store; :meth:`close` ends every process."""

    base: Path
    state: str
    repo: Path
    lease_term_s: float = 3.0
    job_step_ms: float = 500.0
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)
    """More ``reconciler run`` options (``--poll-interval``...)."""
    repo_url: str | None = None
    """What the daemons watch (default: the repository's path; ``file://...``: a remote)."""
    simulator: str = ""
    replicas: dict[str, Replica] = field(default_factory=dict)
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RECONCILER_HEADEND_TOKEN": TOKEN,
            "RECONCILER_STATE_KEY_FILE": str(self.base / "state.key"),
            "RECONCILER_CACHE_DIR": str(self.base / "cache"),
            **self.extra_env,
        }

    def start_simulator(self) -> str:
        port = free_port()
        log = (self.base / "simulator.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "simulate", "--listen", f"127.0.0.1:{port}",
             "--gateways", str(self.repo), "--job-step-ms", str(self.job_step_ms)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        self._processes.append(process)
        self.simulator = f"http://127.0.0.1:{port}"
        wait(lambda: get_json(f"{self.simulator}/_admin/counters"), 30, "the simulator")
        return self.simulator

    def start(self, name: str) -> Replica:
        """Start (or restart) replica ``name``; returns at once (see :meth:`wait_ready`)."""
        port = free_port()
        log = self.base / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "reconciler", "run", "--repo", self.repo_url or str(self.repo),
                 "--headend", self.simulator, "--state", self.session_url(name),
                 "--report-dir", str(self.base / f"{name}-report"),
                 "--listen", f"127.0.0.1:{port}", "--log-format", "json",
                 "--replica-name", name, "--lease-term", str(self.lease_term_s),
                 *self.extra_args],
                env=self.env, stdout=subprocess.DEVNULL, stderr=out,
            )  # fmt: skip
        self._processes.append(process)
        replica = self.replicas[name] = Replica(name, f"http://127.0.0.1:{port}", process, log)
        return replica

    def session_url(self, name: str) -> str:
        """The store URL replica ``name`` uses: its sessions are named ``reconciler-NAME``."""
        return f"{self.state}{'&' if '?' in self.state else '?'}application_name=reconciler-{name}"

    def wait_ready(self, replica: Replica, timeout: float = 60.0) -> None:
        wait(lambda: replica.ready() is not None, timeout, f"replica {replica.name} to answer")

    def leader(self) -> Replica | None:
        """The live replica that says it leads (``None``: none does now)."""
        for replica in self.replicas.values():
            if replica.alive:
                answer = replica.ready()
                if answer is not None and answer.get("leading"):
                    return replica
        return None

    def kill(self, replica: Replica) -> float:
        """``kill -9``; returns when (monotonic) it was sent."""
        at = time.monotonic()
        replica.process.send_signal(signal.SIGKILL)
        replica.process.wait(10)
        return at

    def pause(self, replica: Replica) -> None:
        replica.process.send_signal(signal.SIGSTOP)

    def resume(self, replica: Replica) -> None:
        replica.process.send_signal(signal.SIGCONT)

    def counters(self) -> dict[str, Any]:
        found = get_json(f"{self.simulator}/_admin/counters")
        assert isinstance(found, dict)
        return found

    def statuses(self) -> Counter[str]:
        """Gateways per status in the store, read directly."""
        with closing(open_store(self.state, read_only=True)) as store:
            return Counter(s.status.value for s in store.applied().values())

    def close(self) -> None:
        for process in reversed(self._processes):
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.terminate()
        for process in self._processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def start_fleet(self, names: list[str]) -> None:
        self.start_simulator()
        for name in names:
            self.start(name)
        for name in names:
            self.wait_ready(self.replicas[name])


def rig_repo(base: Path, gateways: int, *, profiles: int = 10, max_in_flight: int = 100) -> Path:
    """The rig's repository under ``base`` (the synthetic repository's types: the simulator's)."""
    return config_repo(
        base / "repo", gateways=gateways, profiles=profiles, max_in_flight=max_in_flight
    )
