"""Fixtures for the head-end tests: the drivers' fixtures (real simulators on loopback)."""

from __future__ import annotations

from tests.drivers.conftest import pytest_pyfunc_call, simulator, start_simulator

__all__ = ["pytest_pyfunc_call", "simulator", "start_simulator"]
