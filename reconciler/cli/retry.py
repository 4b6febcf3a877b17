"""``reconciler retry PROFILE``: Retry Upload for the profile's Declined and Mismatch members.

Thin over :func:`reconciler.engine.cycle.retry_once`.  Refused (exit 1) when
no member may be retried (the rule of :mod:`reconciler.members.retrying`).
Exit 0 when every retried gateway reached Accepted, 1 otherwise.
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
from reconciler.engine.rollouts import NothingToRetry, Outcome
from reconciler.loading.secrets import SecretResolver


async def run_retry(
    profile: str, repo_path: Path, headend: str, state_path: Path, console: Console
) -> Outcome:
    """Load the current commit (policies, catalog), open the store and the head-end, retry."""
    source, commit = common.repo_source(repo_path)
    repo = common.load_valid(source, f"commit {commit[:12]}" if commit else str(repo_path))
    store = common.open_store(state_path)
    try:
        async with HttpDriver(HeadendSettings.from_env(base_url=headend)) as driver:
            with common.Progress(console) as progress:
                return await cycle.retry_once(
                    profile=profile,
                    repo=repo,
                    commit=commit,
                    driver=driver,
                    store=store,
                    resolve_secret=SecretResolver(),
                    on_progress=progress,
                )
    finally:
        store.close()


@click.command("retry")
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
def command(profile: str, repo: Path, headend: str, state_path: Path) -> None:
    """Push PROFILE's configuration again to its Declined and Mismatch members."""
    console = Console(highlight=False)
    try:
        outcome = asyncio.run(run_retry(profile, repo, headend, state_path, console))
    except NothingToRetry as exc:
        common.fail(str(exc))
    except errors.HeadendError as exc:
        common.fail(f"head-end: {exc}")
    common.print_outcome(console, outcome, f"Retry Upload: {profile}")
    sys.exit(0 if outcome.all_accepted else 1)
