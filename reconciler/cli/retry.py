"""``reconciler retry PROFILE``: Retry Upload for the profile's Declined and Mismatch members.

Thin over :func:`reconciler.engine.cycle.retry_once`.  Refused (exit 1) when
no member may be retried (the rule of :mod:`reconciler.members.retrying`).
Exit 0 when every retried gateway reached Accepted, 1 otherwise.  ``--quiet``
and ``--format json`` as for ``apply`` (:mod:`reconciler.cli.outcomes`).  On a
shared store (``--state postgresql://...``) retry leads the store and works as
``apply`` does (:mod:`reconciler.cli.leading`), and is refused while a daemon
leads it.
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
from reconciler.engine.rollouts import NothingToRetry, Outcome
from reconciler.loading.secrets import SecretResolver


async def run_retry(
    profile: str,
    repo_path: Path,
    headend: str,
    state_path: common.StateLocationValue,
    console: Console,
    *,
    quiet: bool = False,
) -> tuple[Outcome, str | None]:
    """Load the current commit (policies, catalog), open the store and the head-end, retry.

    Returns the outcome and the commit whose policies applied (``None``: not a git repository).
    """
    source, commit = common.repo_source(repo_path)
    repo = common.load_valid(source, f"commit {commit[:12]}" if commit else str(repo_path))
    store = common.open_store(state_path)
    lead = leading.lead_or_fail(
        store,
        state_path,
        instead=f"retry through its POST /api/v1/profiles/{profile}/retry instead",
    )
    resolve_secret = SecretResolver()
    try:
        async with HttpDriver(HeadendSettings.from_env(base_url=headend)) as driver:
            with outcomes.Progress(console, quiet=quiet) as progress:
                work = cycle.retry_once(
                    profile=profile,
                    repo=repo,
                    commit=commit,
                    driver=driver,
                    store=store,
                    resolve_secret=resolve_secret,
                    on_progress=progress,
                    shared=lead is not None,
                )
                if lead is not None:
                    outcome = await lead.carry_out(
                        work,
                        driver=driver,
                        catalog=repo.catalog,
                        policies=cycle.policies_of(repo),
                        resolve_secret=resolve_secret,
                    )
                else:
                    outcome = await work
                return outcome, commit
    finally:
        if lead is not None:
            lead.resign()
        store.close()


def document(profile: str, outcome: Outcome, commit: str | None) -> dict[str, Any]:
    """``retry --format json``: ``result`` ``accepted`` (exit 0) or ``not_accepted`` (exit 1)."""
    verdict = "accepted" if outcome.all_accepted else "not_accepted"
    return {
        "format_version": 1,
        "command": "retry",
        "profile": profile,
        "commit": commit,
        "result": verdict,
        "exit_code": 0 if outcome.all_accepted else 1,
        "rollout": outcomes.outcome_json(outcome),
    }


@click.command("retry", short_help="Push a profile again to its Declined and Mismatch members.")
@click.argument("profile")
@click.option(
    "--repo",
    "repo",
    default=".",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="RECONCILER_REPO",
    help="Config repository (for rollout policies and the catalog).",
)
@common.headend_option
@common.state_option
@outcomes.format_option
@outcomes.quiet_option
def command(
    profile: str,
    repo: Path,
    headend: str,
    state_path: common.StateLocationValue,
    output_format: str,
    quiet: bool,
) -> None:
    """Push PROFILE's configuration again to its Declined and Mismatch members."""
    as_json = output_format == "json"
    console = Console(highlight=False, stderr=as_json)
    try:
        outcome, commit = asyncio.run(
            run_retry(profile, repo, headend, state_path, console, quiet=quiet)
        )
    except NothingToRetry as exc:
        common.fail(str(exc))
    except errors.HeadendError as exc:
        common.fail(f"head-end: {exc}")
    except errors.StoreError as exc:
        if not common.is_url(state_path):
            raise
        common.fail(str(exc))  # a database away, the lease lost: one line
    if as_json:
        click.echo(json.dumps(document(profile, outcome, commit), indent=2, ensure_ascii=False))
    else:
        outcomes.print_outcome(console, outcome, f"Retry Upload: {profile}")
    sys.exit(0 if outcome.all_accepted else 1)
