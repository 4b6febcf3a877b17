"""``reconciler apply [REPO]``: one reconcile of the repository's current commit, to the end.

Finishes what an earlier run left (resume), plans against the store and the
head-end's inventory, rolls out, reads back, and prints a summary table.
Exit 0 when every rolled-out gateway reached Accepted, 1 otherwise.
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
from reconciler.engine.rollouts import Engine, Outcome
from reconciler.loading.secrets import SecretResolver
from reconciler.plan import rendering
from reconciler.plan.planning import Action, Plan, Planner


async def run_apply(
    repo_path: Path, headend: str, state_path: Path, console: Console
) -> tuple[Outcome, Outcome, int]:
    """Resume, plan, apply; returns (resumed, applied, gateway errors in the plan)."""
    source, commit = common.repo_source(repo_path)
    repo = common.load_valid(source, f"commit {commit[:12]}" if commit else str(repo_path))
    store = common.open_store(state_path)
    resolve = SecretResolver()
    try:
        settings = HeadendSettings.from_env(base_url=headend)
    except ValueError as exc:
        common.fail(f"head-end settings: {exc}")
    policies = {name: profile.rollout for name, profile in repo.profiles.items()}
    async with HttpDriver(settings) as driver:
        inventory = {g.id: g for g in await driver.inventory()}
        engine = Engine(driver=driver, store=store, catalog=repo.catalog, resolve_secret=resolve)
        with common.Progress(console) as progress:
            engine.on_progress = progress
            resumed = await engine.resume(policies)
            plan = Planner(repo.catalog, digest=common.secret_digest(store, resolve)).plan(
                repo, inventory, store.applied()
            )
            console.print(rendering.totals_line(plan), soft_wrap=True)
            failed = [p for p in plan.gateways.values() if p.action is Action.ERROR]
            for p in failed:
                console.print(f"  ! {p.gateway_id}: {p.message}")
            work = Plan({p.gateway_id: p for p in plan.actionable()})
            # The declarations, the inventory and the unchanged gateways' plans are not needed
            # to roll out: free them (~1.5 KB per gateway) before the rollout's own peak.
            del plan, repo, inventory
            applied = await engine.apply(work, commit=commit, policies=policies)
    store.close()
    return resumed, applied, len(failed)


@click.command("apply")
@click.argument(
    "repo", required=False, default=".", type=click.Path(file_okay=False, path_type=Path)
)
@common.headend_option
@common.state_option
def command(repo: Path, headend: str, state_path: Path) -> None:
    """Roll out REPO's current commit (default: the current directory) and wait until it ends."""
    console = Console(highlight=False)
    try:
        resumed, applied, plan_errors = asyncio.run(run_apply(repo, headend, state_path, console))
    except errors.HeadendError as exc:
        common.fail(
            f"head-end: {exc}; every rollout keeps a durable status, run apply again to resume"
        )
    if resumed.groups:
        common.print_outcome(console, resumed, "Resumed from an earlier run")
    if applied.groups:
        common.print_outcome(console, applied, "Rollout")
    else:
        console.print("Nothing to roll out.")
    ok = resumed.all_accepted and applied.all_accepted and plan_errors == 0
    sys.exit(0 if ok else 1)
