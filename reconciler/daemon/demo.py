"""``reconciler demo``: the whole loop on the shipped example, with nothing but the installed package.

Called by :mod:`reconciler.cli.demo`.  In a temporary directory: a git
repository seeded from the example config (``reconciler/examples``, package
data), demo values for every ``{secret: NAME}`` it references, the head-end
simulator serving a fleet made from its ``gateways.d`` (in this process, on a
free loopback port), and the daemon watching the repository.  After the first
rollout it commits a profile change (fleet-depot's HeartbeatInterval) and
prints the status counts as they move, where the report is and the metrics
URL; then it runs until Ctrl-C, or with ``once`` stops after the change is
rolled out.

With ``ocpp`` the repository holds the example's OCPP site only (the
ocpp-depot profile, the Hagen charge points of both protocols), the head-end
is the OCPP head-end (:mod:`reconciler.headends.ocpp.server`, its known
identities read from the repository) and the gateways are simulated OCPP
charge points (:mod:`reconciler.headends.ocpp.simfleet`) connected to it over
WebSocket; the change committed is ocpp-depot's.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from reconciler.daemon.running import Daemon
from reconciler.daemon.settings import DaemonSettings
from reconciler.drivers.settings import HeadendSettings
from reconciler.headends.ocpp import server as ocpp_server
from reconciler.headends.ocpp.simfleet import Fleet, FleetOptions
from reconciler.headends.simulator import Simulator, SimulatorOptions, serving
from reconciler.loading.secrets import SecretResolver
from reconciler.members.rows import NO_STATUS
from reconciler.model.state import Status

CHANGED_PROFILE = "fleet-depot"
OCPP_PROFILE = "ocpp-depot"
OCPP_FILES = ("profiles.d/ocpp-depot.yaml", "gateways.d/ocpp-hagen.yaml")
"""The example's OCPP site: what ``demo --ocpp`` seeds its repository with."""
TOKEN = "demo-token"
_SECRET = re.compile(r"\{\s*secret:\s*([A-Za-z0-9_.-]+)\s*\}")
_GIT = ["-c", "user.name=Reconciler Demo", "-c", "user.email=demo@example.invalid"]


def examples() -> Path:
    """The shipped example repository (package data)."""
    return Path(str(importlib.resources.files("reconciler") / "examples"))


def seed(root: Path, *, ocpp: bool = False) -> str:
    """A git repository at ``root`` holding the example's profiles.d and gateways.d (with
    ``ocpp``: its OCPP site only); returns HEAD."""
    source = examples()
    root.mkdir(parents=True)
    if ocpp:
        for name in OCPP_FILES:
            (root / name).parent.mkdir(exist_ok=True)
            shutil.copyfile(source / name, root / name)
    else:
        for folder in ("profiles.d", "gateways.d"):
            shutil.copytree(source / folder, root / folder)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, *_GIT, "commit", "-qm", "Seed from the shipped example")
    return _git(root, "rev-parse", "HEAD")


def demo_secrets(root: Path, folder: Path) -> list[str]:
    """A file per referenced secret in ``folder`` (RECONCILER_SECRETS_DIR layout); returns the names."""
    names = sorted(
        {
            m.group(1)
            for path in root.rglob("*.yaml")
            for m in _SECRET.finditer(path.read_text(encoding="utf-8"))
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        # 4..8 digits fit a SIM PIN; 16..40 characters fit the authorization keys.
        value = "4711" if "pin" in name else f"demo-{name}-0123456789"[:40].ljust(16, "x")
        (folder / name).write_text(value + "\n", encoding="utf-8")
    return names


def change_profile(root: Path, name: str = CHANGED_PROFILE) -> tuple[int, int]:
    """Change the profile's first HeartbeatInterval by 60 s; returns (old, new)."""
    path = root / "profiles.d" / f"{name}.yaml"
    text = path.read_text(encoding="utf-8")
    match = re.search(r"HeartbeatInterval: (\d+)", text)
    if match is None:
        raise RuntimeError(f"{path}: no HeartbeatInterval to change")
    old = int(match.group(1))
    new = old - 60 if old > 90 else old + 60
    path.write_text(text[: match.start(1)] + str(new) + text[match.end(1) :], encoding="utf-8")
    return old, new


@asynccontextmanager
async def _lg2wan(repo: Path, say: Callable[[str], None]) -> AsyncIterator[str]:
    """The LG2WAN head-end simulator serving the repository's gateways; yields its URL."""
    simulator = Simulator(SimulatorOptions(gateways_repo=repo, token=TOKEN, seed=1))
    async with serving(simulator) as headend_url:
        say(f"head-end simulator: {headend_url} ({len(simulator.fleet.gateways)} gateways)")
        yield headend_url


@asynccontextmanager
async def _ocpp(repo: Path, base: Path, say: Callable[[str], None]) -> AsyncIterator[str]:
    """The OCPP head-end, and the repository's charge points simulated and connected; yields
    the head-end API's URL."""
    options = ocpp_server.HeadendOptions(
        state=base / "headend" / "headend.db", token=TOKEN, repo=repo
    )
    options.state.parent.mkdir(parents=True, exist_ok=True)
    async with ocpp_server.serving(options) as running:
        fleet = Fleet(FleetOptions(connect=running.ocpp_url.rstrip("/"), ids_from=repo))
        fleet.start()
        try:
            protocols = sorted({c.protocol for c in fleet.chargers.values()})
            say(
                f"OCPP head-end: charge points connect to {running.ocpp_url}ID, "
                f"its head-end API is {running.api_url}"
            )
            deadline = time.monotonic() + 60
            while fleet.status()["booted"] < len(fleet.chargers):
                if time.monotonic() > deadline:
                    raise TimeoutError("the simulated charge points did not all connect in 60 s")
                await asyncio.sleep(0.1)
            say(
                f"simulated charge points: {len(fleet.chargers)} connected over WebSocket "
                f"({', '.join(protocols)})"
            )
            yield running.api_url
        finally:
            await fleet.stop()


async def run(
    *,
    once: bool,
    port: int = 9108,
    workdir: Path | None = None,
    say: Callable[[str], None] = print,
    ocpp: bool = False,
) -> int:
    """Run the demo; returns the exit code (0: the change was rolled out and every member Accepted)."""
    profile = OCPP_PROFILE if ocpp else CHANGED_PROFILE
    with tempfile.TemporaryDirectory(prefix="reconciler-demo-") as tmp:
        base = workdir or Path(tmp)
        repo = base / "config"
        head = seed(repo, ocpp=ocpp)
        names = demo_secrets(repo, base / "secrets")
        say(f"config repository: {repo} (seeded from the shipped example, commit {head[:12]})")
        if names:
            say(f"demo secrets for {', '.join(names)} in {base / 'secrets'}")
        headend = _ocpp(repo, base, say) if ocpp else _lg2wan(repo, say)
        async with headend as headend_url:
            settings = DaemonSettings(
                repo=str(repo),
                branch="main",
                headend_url=headend_url,
                state=base / "state" / "state.db",
                report_dir=base / "report",
                listen=f"127.0.0.1:{port}",
                readback_interval_s=30.0,
                admin_token=None,
            )
            daemon = Daemon(
                settings,
                headend=HeadendSettings(base_url=headend_url, token=TOKEN),
                resolve_secret=SecretResolver(environ={}, directory=base / "secrets"),
            )
            async with daemon:
                say(f"daemon: console {daemon.url}/ (report files in {settings.report_dir})")
                say(f"        metrics {daemon.url}/metrics, status {daemon.url}/api/v1/status")
                await _until_applied(daemon, head, say)
                old, new = change_profile(repo, profile)
                _git(repo, *_GIT, "commit", "-qam", f"{profile}: HeartbeatInterval {old} -> {new}")
                change = _git(repo, "rev-parse", "HEAD")
                say(
                    f"committed {change[:12]}: {profile} HeartbeatInterval {old} -> {new} s; "
                    "watching the rollout"
                )
                ok = await _until_applied(daemon, change, say)
                accepted = daemon.status.last_rollout.get(Status.ACCEPTED.value, 0)
                say(
                    f"  {accepted} gateways accepted the change "
                    "(only members whose effective value changed get a job: the change is in one "
                    "gateway type's block)"
                )
                if once:
                    say("the change is rolled out; stopping (--once)")
                    return 0 if ok else 1
                say("running until Ctrl-C; edit and commit in the repository above to see more")
                await _signalled()
                say("stopping")
    return 0


async def _until_applied(
    daemon: Daemon, sha: str, say: Callable[[str], None], timeout_s: float = 120.0
) -> bool:
    """Print status counts as they move until ``sha`` is applied; True when all members are Accepted.

    The counts are the daemon's status record's (those of its last report).
    """
    deadline = time.monotonic() + timeout_s
    shown = ""
    while time.monotonic() < deadline:
        status = daemon.status
        done = status.applied is not None and status.applied.info.sha == sha and not status.busy
        if done:
            status = await daemon.refresh()
        line = _counts(status.totals)
        if line != shown:
            say(f"  {line}")
            shown = line
        if done:
            unsettled = set(status.totals) - {Status.ACCEPTED.value, NO_STATUS}
            return not any(status.totals[key] for key in unsettled)
        await asyncio.sleep(0.1)
    raise TimeoutError(f"commit {sha[:12]} was not rolled out within {timeout_s:.0f} s")


async def _signalled() -> None:
    """Until SIGINT or SIGTERM (handled here, so a shell that started us in the background,
    ignoring SIGINT, cannot leave the demo unstoppable by Ctrl-C's signal)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _counts(totals: Mapping[str, int]) -> str:
    return ", ".join(f"{key} {totals[key]}" for key in totals if totals[key]) or "no gateways yet"


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True)
    return done.stdout.strip()
