"""Running simulated OCPP charge points for tests and benchmarks.

:func:`running_chargers` runs a fleet (:mod:`reconciler.headends.ocpp.simfleet`)
and its control API (:mod:`reconciler.headends.ocpp.simcontrol`) in a background
thread with its own loop and returns a :class:`ChargersHandle` whose helpers are
synchronous (plain ``urllib`` over the control API), like
:func:`reconciler.testing.simulators.running_simulator`.  :func:`simulated_fleet`
runs one in the caller's loop instead (async tests that also run the central
system in that loop).
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

from reconciler.headends.ocpp.simfleet import Fleet, FleetOptions
from reconciler.testing.threads import in_thread


class ChargersHandle:
    """Simulated chargers running in a background thread, driven over their control API."""

    def __init__(self, url: str, fleet: Fleet) -> None:
        self.url = url
        self.fleet = fleet
        """The fleet itself (read-only use from the test thread: ids, options)."""

    def __repr__(self) -> str:
        return f"ChargersHandle(url={self.url!r})"

    @property
    def ids(self) -> list[str]:
        return sorted(self.fleet.chargers)

    def _api(self, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def status(self) -> dict[str, Any]:
        """``GET /status``: chargers, connected, booted, busy."""
        return dict(self._api("/status"))

    def charger(self, charger_id: str) -> dict[str, Any]:
        """``GET /chargers/{id}``: parameters, connected, busy, counters, pending_reboot, ..."""
        return dict(self._api(f"/chargers/{charger_id}"))

    def counters(self) -> dict[str, Any]:
        """``GET /counters``: ``{"total": {...}, "chargers": {id: {...}}}``."""
        return dict(self._api("/counters"))

    def transaction(self, charger_id: str, active: bool) -> bool:
        """Plug a car in (``True``) or out; whether that changed anything."""
        body = {"active": active}
        return bool(self._api(f"/chargers/{charger_id}/transaction", body)["changed"])

    def disconnect(self, charger_id: str, for_s: float = 1.0) -> None:
        self._api(f"/chargers/{charger_id}/disconnect", {"for_s": for_s})

    def reboot(self, charger_id: str) -> None:
        self._api(f"/chargers/{charger_id}/reboot", {})

    def firmware(self, charger_id: str, version: str) -> None:
        self._api(f"/chargers/{charger_id}/firmware", {"version": version})

    def drift(self, charger_id: str, parameters: dict[str, Any]) -> None:
        self._api(f"/chargers/{charger_id}/drift", {"parameters": parameters})

    def faults(self, **body: Any) -> list[str]:
        """``POST /faults``, e.g. ``faults(slow_s=1.0, chargers=["CP-000001"])``."""
        return list(self._api("/faults", body)["chargers"])

    def wait_connected(self, count: int | None = None, timeout: float = 60.0) -> dict[str, Any]:
        """Poll ``/status`` until ``count`` (default: all) chargers are connected and booted."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            wanted = status["chargers"] if count is None else count
            if status["connected"] >= wanted and status["booted"] >= wanted:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"chargers not connected in {timeout} s: {status}")
            time.sleep(0.05)


@contextlib.asynccontextmanager
async def simulated_fleet(connect: str, **options: Any) -> AsyncIterator[Fleet]:
    """Run a fleet in the running loop (no control API); stops it on exit.

    ``options`` are :class:`FleetOptions` fields (``count``, ``protocol``, ...).
    """
    fleet = Fleet(FleetOptions(connect=connect, **options))
    fleet.start()
    try:
        yield fleet
    finally:
        await fleet.stop()


@contextlib.contextmanager
def running_chargers(connect: str, **options: Any) -> Iterator[ChargersHandle]:
    """Run simulated chargers towards ``connect`` in a thread, with the control API on loopback.

    ``options`` are :class:`FleetOptions` fields, e.g.
    ``running_chargers(url, count=10_000, protocol="mixed")``.
    """
    from reconciler.headends.ocpp.simcontrol import simulating

    fleet = Fleet(FleetOptions(connect=connect, **options))
    serving = lambda: simulating(fleet, ("127.0.0.1", 0))  # noqa: E731
    with in_thread(serving, "simulated chargers", join_s=60) as (url, _):
        assert url is not None  # a control address was given
        yield ChargersHandle(url, fleet)
