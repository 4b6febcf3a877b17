"""``reconciler unassign --query Q``: the matching gateways leave their profile (entries stay).

Thin: selection, refusals and editing are shared with ``assign`` in
:mod:`reconciler.cli.assign`.  A gateway that leaves its profile gets one
rollout of the firmware defaults, then only its subsettings are managed
(DESIGN.md section 4).
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli import assign, edits, inputs


@click.command("unassign")
@click.option("--query", "-q", required=True, envvar="RECONCILER_QUERY", help="Magic Search query.")
@edits.dry_run_option
@edits.repo_option
@inputs.input_options
def command(
    query: str,
    dry_run: bool,
    repo: Path,
    state_path: Path | None,
    inventory_path: Path | None,
    headend_url: str | None,
) -> None:
    """Remove the matching gateways from their profile (keeps entry, subsettings, labels).

    \b
      reconciler unassign --query 'profile:canary type:LSG' --dry-run

    Exit 0 done or nothing to do, 1 refused (active rollout, no match), 2 usage.
    """
    assign.unassign(
        query,
        dry_run,
        repo,
        state_path=state_path,
        inventory_path=inventory_path,
        headend_url=headend_url,
    )
