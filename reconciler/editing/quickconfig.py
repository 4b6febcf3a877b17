"""Quick Config: set or remove subsettings of one gateway, checked against its type's catalog.

Called by ``reconciler set`` (:mod:`reconciler.cli.set`) with the command
line's ``SECTION.Key=VALUE`` and ``SECTION.Key`` texts; usable by anything
else that edits subsettings, since it raises exceptions of
:mod:`reconciler.errors` and never prints or exits.  The result is an
:class:`~reconciler.editing.gate.Edit` for :func:`reconciler.editing.gate.apply`.

Each VALUE is parsed by the catalog type of Key for the gateway's type
(:func:`reconciler.editing.edits.parse_value`) and checked with the catalog's
bounds before anything is written; a key in the wrong section is refused with
the right one; a secret is accepted only as ``{secret: NAME}``.

Refusals (:class:`~reconciler.errors.EditError`): an unknown gateway (an
entry with errors does not count), a key the type's catalog lacks, a key in
the wrong section, a bad value, ``unset`` of a subsetting the gateway lacks,
an edit that would reformat other lines.  Malformed requests
(:class:`~reconciler.errors.EditUsageError`): nothing to do, a text that is
not ``SECTION.Key=VALUE``, a key both set and unset.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reconciler.editing import edits
from reconciler.editing.gate import Change, Edit, read_text
from reconciler.errors import EditError, EditUsageError
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.model.catalogs import Catalog, ParameterSpec


def split_key(text: str) -> tuple[str, str]:
    """``SECTION.Key`` -> ``(SECTION, Key)``; :class:`EditUsageError` when it is not that."""
    section, dot, key = text.partition(".")
    if not dot or not section or not key:
        raise EditUsageError(f"'{text}': expected SECTION.Key, e.g. charging.MaxChargingCurrent")
    return section, key


def spec_of(
    catalog: Catalog, gateway_id: str, gateway_type: str, section: str, key: str
) -> ParameterSpec:
    """The catalog entry of ``key`` for ``gateway_type``, which must be in ``section``."""
    spec = catalog.spec(gateway_type, key)
    if spec is None:
        known = list(catalog.types[gateway_type].specs)
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise EditError(
            f"{gateway_id} is an {gateway_type}: its catalog has no parameter '{key}'{hint}"
        )
    if spec.section != section:
        raise EditError(f"{key} belongs in section '{spec.section}', not '{section}'")
    return spec


def set_subsettings(
    repo_path: Path, gateway: str, assignments: Sequence[str], unset: Sequence[str] = ()
) -> Edit:
    """Set ``assignments`` (``SECTION.Key=VALUE``) and remove ``unset`` (``SECTION.Key``) of ``gateway``.

    Reads the repository at ``repo_path``; returns the edit, not yet written.
    """
    if not assignments and not unset:
        raise EditUsageError("nothing to do: give SECTION.Key=VALUE or --unset SECTION.Key")
    before = load_repo(DirectorySource(repo_path))
    entry = before.gateways.get(gateway)
    if entry is None:
        close = difflib.get_close_matches(gateway, list(before.gateways), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise EditError(
            f"no gateway {gateway} in gateways.d{hint} "
            "(an entry with errors does not count: see `reconciler validate`)"
        )
    values: dict[edits.Key, Any] = {}
    for assignment in assignments:
        target, equals, text = assignment.partition("=")
        if not equals:
            raise EditUsageError(f"'{assignment}': expected SECTION.Key=VALUE")
        section, key = split_key(target)
        spec = spec_of(before.catalog, gateway, entry.type, section, key)
        try:
            values[(section, key)] = edits.parse_value(spec, text)
        except ValueError as exc:
            raise EditError(f"{section}.{key}={text}: {exc}") from None
    removals: list[edits.Key] = []
    for item in unset:
        section, key = split_key(item)
        if (section, key) in values:
            raise EditUsageError(f"{item} is both set and unset")
        if key not in entry.subsettings.get(section, {}):
            spec_of(before.catalog, gateway, entry.type, section, key)
            raise EditError(f"{gateway} has no subsetting {section}.{key} to unset")
        removals.append((section, key))
    path = before.gateway_files[gateway]
    old = read_text(repo_path, path)
    try:
        new = edits.set_subsettings(old, gateway, values, removals)
    except EditError as exc:
        raise EditError(f"{path}: {exc}") from None
    summary = [f"{path}: {gateway} {s}.{k} = {edits.flow_text(v)}" for (s, k), v in values.items()]
    summary += [
        f"{path}: {gateway} {s}.{k} removed (the profile's value applies)" for s, k in removals
    ]
    return Edit(before, [Change(path, old, new)], summary)
