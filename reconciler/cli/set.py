"""``reconciler set GATEWAY SECTION.Key=VALUE ... [--unset SECTION.Key]``: Quick Config.

Thin: the parsing of each VALUE by the catalog type of its key, the checks and
the edit of the gateway's ``subsettings`` are
:func:`reconciler.editing.quickconfig.set_subsettings`; the gate and the
write are :func:`reconciler.cli.edits.finish`.  Exit 0 written or nothing to
change, 1 refused, 2 usage.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli import edits
from reconciler.editing import quickconfig


@click.command("set", short_help="Set or remove subsettings of one gateway.")
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
    with edits.reported():
        edit = quickconfig.set_subsettings(repo, gateway, assignments, unset)
    edits.finish(repo, edit, dry_run=dry_run)
