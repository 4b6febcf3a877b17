"""Fixtures for the drivers tests: real simulators on loopback, drivers pointed at them.

Coroutine tests run in a fresh event loop each (``asyncio.run``); no plugin is
needed for that.  Every simulator a test starts is stopped at its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reconciler.testing import SimulatorHandle, running_simulator
from tests.drivers.helpers import TOKEN

StartSimulator = Callable[..., SimulatorHandle]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests to completion in their own loop."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(pyfuncitem.obj(**arguments))
    return True


@pytest.fixture
def start_simulator() -> Iterator[StartSimulator]:
    """Start a simulator with the given options (small fleet, quick jobs, test token by default)."""
    with contextlib.ExitStack() as stack:

        def start(**options: Any) -> SimulatorHandle:
            options = {"fleet": 30, "token": TOKEN, "job_step_ms": 5, **options}
            return stack.enter_context(running_simulator(**options))

        yield start


@pytest.fixture
def simulator(start_simulator: StartSimulator) -> SimulatorHandle:
    return start_simulator()
