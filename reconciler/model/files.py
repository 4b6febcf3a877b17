"""Schemas of the files in a config repository (docs/reference/files.md).

``profiles.d/NAME.yaml`` -> :class:`ProfileFile`; ``gateways.d/**/*.yaml`` ->
:class:`GatewaysFile`.  Models are strict (``"900"`` is not 900, unknown keys
are errors) and frozen.  Parameter *values* are checked against the catalog by
:mod:`reconciler.model.parameters`, since which keys exist depends on data.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass

from reconciler.model.catalogs import GatewayTypeName

PROFILE_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
GATEWAY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"

ParameterBlock = dict[str, Any]
"""``SECTION -> Key -> value``: a profile's block for one type, or a gateway's subsettings.

Only the outer mapping is checked here; sections, keys and values are checked
against the catalog by :func:`reconciler.model.parameters.check_block`, which
also runs when other parts of the file are broken."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class AbortPolicy(_Strict):
    """Stop starting new jobs of a rollout once too many were declined (AWS IoT Jobs style)."""

    min_attempted: Annotated[
        int, Field(ge=1, description="Gateways attempted before the ratio is judged.")
    ] = 20
    max_declined_ratio: Annotated[
        float, Field(ge=0.0, le=1.0, description="Declined share above which no new jobs start.")
    ] = 0.2


class RolloutPolicy(_Strict):
    """How a profile's changes are rolled out; every field has a documented default."""

    max_in_flight: Annotated[
        int,
        Field(ge=1, le=100_000, description="Gateways of this profile with an active job at once."),
    ] = 100
    max_per_minute: Annotated[
        int | None,
        Field(
            ge=1, description="Pace of new jobs per minute; unset: as fast as max_in_flight allows."
        ),
    ] = None
    abort: AbortPolicy | None = Field(
        default=None, description="Abort criteria; unset: never abort."
    )
    on_mismatch: Literal["report", "reapply"] = Field(
        default="report",
        description="report: set Mismatch only; reapply: push the accepted values again.",
    )
    reboot: Literal["never", "when_idle"] = Field(
        default="never",
        description="Values that take effect after a reboot: never reboot for them (they wait for "
        "the device's next boot), or when_idle: let the head-end reboot the device when no "
        "charging session is active.",
    )
    manage: Literal["declared", "all"] = Field(
        default="declared",
        description="declared: manage the keys the profile or a member's subsettings set; "
        "all: every key of the gateway's syntax, firmware defaults for the rest.",
    )


class ProfileFile(_Strict):
    """``profiles.d/NAME.yaml``: one profile group."""

    name: Annotated[str, Field(pattern=PROFILE_NAME_PATTERN)]
    description: str | None = None
    parameters: dict[GatewayTypeName, ParameterBlock] = Field(default_factory=dict)
    rollout: RolloutPolicy = Field(default_factory=RolloutPolicy)


@dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class GatewayEntry:
    """One gateway's membership, subsettings and labels in ``gateways.d``.

    A slotted pydantic dataclass, not a model: a repository holds one per
    gateway, and at 100,000 gateways models cost ~40 MB more (no per-instance
    ``__dict__`` and fields-set bookkeeping here).
    """

    # Strict per field: a strict dataclass would refuse a mapping as input.
    id: Annotated[str, Field(strict=True, pattern=GATEWAY_ID_PATTERN)]
    # No pattern here: the loader looks the type up in the repository's catalog (whose
    # names follow TYPE_PATTERN), a dict lookup per entry instead of a regex.
    type: Annotated[str, Field(strict=True, min_length=1, max_length=32)]
    profile: Annotated[str, Field(strict=True, pattern=PROFILE_NAME_PATTERN)] | None = None
    subsettings: Annotated[ParameterBlock, Field(strict=True)] = Field(default_factory=dict)
    labels: Annotated[dict[str, Annotated[str, Field(strict=True)]], Field(strict=True)] = Field(
        default_factory=dict
    )


class GatewaysFile(BaseModel):
    """``gateways.d/**/*.yaml``: a list of gateway entries under ``gateways``.

    Not strict itself, only so that a mapping may become a :class:`GatewayEntry`
    (strict mode wants an instance); every field of an entry is validated strictly
    by the entry's own configuration.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    gateways: list[GatewayEntry]
