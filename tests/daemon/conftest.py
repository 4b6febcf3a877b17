"""Fixtures for the daemon: a real git config repo, the simulator over loopback, a running daemon.

The daemon runs in a thread with its own event loop (as the simulator does),
so a test is plain synchronous code: it commits with the git CLI, calls the
HTTP endpoints with urllib and polls for conditions with a timeout.

``config_repo`` and ``simulator`` take indirect parameters:
``@pytest.mark.parametrize("config_repo", [{"paced": ["highway-hpc"]}], indirect=True)``
keeps those profiles' ``max_per_minute``;
``@pytest.mark.parametrize("simulator", [{"job_step_ms": 150}], indirect=True)``
passes simulator options.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.daemon.running import Daemon
from reconciler.daemon.settings import DaemonSettings
from reconciler.drivers.settings import HeadendSettings
from reconciler.engine.settings import EngineSettings
from reconciler.headends.simulator import Simulator, SimulatorOptions
from reconciler.loading.repos import load_repo
from reconciler.loading.secrets import SecretResolver
from reconciler.loading.sources import DirectorySource
from reconciler.model.inventory import INVENTORY_LIST
from reconciler.plan.planning import Planner
from reconciler.testing import SimulatorHandle, running_simulator
from reconciler.testing.reports import read_report

EXAMPLE = Path(__file__).resolve().parents[2]
TOKEN = "daemon-test-token"
ADMIN = "admin-test-token"
SECRETS = {
    "public_ac_auth_key": "pa-0123456789abcdef",
    "fleet_depot_auth_key": "fd-0123456789abcdef",
    "highway_hpc_auth_key": "hh-0123456789abcdef",
    "lsg_sim_pin": "4711",
}
GIT_USER = ["-c", "user.name=Test Author", "-c", "user.email=author@example.invalid"]
SIMULATOR_SEED = 1
T = TypeVar("T")


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def commit(root: Path, message: str, edits: dict[str, Callable[[str], str]]) -> str:
    """Apply ``{relative path: text -> text}`` and commit; returns the new sha."""
    for relative, edit in edits.items():
        path = root / relative
        path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    git(root, "add", "-A")
    git(root, *GIT_USER, "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")


def replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, f"{old!r} not found"
        return text.replace(old, new, 1)

    return edit


def wait_for(condition: Callable[[], T], *, timeout: float = 20.0, what: str = "condition") -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def http(
    url: str, *, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, method=method, headers=headers or {}, data=b"" if method == "POST" else None
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def get_json(url: str) -> Any:
    _, body = http(url)
    return json.loads(body)


@pytest.fixture
def config_repo(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """The example repository as a git repo, without pacing (tests need seconds, not minutes).

    Profiles named in the indirect parameter's ``paced`` keep their ``max_per_minute``.
    """
    paced = set(getattr(request, "param", {}).get("paced", ()))
    root = tmp_path / "config"
    root.mkdir()
    shutil.copytree(EXAMPLE / "profiles.d", root / "profiles.d")
    shutil.copytree(EXAMPLE / "gateways.d", root / "gateways.d")
    for profile in (root / "profiles.d").glob("*.yaml"):
        if profile.stem in paced:
            continue
        lines = profile.read_text(encoding="utf-8").splitlines(keepends=True)
        profile.write_text("".join(x for x in lines if "max_per_minute" not in x), encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, *GIT_USER, "commit", "-qm", "seed")
    return root


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "secrets"
    folder.mkdir()
    for name, value in SECRETS.items():
        (folder / name).write_text(value + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def simulator(config_repo: Path, request: pytest.FixtureRequest) -> Iterator[SimulatorHandle]:
    """The head-end simulator over ``config_repo``'s gateways; the indirect parameter adds options."""
    options = {"seed": SIMULATOR_SEED, **getattr(request, "param", {})}
    with running_simulator(gateways_repo=config_repo, token=TOKEN, **options) as handle:
        yield handle


def managed(config_repo: Path, *, seed: int = SIMULATOR_SEED) -> set[str]:
    """The gateways the daemon manages: those a first plan rolls out to.

    Planned as the daemon plans them, against the inventory of the simulator
    that serves ``config_repo`` with ``seed`` (declared gateways with nothing
    to set are not managed).
    """
    repo = load_repo(DirectorySource(config_repo))
    fleet = Simulator(SimulatorOptions(gateways_repo=config_repo, seed=seed)).fleet
    inventory = {
        g.id: g
        for g in INVENTORY_LIST.validate_python([g.inventory for g in fleet.gateways.values()])
    }
    return {p.gateway_id for p in Planner(repo.catalog).plan(repo, inventory, {}).actionable()}


class DaemonThread:
    """A :class:`Daemon` on its own loop in a thread; ``url``, ``call`` and ``stop``."""

    def __init__(self, settings: DaemonSettings, secrets: Path) -> None:
        self.settings = settings
        self.secrets = secrets
        self.url = ""
        self.daemon: Daemon | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        try:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            daemon = Daemon(
                self.settings,
                headend=HeadendSettings(
                    base_url=self.settings.headend_url,
                    token=TOKEN,
                    max_attempts=2,
                    backoff_base_s=0.05,
                    backoff_max_s=0.2,
                ),
                engine=EngineSettings(
                    poll_interval_s=0.05, resubmit_backoff_s=0.2, submit_attempts=20
                ),
                resolve_secret=SecretResolver(environ={}, directory=self.secrets),
            )
            async with daemon:
                self.daemon = daemon
                self.url = daemon.url
                self._started.set()
                await self._stop.wait()
        except BaseException as exc:
            self._error = exc
            raise
        finally:
            self._started.set()

    def start(self) -> DaemonThread:
        self._thread.start()
        self._started.wait(30)
        if not self.url:
            raise RuntimeError(f"the daemon did not start: {self._error!r}")
        return self

    def call(self, function: Callable[[Daemon], T]) -> T:
        """Run ``function(daemon)`` on the daemon's loop (its state is not thread-safe)."""
        assert self._loop is not None and self.daemon is not None
        daemon = self.daemon

        async def run() -> T:
            return function(daemon)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def report(self) -> Any:
        """The report summary served at /api/v1/status, with its member pages' rows as ``gateways``."""
        return read_report(lambda: get_json(self.url + "/api/v1/status"), self.settings.report_dir)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture
def start_daemon(
    tmp_path: Path, config_repo: Path, simulator: SimulatorHandle, secrets_dir: Path
) -> Iterator[Callable[..., DaemonThread]]:
    """Start a daemon on ``config_repo`` (settings overridable); stopped at the end of the test."""
    started: list[DaemonThread] = []

    def start(**overrides: Any) -> DaemonThread:
        values: dict[str, Any] = {
            "repo": str(config_repo),
            "headend_url": simulator.url,
            "state": tmp_path / "state" / "state.db",
            "report_dir": tmp_path / "report",
            "listen": "127.0.0.1:0",
            "readback_interval_s": 300.0,
            "report_interval_s": 0.1,
            "retry_backoff_s": 0.2,
            "retry_backoff_max_s": 1.0,
            "poll_interval_s": 30.0,
        }
        values.update(overrides)
        thread = DaemonThread(DaemonSettings(**values), secrets_dir).start()
        started.append(thread)
        return thread

    yield start
    for thread in started:
        thread.stop()


def applied_sha(daemon: DaemonThread) -> str | None:
    return daemon.call(lambda d: d.status.applied.info.sha if d.status.applied else None)


def settled(daemon: DaemonThread, sha: str) -> bool:
    """``sha`` is applied, no task of the loop runs, and the report shows it."""
    if applied_sha(daemon) != sha or daemon.call(lambda d: d.status.busy):
        return False
    report = daemon.report()
    return bool(
        report["applied_commit"]
        and report["applied_commit"]["sha"] == sha
        and not report["rollout_running"]
    )


def metric(daemon: DaemonThread, name: str, **labels: str) -> float:
    """The first sample of ``name`` with ``labels`` on the daemon's ``/metrics`` (0 when absent)."""
    _, body = http(daemon.url + "/metrics")
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0
