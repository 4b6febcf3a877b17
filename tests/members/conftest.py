"""Builders for the members tests: a :class:`Member` with sensible values, any of them overridden."""

from __future__ import annotations

from typing import Any

from reconciler.members.rows import Member
from reconciler.model.state import Status


def member(**overrides: Any) -> Member:
    values: dict[str, Any] = {
        "gateway_id": "LSX-000123",
        "type": "LSX",
        "firmware": "2.1.3",
        "profile": "public-ac",
        "status": Status.ACCEPTED,
        "station_ids": ("CS-000123-1", "CS-000123-2"),
        "port_ids": ("CS-000123-1-1", "CS-000123-2-1"),
        "provider": "VoltPoint",
        "address": "Bahnhofstr. 7, 44137 Dortmund",
        "owner": "Parkhaus GmbH",
        "subsettings": {"MaxChargingCurrent": 16, "FreeVendMode": False},
        "labels": {"site": "dortmund-hbf", "level": "-1"},
    }
    return Member(**(values | overrides))
