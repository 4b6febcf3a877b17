"""``reconciler unassign --query Q``: the matching gateways leave their profile (entries stay).

Thin: the selection is :func:`reconciler.cli.assign.select`, the rules and the
edit :func:`reconciler.editing.membership.unassign`, the gate and the write
:func:`reconciler.cli.edits.finish`.  A gateway that leaves its profile gets
one rollout of the firmware defaults, then only its subsettings are managed.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli import assign, edits, inputs
from reconciler.cli.common import StateLocationValue
from reconciler.editing import membership


@click.command("unassign", short_help="Remove the gateways that match a query from their profile.")
@click.option("--query", "-q", required=True, envvar="RECONCILER_QUERY", help="Magic Search query.")
@edits.dry_run_option
@edits.repo_option
@inputs.input_options
def command(
    query: str,
    dry_run: bool,
    repo: Path,
    state_path: StateLocationValue | None,
    inventory_path: Path | None,
    headend_url: str | None,
) -> None:
    """Remove the matching gateways from their profile (keeps entry, subsettings, labels).

    \b
      reconciler unassign --query 'profile:canary type:LSG' --dry-run

    Exit 0 done or nothing to do, 1 refused (active rollout, no match), 2 usage.
    """
    repo_model, rows = assign.select(
        query,
        repo,
        state_path=state_path,
        inventory_path=inventory_path,
        headend_url=headend_url,
    )
    with edits.reported():
        edit = membership.unassign(repo, repo_model, rows, query=query)
    edits.finish(repo, edit, dry_run=dry_run)
