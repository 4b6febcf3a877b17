"""``reconciler status [REPO]``: the members table, per profile, counts on top.

Joins the declarations of REPO's working tree, the rollout statuses of
``--state DB`` and the head-end's inventory (``--inventory FILE`` or
``--headend URL``) through :mod:`reconciler.cli.inputs`; what to list is
:func:`reconciler.members.listing.listing`; prints with
:mod:`reconciler.cli.members`.  Read-only.  ``--profile P`` and ``--query Q``
narrow the list (both given: a member must match both).

Exit codes: 0 the table was printed (even when nothing matches); 1 an input
could not be read; 2 usage (bad option, malformed query, unknown profile).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cli import inputs, members
from reconciler.cli.common import StateLocationValue
from reconciler.errors import UnknownProfileError
from reconciler.members.listing import listing


@click.command("status", short_help="Show each profile's members with their rollout status.")
@click.argument(
    "repo", required=False, default=".", type=click.Path(file_okay=False, path_type=Path)
)
@inputs.input_options
@click.option(
    "--profile",
    metavar="P",
    envvar="RECONCILER_PROFILE",
    help="Only the members of profile P ('none': gateways without a profile).",
)
@click.option(
    "--query",
    metavar="Q",
    envvar="RECONCILER_QUERY",
    help="Only the members matching the Magic Search query Q (see `reconciler search -h`).",
)
@members.view_options
def command(
    repo: Path,
    state_path: StateLocationValue | None,
    inventory_path: Path | None,
    headend_url: str | None,
    profile: str | None,
    query: str | None,
    output_format: str,
    wide: bool,
) -> None:
    """Show the members of every profile of REPO (default: the current directory) with their rollout status."""
    if not repo.is_dir():
        raise click.UsageError(f"{repo}: not a directory")
    if inventory_path is not None and headend_url is not None:
        raise click.UsageError("--inventory and --headend are alternatives: give one")
    try:
        fleet = inputs.gather(
            repo, state_path=state_path, inventory_path=inventory_path, headend_url=headend_url
        )
    except inputs.InputError as exc:
        click.echo(f"reconciler: {exc}", err=True)
        sys.exit(1)
    parsed = members.parse_query(query, fleet.repo) if query is not None else None
    try:
        v = listing(fleet.members, query=parsed, profile=profile, profiles=fleet.repo.profiles)
    except UnknownProfileError as exc:
        listed = ", ".join(exc.profiles) or "none"
        raise click.UsageError(
            f"no profile '{exc.profile}' in {repo}; profiles: {listed}"
        ) from None
    members.echo(v, notes=fleet.notes, output_format=output_format, wide=wide)
