"""OCPP's view of a value and a key: strings on the wire, components and variables in 2.0.1.

OCPP carries every configuration value as a string; the head-end API carries
JSON values of the key's catalog type (docs/reference/catalog.md).  This module
is the one place that converts between the two (integers in decimal, booleans
``true``/``false``, lists comma-separated), addresses a 2.0.1 key as component,
variable and instance, names the ``ocpp`` library's version for a WebSocket
subprotocol, and types a charger by its protocol and the catalogs' ``match``.
Pure functions; used by the OCPP head-end's server and by the simulated charge
points (:mod:`reconciler.headends.ocpp`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reconciler.model.catalogs import Catalog, ParameterSpec

compact_json = json.JSONEncoder(separators=(",", ":")).encode
"""``json.dumps(value, separators=(",", ":"))`` without building an encoder per call (per message)."""
canonical_json = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode
"""Compact JSON with sorted keys: one text per value (cache keys)."""

SUBPROTOCOLS: dict[str, str] = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1"}
"""WebSocket subprotocol -> the ``ocpp`` library's version string (also the catalog protocol)."""

DEFAULT_TYPES: dict[str, str] = {"ocpp1.6": "OCPP16", "ocpp2.0.1": "OCPP201"}
"""The gateway type of a charger of each protocol when no catalog ``match`` fits it."""

HEARTBEAT_KEYS: dict[str, str] = {
    "ocpp1.6": "HeartbeatInterval",
    "ocpp2.0.1": "OCPPCommCtrlr.HeartbeatInterval",
}
"""The key that holds a charger's heartbeat interval, per protocol (BootNotification answers it)."""

PASSWORD_KEYS: dict[str, str] = {
    "ocpp1.6": "AuthorizationKey",
    "ocpp2.0.1": "SecurityCtrlr.BasicAuthPassword",
}
"""The key that holds a charger's HTTP Basic password (security profiles 1 and 2), per protocol."""


def to_wire(spec: ParameterSpec | None, value: Any) -> str:
    """``value`` as OCPP carries it: a string (lists comma-separated, booleans ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(to_wire(None, item) for item in value)
    if isinstance(value, float) and value.is_integer() and spec and spec.type == "integer":
        return str(int(value))
    return str(value)


def from_wire(spec: ParameterSpec | None, text: str) -> Any:
    """A string read from a charger as a JSON value of the key's catalog type.

    A value that is no rendering of its type (``"abc"`` for an integer) is
    returned as the string: read-back then shows it as it is, as a Mismatch.
    """
    if spec is None:
        return text
    kind = spec.type
    stripped = text.strip()
    try:
        if kind == "integer":
            return int(stripped)
        if kind == "decimal":
            return float(stripped)
    except ValueError:
        return text
    if kind == "boolean":
        lowered = stripped.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return text
    if kind == "list":
        return [item.strip() for item in text.split(",") if item.strip()]
    return text


def address(spec: ParameterSpec | None, key: str) -> tuple[str, str, str | None]:
    """The component, variable and instance of a 2.0.1 key (from its catalog entry, else its name).

    A key the catalog lacks (``Vendor.Var.Inst``) is addressed by its dotted parts,
    so the charger, not the head-end, decides whether it exists.
    """
    if spec is not None and spec.component and spec.variable:
        return spec.component, spec.variable, spec.instance
    parts = key.split(".")
    if len(parts) == 1:
        return parts[0], parts[0], None
    return parts[0], parts[1], (".".join(parts[2:]) or None)


def key_of(component: str, variable: str, instance: str | None) -> str:
    """The catalog key of a 2.0.1 address (the inverse of :func:`address`)."""
    return ".".join(part for part in (component, variable, instance) if part)


def charger_type(catalog: Catalog, protocol: str, vendor: str, model: str) -> str:
    """The gateway type of a charger: a catalog type of its protocol whose ``match`` fits, else the default.

    Operator types (``catalog.d``) are tried before shipped ones, in name order, so a
    vendor's type wins over the generic one it extends.
    """
    candidates = sorted(
        (t for t in catalog.types.values() if t.protocol == protocol and t.match),
        key=lambda t: (t.shipped, t.gateway_type),
    )
    for types in candidates:
        if types.matches(vendor, model):
            return types.gateway_type
    return DEFAULT_TYPES.get(protocol, DEFAULT_TYPES["ocpp1.6"])


def typed_parameters(syntax: Mapping[str, ParameterSpec], raw: Mapping[str, str]) -> dict[str, Any]:
    """``{key: string}`` read from a charger as ``{key: typed value}``."""
    return {key: from_wire(syntax.get(key), text) for key, text in raw.items()}
