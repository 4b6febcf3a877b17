"""``reconciler schema``: print the JSON Schema of config files for editors and tools."""

from __future__ import annotations

import json
from pathlib import Path

import click

from reconciler.loading import catalogs
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.model import schemas


@click.command("schema", short_help="Print the JSON Schema of profile and gateway files.")
@click.option(
    "--kind",
    type=click.Choice(["all", "profile", "gateways"]),
    default="all",
    show_default=True,
    help="all: one schema that tells the kinds apart by the 'gateways' key.",
)
@click.option(
    "--repo",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Include the keys of this config repository's catalog.d.",
)
def command(kind: str, repo: Path | None) -> None:
    """Print the JSON Schema of profile and gateway files, with every catalog key."""
    catalog = (
        load_repo(DirectorySource(repo)).catalog if repo is not None else catalogs.shipped_catalog()
    )
    builders = {
        "all": schemas.combined_schema,
        "profile": schemas.profile_schema,
        "gateways": schemas.gateways_schema,
    }
    click.echo(json.dumps(builders[kind](catalog), indent=2, ensure_ascii=False))
