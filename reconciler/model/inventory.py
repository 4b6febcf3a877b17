"""What the head-end knows about a gateway (docs/reference/headend-api.md, the GATEWAY shape).

Used by the planner (firmware decides the syntax), by ``--inventory FILE``
(a JSON list of these), by the drivers and by the reports.

Slotted pydantic dataclasses rather than models: an inventory holds one per
gateway of the head-end, and at 100,000 gateways models took 231 MB where
these take 63 MB (measured with tracemalloc on the same JSON).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, TypeAdapter
from pydantic.dataclasses import dataclass

from reconciler.model.catalogs import TYPE_PATTERN

_IGNORE_EXTRA = ConfigDict(extra="ignore")


@dataclass(frozen=True, slots=True, config=_IGNORE_EXTRA)
class Station:
    """A charging station behind a gateway, with its charge ports."""

    id: str
    ports: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, config=_IGNORE_EXTRA)
class InventoryGateway:
    """One gateway as the head-end's inventory reports it."""

    id: str
    type: Annotated[str, Field(pattern=TYPE_PATTERN)]
    firmware: str
    provider: str = ""
    address: str = ""
    owner: str = ""
    stations: tuple[Station, ...] = ()
    # Optional facts of devices that connect themselves (the OCPP head-end); None: not reported.
    protocol: str | None = None
    vendor: str | None = None
    model: str | None = None
    connected: bool | None = None
    """Whether the device holds a connection to the head-end now."""
    last_seen: str | None = None
    """RFC 3339 time of the device's last message."""
    busy: bool | None = None
    """A charging session is active (a ``when_idle`` reboot waits for its end)."""


INVENTORY_LIST = TypeAdapter(list[InventoryGateway])
"""Validates a whole ``--inventory FILE`` or inventory page (a JSON list of GATEWAY objects)."""
