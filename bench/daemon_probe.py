"""Probes for ``bench/bench_daemon.py``: a head-end simulator that timestamps values, and samplers.

Run by bench_daemon.py as a process: ``python bench/daemon_probe.py --listen HOST:PORT
--gateways REPO [--latency-ms L] [--job-step-ms S]`` serves ``reconciler simulate``'s
simulator (token from RECONCILER_HEADEND_TOKEN) with two admin endpoints more:

- ``GET /_admin/heartbeats``: ``{value: wall time}``, when a job carrying a
  ``...HeartbeatInterval`` of that value was first created (so a benchmark can
  time commit -> first job of *that* commit while other jobs are being created);
- ``POST /_admin/step`` ``{"job_step_ms": S}``: change the job step at run time.

Imported by bench_daemon.py for :class:`RssSampler` (VmRSS and VmHWM of a process,
PSS of it and its descendants, every 0.25 s) and :class:`EndpointSampler`
(one GET every 0.5 s, latency and status), both threads.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from aiohttp import web

from reconciler.drivers import bodies
from reconciler.headends.simulator import Simulator, SimulatorOptions, serving


class ProbeSimulator(Simulator):
    """The simulator, plus the first creation time of every HeartbeatInterval value."""

    def __init__(self, options: SimulatorOptions) -> None:
        super().__init__(options)
        self.heartbeats: dict[str, float] = {}

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_get("/_admin/heartbeats", self._admin_heartbeats)
        app.router.add_post("/_admin/step", self._admin_step)
        return app

    def _create(self, entry: bodies.JobEntry, now: float) -> dict[str, Any]:
        result = super()._create(entry, now)
        if "error" not in result:
            for key, value in entry[1].items():
                if key.endswith("HeartbeatInterval"):
                    self.heartbeats.setdefault(str(value), time.time())
        return result

    async def _admin_heartbeats(self, request: web.Request) -> web.Response:
        return web.json_response(self.heartbeats)

    async def _admin_step(self, request: web.Request) -> web.Response:
        data = await request.json()
        self.fleet.step_s = float(data["job_step_ms"]) / 1000
        return web.json_response({"job_step_ms": self.fleet.step_s * 1000})


async def _serve(simulator: Simulator, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serving(simulator, host, port) as url:
        print(f"probe simulator serving {len(simulator.fleet.gateways)} gateways at {url}")
        print(flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--gateways", type=Path, required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--job-step-ms", type=float)
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    options = SimulatorOptions(
        token=os.environ.get("RECONCILER_HEADEND_TOKEN", "dev-token"),
        gateways_repo=args.gateways,
        latency_ms=args.latency_ms,
        job_step_ms=args.job_step_ms,
    )
    asyncio.run(_serve(ProbeSimulator(options), host, int(port)))


# --- samplers (threads of the benchmark process) ---------------------------------------------


def _status_kib(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":", 1)
                out[name] = int(value.split()[0])
    return out


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as children:
                kids = [int(k) for k in children.read().split()]
        except OSError:
            continue
        for kid in kids:
            found += [kid, *_descendants(kid)]
    return found


def _cmdline(pid: int) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        return cmdline.read()


def _pss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    """Every ``every`` s: (wall time, PSS of ``pid`` and its descendants summed, VmRSS of ``pid``
    alone, VmHWM of ``pid``), in bytes; and the largest VmRSS per descendant command.

    The tree is summed in PSS so that pages a forked child shares with the daemon count once.
    A sample has no tree figure (0) when a descendant came or went meanwhile, or when one was
    forked and has not exec'd yet (a vfork child shows the daemon's own memory)."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, int, int, int]] = []
        self.descendants: dict[str, int] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        forks: set[int] = set()  # children still running the daemon's own program (forked)
        while not self._halt.is_set():
            try:
                own = _cmdline(self.pid)
                kids = _descendants(self.pid)
                main = _status_kib(self.pid)
                total: int | None = _pss_kib(self.pid)
                seen: set[int] = set()
                for kid in kids:
                    try:
                        argv = _cmdline(kid)
                        if argv == own:
                            # Forked and not exec'd yet: a vfork child shows the daemon's own
                            # memory (counted twice); a worker that stays is counted later.
                            seen.add(kid)
                            if kid not in forks:
                                total = None
                                continue
                        pss, rss = _pss_kib(kid), _status_kib(kid).get("VmRSS", 0)
                    except OSError:
                        total = None  # gone meanwhile
                        continue
                    if total is not None:
                        total += pss
                    name = b" ".join(argv.split(b"\0")[:3]).decode(errors="replace")[:60]
                    if name:
                        self.descendants[name] = max(self.descendants.get(name, 0), rss * 1024)
                forks = seen
                if kids != _descendants(self.pid):
                    total = None  # a child came or went meanwhile
                self.samples.append(
                    (
                        time.time(),
                        (total or 0) * 1024,
                        main["VmRSS"] * 1024,
                        main["VmHWM"] * 1024,
                    )
                )
            except (OSError, KeyError):
                pass  # not started yet, or gone
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def peak(self, start: float = 0.0, end: float = float("inf"), *, alone: bool = False) -> int:
        """Largest sample (bytes) between wall times ``start`` and ``end``: PSS of the process
        and its descendants, or (``alone``) VmRSS of the process alone."""
        column = 2 if alone else 1
        return max((s[column] for s in self.samples if start <= s[0] <= end), default=0)

    def hwm(self) -> int:
        return max((s[3] for s in self.samples), default=0)


class EndpointSampler(threading.Thread):
    """GET ``url`` every ``every`` s (a slow answer delays the next): (wall start, seconds, status)."""

    def __init__(self, url: str, every: float = 0.5, timeout: float = 30.0) -> None:
        super().__init__(daemon=True)
        self.url, self.every, self.timeout = url, every, timeout
        self.samples: list[tuple[float, float, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        due = time.monotonic()
        while not self._halt.is_set():
            started_at, started = time.time(), time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout) as response:
                    response.read()
                    code = int(response.status)
            except urllib.error.HTTPError as exc:
                exc.read()
                code = int(exc.code)
            except OSError:
                code = 0  # no answer (refused, reset or timed out)
            self.samples.append((started_at, time.perf_counter() - started, code))
            due = max(due + self.every, time.monotonic())
            self._halt.wait(max(0.0, due - time.monotonic()))

    def stop(self) -> None:
        self._halt.set()
        self.join(self.timeout + 5)

    def window(self, start: float, end: float) -> list[tuple[float, float, int]]:
        return [s for s in self.samples if start <= s[0] <= end]


if __name__ == "__main__":
    main()
