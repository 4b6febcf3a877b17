"""``reconciler profile new NAME``: writes ``profiles.d/NAME.yaml``, a new profile group.

Thin: the name rules, the skeleton or the copy of ``--from OTHER`` are
:func:`reconciler.editing.profiles.new_profile`; the gate and the write are
:func:`reconciler.cli.edits.finish`.  Refused (exit 1): a name that is not
``[a-z0-9][a-z0-9-]{0,62}``, a profile that exists, an unknown OTHER, a
repository that would be invalid afterwards.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli import WholeHelpGroup, edits
from reconciler.editing import profiles


@click.group("profile", cls=WholeHelpGroup)
def command() -> None:
    """Profile groups: files in profiles.d."""


@command.command("new")
@click.argument("name")
@click.option("--description", help="One line shown in reports (optional).")
@click.option(
    "--from", "source", metavar="OTHER", help="Copy profile OTHER (its values and comments)."
)
@edits.dry_run_option
@edits.repo_option
def new(name: str, description: str | None, source: str | None, dry_run: bool, repo: Path) -> None:
    """Create profile NAME as profiles.d/NAME.yaml.

    \b
      reconciler profile new night-charging --description "Depots, cheap tariff"
      reconciler profile new public-ac-v2 --from public-ac

    Exit 0 written, 1 refused (bad or taken name, unknown OTHER, invalid result).
    """
    edits.check_repo_dir(repo)
    with edits.reported():
        edit = profiles.new_profile(repo, name, description=description, source=source)
    edits.finish(repo, edit, dry_run=dry_run)
