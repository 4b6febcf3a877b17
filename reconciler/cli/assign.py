"""``reconciler assign PROFILE --query Q``: the matching gateways become members of PROFILE.

Thin: the query (:mod:`reconciler.members.search`) selects among the declared
gateways, the gateways only the store still knows, and the inventory's
gateways that are declared nowhere (:func:`select`, shared with
``unassign``); the membership rules and the edit are
:func:`reconciler.editing.membership.assign`; the gate and the write are
:func:`reconciler.cli.edits.finish`.  Exit 0 done or nothing to do, 1 refused
(the gateways listed, nothing written), 2 usage (a malformed query, an
unreadable input, an unknown profile, a bad ``--file``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cli import edits, inputs, members
from reconciler.cli.common import StateLocationValue
from reconciler.editing import membership
from reconciler.members import search
from reconciler.model.repos import Repo


def select(
    query: str,
    repo: Path,
    *,
    state_path: StateLocationValue | None,
    inventory_path: Path | None,
    headend_url: str | None,
) -> tuple[Repo, list[search.Member]]:
    """The repo and the members that match ``query`` (exit 2 on a bad query or input); notes printed."""
    edits.check_repo_dir(repo)
    if inventory_path is not None and headend_url is not None:
        raise click.UsageError("--inventory and --headend are alternatives: give one")
    try:
        fleet = inputs.gather(
            repo,
            state_path=state_path,
            inventory_path=inventory_path,
            headend_url=headend_url,
            include_inventory=True,
        )
    except inputs.InputError as exc:
        click.echo(f"reconciler: {exc}", err=True)
        sys.exit(2)
    parsed = members.parse_query(query, fleet.repo)
    for note in fleet.notes:
        click.echo(f"note: {note}", err=True)
    return fleet.repo, search.select(parsed, fleet.members)


@click.command("assign", short_help="Make the gateways that match a query members of a profile.")
@click.argument("profile")
@click.option("--query", "-q", required=True, envvar="RECONCILER_QUERY", help="Magic Search query.")
@click.option("--reassign", is_flag=True, help="Also move gateways that are in another profile.")
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="gateways.d file for new entries (default: where most of PROFILE's members are).",
)
@edits.dry_run_option
@edits.repo_option
@inputs.input_options
def command(
    profile: str,
    query: str,
    reassign: bool,
    file: Path | None,
    dry_run: bool,
    repo: Path,
    state_path: StateLocationValue | None,
    inventory_path: Path | None,
    headend_url: str | None,
) -> None:
    """Make the gateways that match QUERY members of PROFILE (edits gateways.d).

    \b
      reconciler assign canary --query 'type:ACCU firmware:>=1.4.0' --inventory inv.json
      reconciler assign public-ac --query 'label:site=essen-rue' --reassign --dry-run

    Existing entries get `profile:` set in place; gateways of the inventory
    that are declared nowhere get a new entry (in --file, or the file with
    most of PROFILE's members).  Exit 0 done or nothing to do, 1 refused, 2 usage.
    """
    with edits.reported():
        target = membership.entries_file(repo, file) if file is not None else None
    repo_model, rows = select(
        query,
        repo,
        state_path=state_path,
        inventory_path=inventory_path,
        headend_url=headend_url,
    )
    with edits.reported():
        edit = membership.assign(
            repo, repo_model, rows, profile, query=query, reassign=reassign, file=target
        )
    edits.finish(repo, edit, dry_run=dry_run)
