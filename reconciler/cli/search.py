"""``reconciler search QUERY [REPO]``: Magic Search over the members; prints the matches.

The query language is documented in :mod:`reconciler.members.query`,
:mod:`reconciler.members.matching` and ``docs/search.md``.  Inputs as for
``reconciler status`` (:mod:`reconciler.cli.inputs`); the matches are
:func:`reconciler.members.listing.listing`, the daemon's ``GET /api/v1/members``
finds the same; the output is the same members table (:mod:`reconciler.cli.members`).

Exit codes, as grep's: 0 at least one gateway matches; 1 none matches;
2 a malformed query (the message points at the column), a usage error, or an
input that cannot be read.  So ``if reconciler search Q; then`` means "found".
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cli import inputs, members
from reconciler.cli.common import StateLocationValue
from reconciler.members.listing import listing


class _SearchCommand(click.Command):
    """Says how to pass a query that starts with '-' instead of only "no such option"."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # click's parser consumes ``args``
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            term = next((a for a in given if a.startswith("-") and not a.startswith("--")), None)
            if term is None:
                raise
            raise click.UsageError(
                f"{exc.format_message()} A query that starts with '-' (a negated term) "
                f"follows '--': reconciler search -- '{term}' [REPO]",
                ctx,
            ) from None


@click.command(
    "search", cls=_SearchCommand, short_help="Find the gateways that match a Magic Search query."
)
@click.argument("query")
@click.argument(
    "repo", required=False, default=".", type=click.Path(file_okay=False, path_type=Path)
)
@inputs.input_options
@members.view_options
def command(
    query: str,
    repo: Path,
    state_path: StateLocationValue | None,
    inventory_path: Path | None,
    headend_url: str | None,
    output_format: str,
    wide: bool,
) -> None:
    """Find the gateways of REPO (default: the current directory) that match QUERY.

    \b
    Free words match any field; field:value narrows (all terms must match):
      type:LSX status:mismatch owner:stadtwerke
      firmware:<2.0.0 -profile:canary
      label:site=dortmund-hbf  profile:none  owner:"Parkhaus GmbH"
    Fields: id type firmware profile status provider address owner station
    port label subsetting.  type: takes any type of the repository's catalog
    (shipped and catalog.d).  A leading '-' negates a term; a query that
    starts with one follows '--':  reconciler search -- -status:accepted

    Exit 0 when something matches, 1 when nothing does, 2 on errors.
    """
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
        sys.exit(2)
    parsed = members.parse_query(query, fleet.repo)
    v = listing(fleet.members, query=parsed, profiles=fleet.repo.profiles)
    members.echo(v, notes=fleet.notes, output_format=output_format, wide=wide)
    sys.exit(0 if v.rows else 1)
