"""``reconciler apply [REPO]``: one reconcile of the repository's current commit, to the end.

Thin over :func:`reconciler.engine.cycle.reconcile_once` (the daemon runs the
same cycle): finishes what an earlier run left (resume), plans against the
store and the head-end's inventory, rolls out (the engine reads back), and
prints the plan's totals, its errors and a summary table.  A commit the prune
guard holds (:mod:`reconciler.plan.guards`: it would reset more than
``--max-reset-share`` of the managed gateways to firmware defaults, or all of
them) is not rolled out: apply says why and how to let it through
(``--allow-reset COMMIT``) and exits 1.  Exit 0 when every rolled-out gateway
reached Accepted and no gateway's plan is an error, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
from rich.console import Console

from reconciler import errors
from reconciler.cli import common
from reconciler.drivers.http import HttpDriver
from reconciler.drivers.settings import HeadendSettings
from reconciler.engine import cycle
from reconciler.loading.secrets import SecretResolver
from reconciler.plan.guards import DEFAULT_MAX_RESET_SHARE


async def run_apply(
    repo_path: Path,
    headend: str,
    state_path: Path,
    console: Console,
    *,
    max_reset_share: float = DEFAULT_MAX_RESET_SHARE,
    allow_reset: str | None = None,
) -> tuple[cycle.CycleResult, str | None]:
    """Load the current commit, open the store and the head-end, and run one cycle.

    Returns the cycle's result and the commit it planned (``None``: not a git repository).
    """
    source, commit = common.repo_source(repo_path)
    repo = common.load_valid(source, f"commit {commit[:12]}" if commit else str(repo_path))
    try:
        settings = HeadendSettings.from_env(base_url=headend)
    except ValueError as exc:
        common.fail(f"head-end settings: {exc}")
    store = common.open_store(state_path)

    def planned(plan: cycle.PlanSummary) -> None:
        console.print(plan.totals, soft_wrap=True)
        for gateway_id, message in plan.errors:
            console.print(f"  ! {gateway_id}: {message}")

    try:
        async with HttpDriver(settings) as driver:
            with common.Progress(console) as progress:
                work = cycle.reconcile_once(
                    repo=repo,
                    commit=commit,
                    driver=driver,
                    store=store,
                    resolve_secret=SecretResolver(),
                    on_progress=progress,
                    on_planned=planned,
                    max_reset_share=max_reset_share,
                    allow_reset=allow_reset,
                )
                del repo  # the cycle frees the declarations once planned
                return await work, commit
    finally:
        store.close()


@click.command("apply")
@click.argument(
    "repo", required=False, default=".", type=click.Path(file_okay=False, path_type=Path)
)
@common.headend_option
@common.state_option
@common.reset_options
def command(
    repo: Path, headend: str, state_path: Path, max_reset_share: float, allow_reset: str | None
) -> None:
    """Roll out REPO's current commit (default: the current directory) and wait until it ends."""
    console = Console(highlight=False)
    try:
        result, commit = asyncio.run(
            run_apply(
                repo,
                headend,
                state_path,
                console,
                max_reset_share=max_reset_share,
                allow_reset=allow_reset or None,
            )
        )
    except errors.HeadendError as exc:
        common.fail(
            f"head-end: {exc}; every rollout keeps a durable status, run apply again to resume"
        )
    if result.resumed is not None and result.resumed.groups:
        common.print_outcome(console, result.resumed, "Resumed from an earlier run")
    if result.held:
        name = commit or "COMMIT"
        common.fail(
            f"commit {name[:12]} held, nothing rolled out: it {result.held}. If that is "
            f"intended, run again with --allow-reset {name} (or RECONCILER_ALLOW_RESET={name})"
            + ("" if commit else "; REPO is no git repository: commit it first")
        )
    if result.plan.allowed:
        console.print(
            f"Resetting {result.plan.resets:,} of {result.plan.managed:,} managed gateways "
            "to firmware defaults (--allow-reset names this commit)."
        )
    if result.applied.groups:
        common.print_outcome(console, result.applied, "Rollout")
    else:
        console.print("Nothing to roll out.")
    sys.exit(0 if result.all_accepted else 1)
