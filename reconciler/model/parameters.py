"""Checks of parameter blocks (a profile's per-type block, a gateway's subsettings).

Pure: takes a :class:`~reconciler.model.catalogs.Catalog` and plain values and
returns :class:`Finding` objects addressed by their path inside the block, which
the loading layer turns into ``file:line:col`` diagnostics.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from reconciler.model.catalogs import Catalog, check_value, describe


@dataclass(frozen=True, slots=True)
class Finding:
    """A problem at ``path`` (relative to the checked block); ``at_key`` points at the key itself."""

    path: tuple[str | int, ...]
    code: str
    message: str
    at_key: bool = False


def check_block(catalog: Catalog, gateway_type: str, block: dict[str, Any]) -> list[Finding]:
    """Every problem of a ``SECTION -> Key -> value`` block for gateways of ``gateway_type``."""
    findings: list[Finding] = []
    type_catalog = catalog.types.get(gateway_type)
    if type_catalog is None:
        return [Finding((), "unknown-type", unknown_type(catalog, gateway_type), at_key=True)]
    for section, keys in block.items():
        if not isinstance(keys, dict):
            findings.append(
                Finding(
                    (section,),
                    "type",
                    f"section '{section}' must be a mapping of keys to values, got {describe(keys)}",
                )
            )
            continue
        if section not in type_catalog.sections:
            findings.append(
                Finding(
                    (section,),
                    "unknown-section",
                    f"unknown section '{section}' for {gateway_type}{_suggest(section, type_catalog.sections)}; "
                    f"sections are: {', '.join(sorted(type_catalog.sections))}",
                    at_key=True,
                )
            )
            continue
        for key, value in keys.items():
            spec = type_catalog.specs.get(key)
            if spec is None:
                findings.append(
                    Finding(
                        (section, key),
                        "unknown-key",
                        _unknown_key(catalog, gateway_type, key),
                        at_key=True,
                    )
                )
                continue
            if spec.section != section:
                findings.append(
                    Finding(
                        (section, key),
                        "wrong-section",
                        f"{key} belongs in section '{spec.section}', not '{section}'",
                        at_key=True,
                    )
                )
                continue
            if spec.access == "read-only":
                findings.append(
                    Finding(
                        (section, key),
                        "read-only",
                        f"{key} is read-only on {gateway_type}; it cannot be set",
                        at_key=True,
                    )
                )
                continue
            problem = check_value(spec, value)
            if problem is not None:
                findings.append(Finding((section, key), "value", f"{key}: {problem}"))
    return findings


def _suggest(word: str, candidates: Any, cutoff: float = 0.75) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_type(catalog: Catalog, gateway_type: object) -> str:
    """The message for a type the catalog lacks, with the closest one (off the happy path)."""
    name = gateway_type if isinstance(gateway_type, str) else describe(gateway_type)
    hint = _suggest(name, catalog.types, 0.6) if isinstance(gateway_type, str) else ""
    if not hint and isinstance(gateway_type, str):
        hint = _suggest(gateway_type.upper(), catalog.types, 0.6)
    return (
        f"unknown gateway type '{name}'{hint}; types are: {', '.join(sorted(catalog.types))} "
        "(a new type is defined in catalog.d)"
    )


def _unknown_key(catalog: Catalog, gateway_type: str, key: str) -> str:
    elsewhere = [t for t, c in catalog.types.items() if key in c.specs]
    if elsewhere:
        return f"{key} is not a parameter of {gateway_type} gateways (it exists for {', '.join(elsewhere)})"
    return f"unknown parameter '{key}' for {gateway_type}{_suggest(key, catalog.types[gateway_type].specs)}"
