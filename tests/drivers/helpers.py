"""Helpers for the drivers tests: quick driver settings aimed at a running simulator."""

from __future__ import annotations

from typing import Any

from reconciler.drivers.http import HttpDriver
from reconciler.drivers.settings import HeadendSettings
from reconciler.testing import SimulatorHandle

TOKEN = "s3cr3t-test-token-4711"


def settings_for(sim: SimulatorHandle, **overrides: Any) -> HeadendSettings:
    """Quick settings for tests: short timeout, tiny backoff, three attempts."""
    values: dict[str, Any] = {
        "base_url": sim.url,
        "token": sim.token,
        "timeout_s": 1.0,
        "max_attempts": 3,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        **overrides,
    }
    return HeadendSettings(**values)


def driver_for(sim: SimulatorHandle, **overrides: Any) -> HttpDriver:
    return HttpDriver(settings_for(sim, **overrides))
