"""Running things for tests and benchmarks: the head-end simulator in a thread, a timed command.

:func:`running_simulator` serves :mod:`reconciler.headends.simulator` over
loopback HTTP for the driver, engine, command and daemon tests;
:func:`timed_command` times ``python -m reconciler`` for the benchmarks.
Re-exported by :mod:`reconciler.testing`.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

from reconciler.testing.threads import in_thread


class SimulatorHandle:
    """A simulator running in a background thread: its URL and token, and its admin endpoints.

    The admin calls are synchronous (plain ``urllib``): the simulator has its
    own loop in its own thread, so a test's loop may block on them briefly.
    """

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token

    def __repr__(self) -> str:
        return f"SimulatorHandle(url={self.url!r})"

    def _admin(self, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def counters(self) -> dict[str, Any]:
        """``GET /_admin/counters``: requests per endpoint, responses per code, jobs, faults."""
        return dict(self._admin("/_admin/counters"))

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        """``POST /_admin/faults``, e.g. ``set_faults(error_rate=1.0)`` or ``fail_next=["error"]``."""
        return dict(self._admin("/_admin/faults", changes))

    def forget(self) -> int:
        """``POST /_admin/forget``: the head-end drops its job table (keys included), as after
        a restart without it; returns how many jobs it dropped."""
        return int(self._admin("/_admin/forget", {})["forgotten"])

    def drift(self, gateway_id: str, parameters: dict[str, Any]) -> dict[str, Any]:
        """``POST /_admin/drift``: force live values on one gateway."""
        return dict(
            self._admin("/_admin/drift", {"gateway_id": gateway_id, "parameters": parameters})
        )


@contextlib.contextmanager
def running_simulator(**options: Any) -> Iterator[SimulatorHandle]:
    """Run the head-end simulator on 127.0.0.1 (a free port) in a thread with its own loop.

    ``options`` are :class:`~reconciler.headends.simulator.SimulatorOptions` fields,
    e.g. ``running_simulator(fleet=50, latency_ms=5, token="t")``.  Stops the
    server and joins the thread on exit.
    """
    from reconciler.headends.simulator import Simulator, SimulatorOptions, serving

    settings = SimulatorOptions(**options)
    with in_thread(lambda: serving(Simulator(settings)), "simulator") as (url, _):
        yield SimulatorHandle(url, settings.token)


def timed_command(*args: str) -> float:
    """Wall seconds of ``python -m reconciler ARGS`` (start-up included); exits loudly if it fails."""
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "reconciler", *args], capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(
            f"reconciler {' '.join(args)} failed:\n{completed.stdout[-2000:]}{completed.stderr[-2000:]}"
        )
    return elapsed
