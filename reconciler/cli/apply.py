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

``--quiet`` prints only the summary and the errors; ``--format json`` prints
one JSON document on stdout at the end (:func:`document`; progress, when not
quiet, goes to stderr then).  Progress and summaries are in
:mod:`reconciler.cli.outcomes`.

On a shared store (``--state postgresql://...``) apply leads the store while it
runs and carries the rollout out with a worker of its own
(:mod:`reconciler.cli.leading`); it is refused (exit 1) while a ``reconciler
run`` daemon leads it, as a second writer of a SQLite store is.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from reconciler import errors
from reconciler.cli import common, leading, outcomes
from reconciler.drivers.http import HttpDriver
from reconciler.drivers.settings import HeadendSettings
from reconciler.engine import cycle
from reconciler.loading.secrets import SecretResolver
from reconciler.plan.guards import DEFAULT_MAX_RESET_SHARE


async def run_apply(
    repo_path: Path,
    headend: str,
    state_path: common.StateLocationValue,
    console: Console,
    *,
    max_reset_share: float = DEFAULT_MAX_RESET_SHARE,
    allow_reset: str | None = None,
    quiet: bool = False,
) -> tuple[cycle.CycleResult, str | None]:
    """Load the current commit, open the store and the head-end, and run one cycle.

    Returns the cycle's result and the commit it planned (``None``: not a git repository).
    On a shared store it leads the store meanwhile (:mod:`reconciler.cli.leading`).
    """
    source, commit = common.repo_source(repo_path)
    repo = common.load_valid(source, f"commit {commit[:12]}" if commit else str(repo_path))
    try:
        settings = HeadendSettings.from_env(base_url=headend)
    except ValueError as exc:
        common.fail(f"head-end settings: {exc}")
    store = common.open_store(state_path)
    lead = leading.lead_or_fail(store, state_path)

    def planned(plan: cycle.PlanSummary) -> None:
        if not quiet:
            console.print(plan.totals, soft_wrap=True, markup=False)
        for gateway_id, message in plan.errors:
            console.print(f"  ! {gateway_id}: {message}", soft_wrap=True, markup=False)

    resolve_secret = SecretResolver()
    try:
        async with HttpDriver(settings) as driver:
            with outcomes.Progress(console, quiet=quiet) as progress:
                work = cycle.reconcile_once(
                    repo=repo,
                    commit=commit,
                    driver=driver,
                    store=store,
                    resolve_secret=resolve_secret,
                    on_progress=progress,
                    on_planned=planned,
                    max_reset_share=max_reset_share,
                    allow_reset=allow_reset,
                    shared=lead is not None,
                )
                if lead is not None:
                    catalog, policies = repo.catalog, cycle.policies_of(repo)
                    del repo  # the cycle frees the declarations once planned
                    result = await lead.carry_out(
                        work,
                        driver=driver,
                        catalog=catalog,
                        policies=policies,
                        resolve_secret=resolve_secret,
                    )
                    return result, commit
                del repo  # the cycle frees the declarations once planned
                return await work, commit
    finally:
        if lead is not None:
            lead.resign()
        store.close()


def document(result: cycle.CycleResult, commit: str | None) -> dict[str, Any]:
    """``apply --format json``: the plan's figures, what was resumed and rolled out, the exit code.

    ``result``: ``accepted`` (exit 0: every gateway rolled out reached Accepted, none had a
    plan error), ``not_accepted`` (exit 1: one did not, a rollout was aborted, or a plan
    error) or ``held`` (exit 1: the reset limit held the commit, nothing rolled out).
    """
    plan = result.plan
    verdict = "held" if result.held else "accepted" if result.all_accepted else "not_accepted"
    return {
        "format_version": 1,
        "command": "apply",
        "commit": commit,
        "result": verdict,
        "exit_code": 0 if verdict == "accepted" else 1,
        "plan": {
            "totals": plan.totals,
            "planned": plan.planned,
            "actionable": plan.actionable,
            "deferred": len(plan.deferred),
            "errors": [
                {"id": gateway_id, "message": message} for gateway_id, message in plan.errors
            ],
            "resets": plan.resets,
            "managed": plan.managed,
            "held": plan.held,
            "allowed": plan.allowed,
        },
        "resumed": outcomes.outcome_json(result.resumed) if result.resumed is not None else None,
        "rollout": outcomes.outcome_json(result.applied),
    }


@click.command("apply", short_help="Roll out the repository's current commit, to the end.")
@click.argument(
    "repo", required=False, default=".", type=click.Path(file_okay=False, path_type=Path)
)
@common.headend_option
@common.state_option
@common.reset_options
@outcomes.format_option
@outcomes.quiet_option
def command(
    repo: Path,
    headend: str,
    state_path: common.StateLocationValue,
    max_reset_share: float,
    allow_reset: str | None,
    output_format: str,
    quiet: bool,
) -> None:
    """Roll out REPO's current commit (default: the current directory) and wait until it ends."""
    as_json = output_format == "json"
    # With JSON, stdout holds the document only: what people read goes to stderr.
    console = Console(highlight=False, stderr=as_json)
    try:
        result, commit = asyncio.run(
            run_apply(
                repo,
                headend,
                state_path,
                console,
                max_reset_share=max_reset_share,
                allow_reset=allow_reset or None,
                quiet=quiet,
            )
        )
    except errors.HeadendError as exc:
        common.fail(
            f"head-end: {exc}; every rollout keeps a durable status, run apply again to resume"
        )
    except errors.StoreError as exc:
        if not common.is_url(state_path):
            raise
        common.fail(str(exc))  # a database away, the lease lost: one line
    if as_json:
        click.echo(json.dumps(document(result, commit), indent=2, ensure_ascii=False))
    elif result.resumed is not None and result.resumed.groups:
        outcomes.print_outcome(console, result.resumed, "Resumed from an earlier run")
    if result.held:
        name = commit or "COMMIT"
        common.fail(
            f"commit {name[:12]} held, nothing rolled out: it {result.held}. If that is "
            f"intended, run again with --allow-reset {name} (or RECONCILER_ALLOW_RESET={name})"
            + ("" if commit else "; REPO is no git repository: commit it first")
        )
    if result.plan.allowed:
        console.print(
            f"Resetting {result.plan.resets} of "
            f"{common.plural(result.plan.managed, 'managed gateway')} "
            "to firmware defaults (--allow-reset names this commit)."
        )
    if not as_json and result.applied.groups:
        outcomes.print_outcome(console, result.applied, "Rollout")
    elif not as_json:
        console.print("Nothing to roll out.")
    sys.exit(0 if result.all_accepted else 1)
