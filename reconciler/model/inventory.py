"""What the head-end knows about a gateway (DESIGN.md section 6, the GATEWAY shape).

Used by the planner (firmware decides the syntax), by ``--inventory FILE``
(a JSON list of these), by the drivers and by the reports.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from reconciler.model.catalogs import GatewayTypeName


class Station(BaseModel):
    """A charging station behind a gateway, with its charge ports."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    ports: list[str] = Field(default_factory=list)


class InventoryGateway(BaseModel):
    """One gateway as the head-end's inventory reports it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    type: GatewayTypeName
    firmware: str
    provider: str = ""
    address: str = ""
    owner: str = ""
    stations: list[Station] = Field(default_factory=list)


INVENTORY_LIST = TypeAdapter(list[InventoryGateway])
"""Validates a whole ``--inventory FILE`` (a JSON list of GATEWAY objects)."""
