"""``reconciler set GATEWAY SECTION.Key=VALUE ... [--unset SECTION.Key]``: Quick Config.

Edits one gateway's ``subsettings`` in its gateways.d file (the seed's Quick
Config).  Each VALUE is parsed by the catalog type of Key for the gateway's
type (:func:`reconciler.editing.edits.parse_value`) and checked with the
catalog's bounds before anything is written; a key in the wrong section is
refused with the right one; a secret is accepted only as ``{secret: NAME}``.
Then the whole repository is validated as it would be after the edit
(:mod:`reconciler.cli.edits`).  Exit 0 written or nothing to change, 1 refused,
2 usage.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import click

from reconciler.cli import edits
from reconciler.editing import edits as editing
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.model.catalogs import Catalog, ParameterSpec


def _split_key(text: str) -> tuple[str, str]:
    section, dot, key = text.partition(".")
    if not dot or not section or not key:
        raise click.UsageError(f"'{text}': expected SECTION.Key, e.g. charging.MaxChargingCurrent")
    return section, key


def _spec(
    catalog: Catalog, gateway_id: str, gateway_type: str, section: str, key: str
) -> ParameterSpec:
    spec = catalog.spec(gateway_type, key)
    if spec is None:
        known = list(catalog.types[gateway_type].specs)
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        edits.refuse(
            f"{gateway_id} is an {gateway_type}: its catalog has no parameter '{key}'{hint}"
        )
    if spec.section != section:
        edits.refuse(f"{key} belongs in section '{spec.section}', not '{section}'")
    return spec


@click.command("set")
@click.argument("gateway")
@click.argument("assignments", nargs=-1, metavar="SECTION.Key=VALUE...")
@click.option(
    "--unset", "unset", multiple=True, metavar="SECTION.Key", help="Remove this subsetting."
)
@edits.dry_run_option
@edits.repo_option
def command(
    gateway: str, assignments: tuple[str, ...], unset: tuple[str, ...], dry_run: bool, repo: Path
) -> None:
    """Set or remove subsettings of GATEWAY (they override its profile).

    \b
      reconciler set LSX-000125 charging.MaxChargingCurrent=16 display.LightIntensity=40
      reconciler set LSG-004512 metering.MeterValuesSampledData=Energy.Active.Import.Register,Voltage
      reconciler set ACCU-000011 backend.AuthorizationKey='{secret: depot_key}'
      reconciler set LSX-000125 --unset display.LightIntensity

    VALUE by the key's type: integer 16, decimal 45.5, boolean true/false,
    enum and string as written, list a,b or [a, b], secret {secret: NAME}.
    """
    edits.check_repo_dir(repo)
    if not assignments and not unset:
        raise click.UsageError("nothing to do: give SECTION.Key=VALUE or --unset SECTION.Key")
    before = load_repo(DirectorySource(repo))
    entry = before.gateways.get(gateway)
    if entry is None:
        close = difflib.get_close_matches(gateway, list(before.gateways), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        edits.refuse(
            f"no gateway {gateway} in gateways.d{hint} "
            "(an entry with errors does not count: see `reconciler validate`)"
        )
    values: dict[editing.Key, Any] = {}
    for assignment in assignments:
        target, equals, text = assignment.partition("=")
        if not equals:
            raise click.UsageError(f"'{assignment}': expected SECTION.Key=VALUE")
        section, key = _split_key(target)
        spec = _spec(before.catalog, gateway, entry.type, section, key)
        try:
            values[(section, key)] = editing.parse_value(spec, text)
        except ValueError as exc:
            edits.refuse(f"{section}.{key}={text}: {exc}")
    removals: list[editing.Key] = []
    for item in unset:
        section, key = _split_key(item)
        if (section, key) in values:
            raise click.UsageError(f"{item} is both set and unset")
        if key not in entry.subsettings.get(section, {}):
            _spec(before.catalog, gateway, entry.type, section, key)
            edits.refuse(f"{gateway} has no subsetting {section}.{key} to unset")
        removals.append((section, key))
    path = before.gateway_files[gateway]
    old = edits.read_text(repo, path)
    try:
        new = editing.set_subsettings(old, gateway, values, removals)
    except editing.EditError as exc:
        edits.refuse(f"{path}: {exc}")
    summary = [
        f"{path}: {gateway} {s}.{k} = {editing.flow_text(v)}" for (s, k), v in values.items()
    ]
    summary += [
        f"{path}: {gateway} {s}.{k} removed (the profile's value applies)" for s, k in removals
    ]
    edits.finish(repo, [edits.Change(path, old, new)], summary, before=before, dry_run=dry_run)
