"""JSON Schema of profile and gateway files, with the catalog's keys per section.

For editors (yaml-language-server completes and checks with it) and for other
tools; ``reconciler schema`` prints it.  The schema is a convenience: the
authority is ``reconciler validate``, which also checks cross-file rules.
"""

from __future__ import annotations

from typing import Any

from reconciler.model.catalogs import SECRET_NAME_PATTERN, Catalog, ParameterSpec
from reconciler.model.files import (
    GATEWAY_ID_PATTERN,
    PROFILE_NAME_PATTERN,
    AbortPolicy,
    RolloutPolicy,
)

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def value_schema(spec: ParameterSpec) -> dict[str, Any]:
    """The JSON Schema of one parameter's value."""
    schema: dict[str, Any]
    if spec.type in ("integer", "decimal"):
        schema = {"type": "integer" if spec.type == "integer" else "number"}
        if spec.min is not None:
            schema["minimum"] = spec.min
        if spec.max is not None:
            schema["maximum"] = spec.max
    elif spec.type == "boolean":
        schema = {"type": "boolean"}
    elif spec.type == "enum":
        schema = {"type": "string", "enum": list(spec.values or ())}
    elif spec.type == "list":
        schema = {"type": "array", "items": {"enum": list(spec.values or ())}, "uniqueItems": True}
        if spec.min_items is not None:
            schema["minItems"] = spec.min_items
        if spec.max_items is not None:
            schema["maxItems"] = spec.max_items
    elif spec.type == "secret":
        schema = {
            "type": "object",
            "properties": {
                "secret": {"type": "string", "pattern": f"^{SECRET_NAME_PATTERN.pattern}$"}
            },
            "required": ["secret"],
            "additionalProperties": False,
        }
    else:
        schema = {"type": "string"}
        if spec.min_length is not None:
            schema["minLength"] = spec.min_length
        if spec.max_length is not None:
            schema["maxLength"] = spec.max_length
        if spec.pattern is not None:
            schema["pattern"] = f"^(?:{spec.pattern})$"
    description = spec.description
    if spec.unit:
        description = f"{description} Unit: {spec.unit}."
    if spec.firmware:
        description = f"{description} Firmware {spec.firmware}."
    if spec.access == "write-only":
        description = f"{description} Write-only: never read back."
    if spec.reboot:
        description = f"{description} Takes effect after a reboot."
    schema["description"] = description.strip()
    if spec.default is not None:
        schema["default"] = spec.default
    return schema


def block_schema(catalog: Catalog, gateway_type: str) -> dict[str, Any]:
    """``SECTION -> Key -> value`` for one gateway type: the keys a file may set (not read-only ones)."""
    type_catalog = catalog.types[gateway_type]
    sections: dict[str, Any] = {}
    for section, keys in sorted(type_catalog.sections.items()):
        settable = [key for key in keys if type_catalog.specs[key].settable]
        if not settable:
            continue
        sections[section] = {
            "type": "object",
            "properties": {key: value_schema(type_catalog.specs[key]) for key in settable},
            "additionalProperties": False,
        }
    return {
        "type": "object",
        "description": f"{gateway_type} ({type_catalog.protocol})",
        "properties": sections,
        "additionalProperties": False,
    }


def _rollout_schema() -> dict[str, Any]:
    abort = AbortPolicy.model_json_schema()
    rollout = RolloutPolicy.model_json_schema()
    rollout.pop("$defs", None)
    rollout["properties"]["abort"] = {**abort, "description": "Abort criteria; unset: never abort."}
    rollout["additionalProperties"] = False
    return rollout


def profile_schema(catalog: Catalog) -> dict[str, Any]:
    return {
        "$schema": DRAFT,
        "title": "LG2WAN reconciler profile (profiles.d/NAME.yaml)",
        "type": "object",
        "properties": {
            "name": {
                "type": "string",
                "pattern": PROFILE_NAME_PATTERN,
                "description": "Equal to the file stem.",
            },
            "description": {"type": "string"},
            "parameters": {
                "type": "object",
                "properties": {t: block_schema(catalog, t) for t in catalog.types},
                "additionalProperties": False,
            },
            "rollout": _rollout_schema(),
        },
        "required": ["name"],
        "additionalProperties": False,
    }


def gateways_schema(catalog: Catalog) -> dict[str, Any]:
    per_type = [
        {
            "if": {"properties": {"type": {"const": t}}, "required": ["type"]},
            "then": {"properties": {"subsettings": block_schema(catalog, t)}},
        }
        for t in catalog.types
    ]
    entry = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": GATEWAY_ID_PATTERN},
            "type": {"enum": list(catalog.types)},
            "profile": {"type": ["string", "null"], "pattern": PROFILE_NAME_PATTERN},
            "subsettings": {"type": "object"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "required": ["id", "type"],
        "additionalProperties": False,
        "allOf": per_type,
    }
    return {
        "$schema": DRAFT,
        "title": "LG2WAN reconciler gateways (gateways.d/**/*.yaml)",
        "type": "object",
        "properties": {"gateways": {"type": "array", "items": entry}},
        "required": ["gateways"],
        "additionalProperties": False,
    }


PROFILE_KEYS = ("name", "description", "parameters", "rollout")
"""The top-level keys of a profile file: a mapping with any of them is checked as a profile."""


def combined_schema(catalog: Catalog) -> dict[str, Any]:
    """One document for both kinds: a mapping with a profile's key (``name``, ``parameters``,
    ...) and no ``gateways`` key is a profile; anything else is a gateways file.

    So a gateways file that lost its ``gateways:`` line (a bare list of entries)
    or misspells it (``gateway:``) is told "'gateways' is a required property"
    or "is not of type 'object'", not a profile's "'name' is a required property".
    """
    profile_like = {
        "type": "object",
        "not": {"required": ["gateways"]},
        "anyOf": [{"required": [key]} for key in PROFILE_KEYS],
    }
    return {
        "$schema": DRAFT,
        "title": "LG2WAN reconciler config files",
        "$defs": {"profile": profile_schema(catalog), "gateways": gateways_schema(catalog)},
        "if": profile_like,
        "then": {"$ref": "#/$defs/profile"},
        "else": {"$ref": "#/$defs/gateways"},
    }
