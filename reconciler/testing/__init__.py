"""Builders and fakes for tests and benchmarks: repositories, fleets, a simulator, an in-memory head-end.

Shipped in the package (like ``structlog.testing`` or httpx's ``MockTransport``)
so that tests, benchmarks and the demo share one way to make repositories
and head-ends.  Nothing in the product imports it.

- :mod:`reconciler.testing.repos`: config repositories on disk, synthetic fleets, inventories;
- :mod:`reconciler.testing.simulators`: the head-end simulator in a thread, a timed command;
- :mod:`reconciler.testing.fakes`: :class:`FakeDriver` (a scriptable in-memory
  :class:`~reconciler.drivers.base.Driver`) and :class:`FakeClock` (virtual time).
"""

from __future__ import annotations

from reconciler.testing.fakes import FakeClock, FakeDriver, FakeJob, fake_inventory, fleet
from reconciler.testing.repos import (
    FIRMWARE,
    GATEWAY_TYPES,
    REPO_TYPES,
    gateway_id,
    gateways_yaml,
    inventory_for,
    inventory_item,
    profile_yaml,
    synthetic_repo,
    write,
)
from reconciler.testing.simulators import SimulatorHandle, running_simulator, timed_command

__all__ = [
    "FIRMWARE",
    "GATEWAY_TYPES",
    "REPO_TYPES",
    "FakeClock",
    "FakeDriver",
    "FakeJob",
    "SimulatorHandle",
    "fake_inventory",
    "fleet",
    "gateway_id",
    "gateways_yaml",
    "inventory_for",
    "inventory_item",
    "profile_yaml",
    "running_simulator",
    "synthetic_repo",
    "timed_command",
    "write",
]
